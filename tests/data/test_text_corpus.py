import pytest

from kerastune.data.text_corpus import default_corpus, read_text_corpus, stream_text_corpus
from tests.conftest import shared_path


def test_reads_utf8_exactly(tmp_path):
    path = tmp_path / "corpus.txt"
    text = "First line\r\nZweite Zeile: über 日本\n\n"
    path.write_bytes(text.encode("utf-8"))
    assert read_text_corpus(path) == text
    assert read_text_corpus(str(path)) == text


def test_drops_byte_order_mark(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfhello")
    assert read_text_corpus(path) == "hello"


def test_missing_file_names_path(tmp_path):
    path = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match="nope.txt.*does not exist"):
        read_text_corpus(path)


def test_directory_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="is a directory; pass the path of one text file"):
        read_text_corpus(tmp_path)


@pytest.mark.parametrize("content", [b"", b"  \n\t\n"])
def test_empty_or_whitespace_is_an_error(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"empty.txt.*empty or holds only whitespace \\({len(content)} bytes\\)"):
        read_text_corpus(path)


def test_invalid_utf8_names_offset_line_column_bytes(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("abc\nZweite Zeile: ü!\n".encode("utf-8") + "caf\xe9 noir\n".encode("latin-1"))
    with pytest.raises(ValueError) as info:
        read_text_corpus(path)
    message = str(info.value)
    offset = len("abc\nZweite Zeile: ü!\ncaf".encode("utf-8"))
    assert "latin1.txt" in message
    assert f"byte offset {offset}" in message
    assert "line 3, column 4" in message
    assert "b'\\xe9'" in message
    assert "iconv -f latin1 -t utf-8" in message


def test_invalid_utf8_column_counts_characters(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes("ü日".encode("utf-8") + b"\xff")
    with pytest.raises(ValueError, match="byte offset 5 \\(line 1, column 3\\)"):
        read_text_corpus(path)


def test_default_corpus_is_pydoc_topics_in_key_order():
    from pydoc_data.topics import topics

    text = default_corpus()
    assert 100_000 < len(text) < 2_000_000
    assert text == default_corpus()
    first, second = sorted(topics)[:2]
    assert text.startswith(topics[first].strip("\n"))
    assert text.index(topics[second].strip("\n")) > 0


def test_reads_tiny_shakespeare():
    text = read_text_corpus(shared_path("data", "tinyshakespeare", "input.txt"))
    assert len(text) == 1_115_394
    assert text.startswith("First Citizen:")


@pytest.mark.parametrize("chunk_bytes", [1, 5, 64, None])
def test_streamed_pieces_end_at_line_ends_and_join_to_the_text(tmp_path, chunk_bytes):
    text = "".join(f"línea {i}: 日本語 {'x' * (i % 17)}\r\n" for i in range(50)) + "no line end at the end"
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    pieces = list(stream_text_corpus(path, chunk_bytes=chunk_bytes))
    assert "".join(pieces) == text
    if chunk_bytes == 64:  # lines shorter than 16 chunks: every piece ends at a line end
        assert all(piece.endswith("\n") for piece in pieces[:-1])
        assert len(pieces) > 20 and max(map(len, pieces)) < 200


@pytest.mark.parametrize("chunk_bytes", [1, 5, 64])
def test_a_file_without_line_ends_streams_in_pieces_cut_between_characters(tmp_path, chunk_bytes):
    """text8-style: one 100 MB line. Cut after a space once 16 chunks hold no line end (between two characters
    where the window has no space), never inside a character, and a bad byte deep in the line is still located
    by its line and column."""
    text = "日本語 über alles " * 400
    path = tmp_path / "one_line.txt"
    path.write_bytes(text.encode("utf-8"))
    pieces = list(stream_text_corpus(path, chunk_bytes=chunk_bytes))
    assert "".join(pieces) == text and len(pieces) > 1
    assert max(len(piece.encode("utf-8")) for piece in pieces) <= 16 * chunk_bytes + 4
    if chunk_bytes == 64:  # windows of 1,024 bytes always hold a space
        assert all(piece.endswith(" ") for piece in pieces[:-1])
    path.write_bytes(("日本語" * 500).encode("utf-8"))  # no space at all
    assert "".join(stream_text_corpus(path, chunk_bytes=chunk_bytes)) == "日本語" * 500
    path.write_bytes(("日" * 100).encode("utf-8") + b"\xff" + b"abc" * 50)
    with pytest.raises(ValueError, match="byte offset 300 \\(line 1, column 101\\)"):
        list(stream_text_corpus(path, chunk_bytes=chunk_bytes))


def test_a_bad_byte_deep_in_the_stream_is_located_in_the_whole_file(tmp_path):
    good = "".join(f"line {i} über\n" for i in range(300)).encode("utf-8")
    path = tmp_path / "late.txt"
    path.write_bytes(good + "x = caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=f"byte offset {len(good) + 7} \\(line 301, column 8\\)"):
        for _ in stream_text_corpus(path, chunk_bytes=128):
            pass
    with pytest.raises(ValueError, match="chunk_bytes must be a positive integer or None; received 0"):
        list(stream_text_corpus(path, chunk_bytes=0))
