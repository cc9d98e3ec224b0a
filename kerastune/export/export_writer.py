"""The one writer of every kerastune export: a versioned, atomic SavedModel with JSON beside it."""

import json
import os

import tensorflow as tf

from kerastune.export.versioned_directory import atomic_version_directory, next_version


def check_export_name(name):
    """Raises unless `name` is a plain directory name (TF Serving's model name)."""
    if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
        raise ValueError(
            f"The export name must be a plain directory name like 'sst2_minilm'. Received: name={name!r}"
        )


def write_export(archive, export_dir, name, version=None, files=None, text_files=None, endpoints=None):
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
        endpoints: dict `{name: tf.function with an input_signature}` added to `archive` here, in
            order (the first is `serving_default` unless one is named so). Added here rather than by
            the caller, each is traced once, while the SavedModel is written (see `_write_saved_model`).

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
        _write_saved_model(archive, tmp, endpoints or {})
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


def _write_saved_model(archive, path, endpoints):
    """`archive.add_endpoint` for each of `endpoints`, then `archive.write_out(path)`, with each
    endpoint traced once instead of twice.

    `ExportArchive` traces the endpoints when they are added or to find their variables, then
    `tf.saved_model.save` traces them again: a `tf.function` keys its traces on the save context's
    variable policy, which is unset outside a save. Here both run under the policy the save uses, so
    the save reuses those traces (a whole tiny `kerastune run` of a text classifier, 3 endpoints,
    measured 20 s -> 13 s on one core). The same signatures, variables and resources as `write_out`;
    on a Keras/TF without these internals, `add_endpoint` and `write_out` themselves.
    """
    try:
        from tensorflow.python.saved_model import save_context
    except ImportError:
        save_context = None
    steps = ("_filter_and_track_resources", "_get_concrete_fn", "_endpoint_names", "_tf_trackable")
    if save_context is None or save_context.in_save_context() or not all(hasattr(archive, s) for s in steps):
        for name, function in endpoints.items():
            archive.add_endpoint(name, function)
        archive.write_out(path, verbose=False)
        return
    options = tf.saved_model.SaveOptions()
    with save_context.save_context(options):
        for name, function in endpoints.items():
            archive.add_endpoint(name, function)
        if not archive._endpoint_names:
            raise ValueError("No endpoints have been set yet. Call add_endpoint().")
        archive._filter_and_track_resources()  # traces every endpoint, as the save below looks them up
        signatures = {name: archive._get_concrete_fn(name) for name in archive._endpoint_names}
    _save_each_weight_once(archive._tf_trackable)
    if "serving_default" not in signatures:  # TF Serving's default key, as write_out adds it
        signatures["serving_default"] = signatures[archive._endpoint_names[0]]
    tf.saved_model.save(archive._tf_trackable, path, options=options, signatures=signatures)


def _save_each_weight_once(trackable):
    """Keras issue 23553: `ExportArchive` tracks each `keras.Variable` wrapper (`variables`,
    `trainable_variables`, `non_trainable_variables`) and, apart, the `tf.Variable` inside it that the
    endpoints capture (`_all_variables`); the checkpoint de-duplicates objects, not buffers, so every
    weight was written twice (MiniLM's export: 174 MB of variables for 22.7M float32 weights, 91 MB of
    them) and restored twice by every process that loads it. Tracking the `tf.Variable`s themselves in
    those lists leaves one copy; the loaded `variables` lists name the same weights."""
    for name in ("variables", "trainable_variables", "non_trainable_variables"):
        tracked = getattr(trackable, name, None)
        if tracked is not None:
            setattr(trackable, name, [_tf_variable(v) for v in tracked])


def _tf_variable(variable):
    """The `tf.Variable` a Keras variable (TensorFlow backend) holds, or `variable` itself."""
    inner = getattr(variable, "_value", None)
    return inner if isinstance(inner, tf.Variable) else variable


def tokenizer_resources(layer):
    """TF resources (lookup tables) held directly by a tokenizer layer, which an export must track."""
    tables = (tf.lookup.StaticHashTable, tf.lookup.experimental.MutableHashTable)
    return [value for value in vars(layer).values() if isinstance(value, tables)]


def check_max_new_tokens(max_new_tokens):
    """Raises unless `max_new_tokens` (how many tokens a generating export writes per prompt) is a positive int."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive integer. Received: max_new_tokens={max_new_tokens!r}")


def track_sampler(archive, sampler):
    """Makes `archive` save a KerasHub sampler's variables (a random sampler's seed state), which an endpoint
    that decodes with it captures: a SavedModel refuses to save a function capturing an untracked variable."""
    variables = list(getattr(sampler, "variables", None) or [])
    if variables:
        archive._tf_trackable.sampler_variables = variables


def check_nonempty(lengths, what, purpose):
    """A graph assertion that every row of a string-in request has at least one token (`lengths`,
    one per row): "every {what} needs at least one character/token {purpose}; received an empty {what}"."""
    return tf.debugging.assert_greater(
        tf.reduce_min(tf.concat([lengths, tf.ones([1], lengths.dtype)], 0)), tf.constant(0, lengths.dtype),
        message=f"every {what} needs at least one character/token {purpose}; received an empty {what}",
    )

