"""examples/colab_tpu.ipynb runs every cell on CPU at a tiny size: SST-2 from a TFDS `glue/sst2` prepared offline,
the TPU strategy falling back to the default one, fine-tuning, the string-in export served by TensorFlow."""

import contextlib
import io
import os

import nbformat
import pytest

from tests import tfds_local
from tests.examples.notebooks import EXAMPLES, execute, printed, tagged
from tests.tiny_backbone import write_tiny_backbone


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("colab")
    tfds_local.build_sst2(root / "tfds", root / "downloads")
    return {"backbone": write_tiny_backbone(root / "backbone"), "tfds": str(root / "tfds"),
            "tsv": tfds_local.write_sst2_tsv(root / "SST-2")}


def test_fine_tunes_sst2_from_tfds_under_the_fallback_strategy_and_exports(tiny, tmp_path):
    notebook = execute("colab_tpu.ipynb", {
        "BACKBONE": tiny["backbone"], "STRATEGY": "tpu", "TFDS_DATA_DIR": tiny["tfds"], "TFDS_DOWNLOAD": False,
        "EPOCHS": 1, "BATCH_SIZE": 4, "MAX_SEQUENCE_LENGTH": 16, "JIT_COMPILE": False,
        "EXPORT_DIR": str(tmp_path / "exports"),
    }, tmp_path)
    text = printed(notebook)
    assert "no TPU resolves; on Colab pick a TPU runtime); falling back to the default strategy" in text
    assert f"SST-2 from TFDS: {tiny['tfds']}" in text and "validation accuracy" in text
    assert os.listdir(tmp_path / "exports" / "sst2_tpu") == ["1"]


def run_source_cell(tfds_data_dir, tsv_dir):
    """The notebook's data cell alone, in this process: the branch the run above does not take."""
    notebook = nbformat.read(EXAMPLES / "colab_tpu.ipynb", as_version=4)
    scope = {"os": os, "TFDS_DATA_DIR": str(tfds_data_dir), "TFDS_DOWNLOAD": False, "SST2_TSV_DIR": str(tsv_dir)}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(notebook.cells[tagged(notebook, "sst2-source")].source, scope)  # noqa: S102 (our own notebook's cell)
    return scope["data"], out.getvalue()


def test_without_a_tfds_copy_it_reads_the_sst2_tsv_files(tiny, tmp_path):
    data, text = run_source_cell(tmp_path / "empty_tfds", tiny["tsv"])
    assert data == {"train": str(tiny["tsv"] / "train.tsv"), "validation": str(tiny["tsv"] / "dev.tsv")}
    assert "TFDS has no prepared glue/sst2 under" in text and "reading the SST-2 TSV files" in text
    with pytest.raises(FileNotFoundError, match="set TFDS_DOWNLOAD = True with network access, or SST2_TSV_DIR"):
        run_source_cell(tmp_path / "empty_tfds", tmp_path / "no_tsv")
