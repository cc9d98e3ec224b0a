"""Written whole or not at all: `saved_models/<name>/<version>/` (`atomic_version_directory`) and single
files (`atomic_file`), each written under a temporary name beside its place and renamed into it."""

import contextlib
import os
import shutil
import tempfile
import uuid
import warnings


def _versions(model_dir):
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(n) for n in os.listdir(model_dir) if n.isdigit())


def next_version(model_dir):
    """Returns 1 + the highest integer version under `model_dir` (1 when there is none)."""
    versions = _versions(model_dir)
    return versions[-1] + 1 if versions else 1


@contextlib.contextmanager
def atomic_version_directory(model_dir, version=None):
    """Yields a temporary directory that becomes `model_dir/<version>` only when the block succeeds.

    TF Serving loads any integer-named directory it sees, so a version must never appear
    half-written: everything is written into a hidden sibling directory and renamed into place
    (an atomic `rename` on one file system). On error the temporary directory is removed and no
    version appears. An existing version is never overwritten.

    Args:
        model_dir: str, e.g. `"saved_models/gpt"`.
        version: positive int, or None for the next free version.

    Example:

    >>> with atomic_version_directory("/tmp/demo_models/x") as path:  # doctest: +SKIP
    ...     tf.saved_model.save(module, path)
    """
    if version is None:
        version = next_version(model_dir)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive integer (TF Serving's layout); received {version!r}")
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(
            f"export version {final!r} already exists; versions are never overwritten. Pass "
            f"version={next_version(model_dir)} (the next free one) or version=None, or remove it first."
        )
    with atomic_directory(final, prefix=f".tmp-{version}-") as tmp:
        yield tmp


@contextlib.contextmanager
def atomic_directory(path, prefix=None):
    """Yields a temporary directory beside `path` that becomes `path` only when the block succeeds.

    Everything is written into a hidden sibling, flushed to disk, and renamed into place (atomic on one
    file system), so a crash or an error never leaves a half-written `path`; on error the sibling is
    removed. An existing `path` is never replaced: that is a `FileExistsError`, before or after writing.
    Siblings left by a writer that was killed (they cannot remove themselves) are named in a warning.

    Example:

    >>> with atomic_directory("/tmp/demo/tokens") as temporary:  # doctest: +SKIP
    ...     write_everything_into(temporary)
    """
    if os.path.exists(path):
        raise FileExistsError(f"{path!r} already exists and is never overwritten; remove it or pick another path")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    prefix = prefix or f".{os.path.basename(os.path.abspath(path))}-"
    stale = sorted(name for name in os.listdir(parent)  # this path's temporaries only: prefix + 12 hex digits
                   if name.startswith(prefix) and len(name) == len(prefix) + 12)
    if stale:
        warnings.warn(f"{parent!r} holds {stale}, left by an earlier write to {path!r} that was killed; remove them "
                      "to free the space", stacklevel=3)
    tmp = os.path.join(parent, prefix + uuid.uuid4().hex[:12])
    os.mkdir(tmp)  # mode 0o777 less the umask, as any directory the user creates
    try:
        yield tmp
        _flush_to_disk(tmp)
        if os.path.exists(path):  # another writer won the race while we were writing
            raise FileExistsError(f"{path!r} appeared while writing; nothing was overwritten")
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        _fsync(parent)  # the rename itself, on disk
    except OSError:  # some file systems cannot fsync a directory; the files themselves are
        pass


def _flush_to_disk(directory):
    """fsyncs every file and folder under `directory`, so that a power loss after the rename finds them whole."""
    for root, folders, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            if os.path.isfile(path) and not os.path.islink(path):  # a link or a pipe has no data of its own
                _fsync(path)
        _fsync(root)


def _fsync(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_file(path, suffix=".tmp"):
    """Yields a temporary path beside `path` to write; it becomes `path` only when the block succeeds.

    A crash or an error while writing never leaves half a file at `path` (an existing one stays as it
    was); the temporary file is removed either way. `suffix` is the temporary name's ending, for writers
    that check it (Keras's `model.save` wants `.keras`).

    Example:

    >>> with atomic_file("/tmp/demo/gpt.keras", suffix=".keras") as temporary:  # doctest: +SKIP
    ...     model.save(temporary)
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}-", suffix=suffix)
    os.close(handle)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
