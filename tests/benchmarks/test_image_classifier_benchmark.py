"""`benchmarks/image_classifier.py` at a tiny size: both models through their recipe files, one seed."""

import json
import os
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.insert(0, os.path.abspath(BENCHMARKS))

import image_classifier  # noqa: E402


def test_reports_each_model_per_seed_and_the_mean(capsys):
    results = image_classifier.main(["--seeds", "0,1", "--set", "epochs=1", "--set", "max_train_examples=128",
                                     "--set", "num_layers=1"])  # a ViT-only setting: the MLP never sees it
    printed = capsys.readouterr().out.strip().splitlines()
    assert json.loads(printed[-1]) == results
    assert [line.split(":")[0] for line in printed[:-1]] == ["mlp seed 0", "mlp seed 1", "vit seed 0", "vit seed 1"]
    for model in ("mlp", "vit"):
        accuracies = results[f"{model}_test_accuracies"]
        assert len(accuracies) == 2 and all(0.0 <= a <= 1.0 for a in accuracies)
        assert results[f"{model}_test_accuracy"] == pytest.approx(sum(accuracies) / 2, abs=1e-4)
    assert results["vit_parameters"] > results["mlp_parameters"] > 0  # the recipe files' models, not a stand-in
    assert results["settings"] == {"epochs": "1", "max_train_examples": "128", "num_layers": "1"} and results["cpu"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--models", "mlp,cnn"], "--models takes names from"),
        (["--seeds", "zero"], "--seeds takes comma-separated ints"),
        (["--set", "epochs"], "--set takes key=value"),
    ],
)
def test_bad_arguments_say_what_was_wrong(argv, message, capsys):
    with pytest.raises(SystemExit):
        image_classifier.main(argv)
    assert message in capsys.readouterr().err
