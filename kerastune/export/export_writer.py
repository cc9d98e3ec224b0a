"""The one writer of every kerastune export: a versioned, atomic SavedModel with JSON beside it."""

import json
import os

from kerastune.export.versioned_directory import atomic_version_directory, next_version


def check_export_name(name):
    """Raises unless `name` is a plain directory name (TF Serving's model name)."""
    if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
        raise ValueError(
            f"The export name must be a plain directory name like 'sst2_minilm'. Received: name={name!r}"
        )


def write_export(archive, export_dir, name, version=None, files=None, text_files=None):
    """Writes `archive` to `export_dir/name/<version>/` atomically, JSON sidecar files beside it.

    The version directory is written under a hidden temporary name and renamed into place, so TF
    Serving (which loads any integer-named directory) never sees a half-written version, and a
    failure (or a kill) while writing leaves the earlier versions whole. An existing version is
    never overwritten.

    Args:
        archive: a `keras.export.ExportArchive` with its endpoints added.
        export_dir: str, the export root (TF Serving's model base path is `export_dir/name`).
        name: str, the model name.
        version: positive int, or None for the next free version.
        files: dict `{relative path: JSON-serializable value}` written beside `saved_model.pb`
            (`"assets.extra/config.json"` makes the sub-folder); None values are skipped.
        text_files: dict `{relative path: str}` written as plain UTF-8 text (e.g. a `vocab.txt`).

    Returns:
        The path of the written version directory.

    Example:

    >>> archive = keras.export.ExportArchive()  # doctest: +SKIP
    >>> archive.track(model); archive.add_endpoint("serving_default", serve)  # doctest: +SKIP
    >>> write_export(archive, "saved_models", "demo", files={"config.json": {"seed": 0}})  # doctest: +SKIP
    'saved_models/demo/1'
    """
    check_export_name(name)
    model_dir = os.path.join(str(export_dir), name)
    version = next_version(model_dir) if version is None else version
    with atomic_version_directory(model_dir, version) as tmp:
        archive.write_out(tmp, verbose=False)
        for relative, content in (files or {}).items():
            if content is None:
                continue
            path = os.path.join(tmp, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                json.dump(content, f, indent=2, ensure_ascii=False, default=str)
        for relative, content in (text_files or {}).items():
            path = os.path.join(tmp, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(content)
    return os.path.join(model_dir, str(version))
