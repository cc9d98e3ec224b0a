"""`benchmarks/sequence_to_sequence.py` end to end at a tiny size, on SST-2-format files written here."""

import json
import os
import sys

import numpy as np
import pytest

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.insert(0, os.path.abspath(BENCHMARKS))

import sequence_to_sequence  # noqa: E402

WORDS = "the film is a good bad long short funny dull story acting".split()


def write_sst2(folder, n, seed):
    rng = np.random.default_rng(seed)
    rows = [" ".join(rng.choice(WORDS, rng.integers(2, 8))) for _ in range(n)]
    folder.mkdir(exist_ok=True)
    for name, texts in (("train.tsv", rows), ("dev.tsv", rows[: n // 4])):
        (folder / name).write_text("sentence\tlabel\n" + "".join(f"{t}\t1\n" for t in texts), encoding="utf-8")
    return rows


def test_scores_the_corrections_against_copying_and_checks_the_export(tmp_path, capsys):
    from kerastune.evaluation.character_typos import character_typos
    from kerastune.evaluation.text_to_text_report import text_to_text_report

    write_sst2(tmp_path / "sst2", 400, seed=0)
    results = sequence_to_sequence.main(["--data-dir", str(tmp_path / "sst2"), "--train-examples", "256",
                                         "--epochs", "1", "--num-layers", "1", "--hidden-dim", "32",
                                         "--batch-size", "32", "--max-characters", "48", "--export-checked", "8"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == results
    args = sequence_to_sequence.parse_args(["--data-dir", str(tmp_path / "sst2"), "--max-characters", "48"])
    dev = sequence_to_sequence.clean_texts(sequence_to_sequence.read_texts(str(tmp_path / "sst2" / "dev.tsv")), args)
    copy = text_to_text_report(character_typos(dev, rate=0.15, seed=1), dev)  # the validation typos' seed: seed + 1
    assert results["num_validation_pairs"] == len(dev) and results["copy_character_error_rate"] == round(
        copy["character_error_rate"], 4)
    assert results["export_equals_generate"] is True and results["num_train_pairs"] <= 256
    for key in ("exact_match", "character_error_rate", "word_error_rate", "bleu", "clean_exact_match"):
        assert results[key] >= 0.0
    assert results["steps"] > 0 and results["cpu"]


def test_only_texts_of_enough_words_and_few_enough_characters_are_kept():
    args = sequence_to_sequence.parse_args(["--min-words", "3", "--max-characters", "12"])
    kept = sequence_to_sequence.clean_texts(["a b", "a b c", "a b c", "aaaa bbbb cccc"], args)
    assert kept == ["a b c"]  # too few words, a duplicate, too long
    with pytest.raises(SystemExit):
        sequence_to_sequence.parse_args(["--tokenizer", "bytes"])
