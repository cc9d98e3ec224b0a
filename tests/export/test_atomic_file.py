"""`atomic_file`: a file is written whole or not at all."""

import os

import pytest

from kerastune.export.versioned_directory import atomic_file


def test_the_file_appears_only_when_the_write_succeeds(tmp_path):
    path = tmp_path / "sub" / "weights.bin"
    with atomic_file(str(path), suffix=".bin") as temporary:
        assert temporary.endswith(".bin") and os.path.dirname(temporary) == str(path.parent)
        assert not path.exists()  # nothing at the final path while writing
        with open(temporary, "wb") as f:
            f.write(b"new")
    assert path.read_bytes() == b"new" and os.listdir(path.parent) == ["weights.bin"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_file(str(path)) as temporary:
            with open(temporary, "wb") as f:
                f.write(b"ha")  # half a file
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["weights.bin"]
