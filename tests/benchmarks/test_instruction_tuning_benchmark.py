"""`benchmarks/instruction_tuning.py` end to end at a tiny size on a few SST-2-format rows: its arms and JSON line."""

import json
import os
import sys

from tests import tfds_local

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.insert(0, os.path.abspath(BENCHMARKS))

import instruction_tuning  # noqa: E402

TINY = ["--steps", "3", "--pretrain-steps", "3", "--batch-size", "2", "--sequence-length", "96", "--num-layers", "1",
        "--num-heads", "2", "--hidden-dim", "16"]


def test_scores_every_arm_by_its_generated_answers(tmp_path, capsys, monkeypatch):
    # the phrases hold every character of the template ("review: ...\nsentiment: ") and of the answers, as SST-2's
    # do: the pretrained GPT's character vocabulary is learned from them alone
    rows = [(f"{i}: a {'good' if i % 2 else 'bad'} film, a plain review with sentiment", i % 2) for i in range(300)]
    data = tfds_local.write_sst2_tsv(tmp_path / "sst2", train=rows, validation=rows[:6])
    monkeypatch.chdir(tmp_path)  # the recipe's default run_dir lands here, not in the checkout
    arms = ["scratch_response_loss", "pretrained_lora", "pretrained_full"]  # scratch_full_loss: one flag apart
    instruction_tuning.main(["--data-dir", str(data), *TINY, "--arms", *arms])
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["dev_examples"] == 6 and result["majority_baseline"] == 0.5
    for arm in arms:
        assert 0 <= result[f"dev_accuracy_{arm}"] <= result[f"well_formed_{arm}"] <= 1
        assert result[f"ms_per_step_{arm}"] > 0
    assert result["trainable_parameters_pretrained_lora"] < result["trainable_parameters_scratch_response_loss"]
    assert "\n".join(lines).count("pretraining on the phrases: 3 steps") == 1  # one base for both pretrained arms
    assert result["trainable_parameters_pretrained_full"] > result["trainable_parameters_pretrained_lora"]
