"""Read a plain-text corpus for character or subword language modelling, with errors that say how to fix it."""

import functools
import os

import tensorflow as tf


def read_text_corpus(path):
    """Returns the whole text of a UTF-8 file (local path or any `tf.io.gfile` URL such as `gs://`).

    The bytes are decoded exactly as stored: line endings are kept and a leading UTF-8 byte-order
    mark is dropped. Every failure names the path and says how to fix it.

    Args:
        path: str or `os.PathLike`, the text file to read.

    Returns:
        The text, a `str`.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the path is a directory, the file is empty or whitespace only, or it is not
            valid UTF-8 (the message gives the byte offset, line, column and offending bytes).

    Example:

    >>> text = read_text_corpus("../shared/data/tinyshakespeare/input.txt")  # doctest: +SKIP
    >>> text[:9]  # doctest: +SKIP
    'First Cit'
    """
    path = os.fspath(path)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"text corpus {path!r} does not exist; pass the path of a UTF-8 text file "
            f"(the current directory is {os.getcwd()!r})"
        )
    if tf.io.gfile.isdir(path):
        raise ValueError(
            f"text corpus {path!r} is a directory; pass the path of one text file inside it "
            "(or concatenate the files into one)"
        )
    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(_describe_decode_error(path, data, error)) from None
    if not text.strip():
        raise ValueError(
            f"text corpus {path!r} is empty or holds only whitespace ({len(data)} bytes); "
            "a language model needs text to learn from: check the file was downloaded or written fully"
        )
    return text


def _describe_decode_error(path, data, error):
    """A message naming where the first invalid UTF-8 bytes are and how to re-encode the file."""
    start, end = error.start, error.end
    if data.startswith(b"\xef\xbb\xbf"):  # "utf-8-sig" offsets count from after the BOM
        start, end = start + 3, end + 3
    line_start = data.rfind(b"\n", 0, start) + 1
    line = data.count(b"\n", 0, start) + 1
    column = len(data[line_start:start].decode("utf-8", errors="replace")) + 1
    bad = data[start:end]
    return (
        f"text corpus {path!r} is not valid UTF-8: bytes {bad!r} at byte offset {start} "
        f"(line {line}, column {column}) ({error.reason}); re-encode the file to UTF-8, e.g. "
        f"`iconv -f latin1 -t utf-8 {path} > corpus.utf8.txt` (replace latin1 with the file's encoding)"
    )


@functools.lru_cache(maxsize=1)
def default_corpus():
    """Returns a built-in English corpus that needs no download: CPython's own documentation topics.

    The text is the `pydoc_data.topics` module that ships with every CPython (the help pages for
    statements, operators and types behind `help("if")`), the topics joined in key order with a
    blank line between them: about 460 KB of text, the same on every run of one Python version.

    Returns:
        The text, a `str`.

    Example:

    >>> text = default_corpus()
    >>> len(text) > 100_000
    True
    """
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key].strip("\n") for key in sorted(topics)) + "\n"
