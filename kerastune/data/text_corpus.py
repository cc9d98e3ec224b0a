"""Read a plain-text corpus for character or subword language modelling, with errors that say how to fix it."""

import functools
import os

import tensorflow as tf

_LONG_LINE = 16  # a piece with no line end in this many chunks is cut between two characters


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
    return "".join(stream_text_corpus(path, chunk_bytes=None))


def stream_text_corpus(path, chunk_bytes=1 << 20):
    """Yields the text of a UTF-8 file in pieces of about `chunk_bytes`, never holding the whole file.

    The pieces joined are `read_text_corpus(path)` exactly, and every error is the same (a bad byte
    is reported by its offset in the whole file). A piece ends at a line end; a line longer than
    `_LONG_LINE` chunks (a file with no line ends, such as text8) is cut after a space instead, or
    between two characters where it has none. `chunk_bytes=None` reads the file in one piece.

    Args:
        path: str or `os.PathLike` (local or `tf.io.gfile` URL).
        chunk_bytes: positive int, roughly the bytes per piece, or None.

    Example:

    >>> pieces = list(stream_text_corpus("input.txt", chunk_bytes=4096))  # doctest: +SKIP
    """
    path = os.fspath(path)
    if chunk_bytes is not None and (isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int)
                                    or chunk_bytes < 1):
        raise ValueError(f"chunk_bytes must be a positive integer or None; received {chunk_bytes!r}")
    check_text_file(path)
    read_size = -1 if chunk_bytes is None else chunk_bytes
    offset, lines, pending, pending_size, has_text = 0, 0, [], 0, False
    column = 0  # characters of the current line in earlier pieces (a long line is cut between characters)
    with tf.io.gfile.GFile(path, "rb") as f:
        while True:
            block = f.read(read_size)
            if block:
                # b"\n" never occurs inside a multi-byte UTF-8 character, so a cut after one splits none
                cut = block.rfind(b"\n") + 1
                if not cut and (chunk_bytes is None or pending_size + len(block) < _LONG_LINE * chunk_bytes):
                    pending.append(block)  # no line end yet: read on (the blocks are joined once)
                    pending_size += len(block)
                    continue
                if not cut:  # a very long line: cut after its last space so far, else before its last character
                    block, pending = b"".join(pending + [block]), []
                    cut = block.rfind(b" ") + 1 or _last_character_start(block)
                pending.append(block[:cut])
            piece = b"".join(pending)
            pending, pending_size = ([block[cut:]], len(block) - cut) if block else ([], 0)
            if offset == 0 and piece.startswith(b"\xef\xbb\xbf"):  # a byte-order mark: not text
                piece, offset = piece[3:], 3
            try:
                text = piece.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(_describe_decode_error(path, piece, error, offset, lines, column)) from None
            offset, lines = offset + len(piece), lines + piece.count(b"\n")
            column = len(text) - text.rfind("\n") - 1 if "\n" in text else column + len(text)
            if text:
                has_text = has_text or bool(text.strip())
                yield text
            if not block:
                break
    if not has_text:
        raise ValueError(
            f"text corpus {path!r} is empty or holds only whitespace ({offset} bytes); "
            "a language model needs text to learn from: check the file was downloaded or written fully"
        )


def check_text_file(path):
    """Raises `read_text_corpus`'s error when `path` is missing or a directory, before anything is read."""
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


def _last_character_start(data):
    """The index of the last byte of `data` that starts a UTF-8 character (a character is at most 4 bytes)."""
    for index in range(len(data) - 1, max(len(data) - 4, 0) - 1, -1):
        if data[index] & 0xC0 != 0x80:  # not a continuation byte
            return index
    return len(data)  # no start in the last 4 bytes: invalid UTF-8, reported when decoded


def _describe_decode_error(path, piece, error, offset, lines, column):
    """A message naming where the first invalid UTF-8 bytes are (in the whole file: `piece` starts at byte
    `offset`, after `lines` line ends and `column` characters of its first line) and how to re-encode the file."""
    start, end = error.start, error.end
    line_start = piece.rfind(b"\n", 0, start) + 1
    line = lines + piece.count(b"\n", 0, start) + 1
    column = len(piece[line_start:start].decode("utf-8", errors="replace")) + 1 + (0 if line_start else column)
    bad = piece[start:end]
    return (
        f"text corpus {path!r} is not valid UTF-8: bytes {bad!r} at byte offset {offset + start} "
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
