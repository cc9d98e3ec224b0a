"""examples/quickstart.ipynb (the README's tour) runs every cell on CPU at a tiny size, and a raising cell fails."""

import os

import nbformat
import pytest

from tests import tfds_local
from tests.examples.notebooks import execute, printed
from tests.tiny_backbone import write_tiny_backbone

GPT = {"num_layers": 1, "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32, "sequence_length": 16,
       "batch_size": 4, "validation_batches": 1, "max_new_tokens": 4, "run_eagerly": True}
FINE_TUNING = {"epochs": 1, "batch_size": 4, "max_train_examples": 8, "run_eagerly": True,
               "max_sequence_length": 16, "pad_to_multiple_of": 16}


def test_runs_the_readme_tour(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n" * 40, encoding="utf-8")
    tsv = tfds_local.write_sst2_tsv(tmp_path / "SST-2")
    notebook = execute("quickstart.ipynb", {
        "CORPUS": str(corpus), "BACKBONE": write_tiny_backbone(tmp_path / "backbone"),
        "SST2_TRAIN": str(tsv / "train.tsv"), "SST2_DEV": str(tsv / "dev.tsv"),
        "EPOCHS": 1, "STEPS_PER_EPOCH": 2, "MAX_NEW_TOKENS": 4, "GPT_SETTINGS": GPT, "FINE_TUNING_SETTINGS": FINE_TUNING,
        "EXPORT_DIR": str(tmp_path / "exports"), "WORK_DIR": str(tmp_path / "runs"),
    }, tmp_path)
    assert "trainable_percent" in printed(notebook)
    assert sorted(os.listdir(tmp_path / "exports")) == ["gpt", "text_classifier"]
    assert sorted(os.listdir(tmp_path / "exports" / "text_classifier")) == ["1", "2"]  # full fine-tuning, then LoRA
    assert (tmp_path / "runs" / "sst2.lora.safetensors").is_file()


def test_a_cell_that_raises_fails_the_run(tmp_path):
    from nbclient.exceptions import CellExecutionError

    cells = [nbformat.v4.new_code_cell("SIZE = 10", metadata={"tags": ["parameters"]}),
             nbformat.v4.new_code_cell("assert SIZE == 10, f'SIZE is {SIZE}'")]
    with pytest.raises(CellExecutionError, match="SIZE is 1"):
        execute(nbformat.v4.new_notebook(cells=cells), {"SIZE": 1}, tmp_path)
