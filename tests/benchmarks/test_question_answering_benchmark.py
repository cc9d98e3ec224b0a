"""`benchmarks/question_answering.py` end to end at a tiny size: a tiny backbone on CoNLL-format sentences."""

import json
import os
import sys

import numpy as np

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.insert(0, os.path.abspath(BENCHMARKS))

import question_answering  # noqa: E402

PEOPLE, PLACES, FILLER = ["ada", "alan"], ["london", "paris"], ["met", "in", "the", "went", "to"]


def write_conll(path, n, seed):
    rng = np.random.default_rng(seed)
    blocks = []
    for _ in range(n):
        words = [(w, "O") for w in rng.choice(FILLER, 3)]
        if rng.random() < 0.6:
            words.insert(int(rng.integers(0, len(words) + 1)), (str(rng.choice(PEOPLE)).capitalize(), "B-PER"))
        if rng.random() < 0.6:
            words.append((str(rng.choice(PLACES)).capitalize(), "B-LOC"))
        blocks.append("\n".join(f"{w}\t{t}" for w, t in words))
    path.write_text("\n\n".join(blocks) + "\n")


def test_scores_the_reader_against_no_answer_and_checks_the_export(tmp_path, capsys):
    from kerastune.data.entity_questions import DEFAULT_QUESTIONS
    from kerastune.models.backbone_directory import save_backbone_directory
    from kerastune.models.backbones import load_backbone

    question_words = sorted({w.strip("?").lower() for q in DEFAULT_QUESTIONS.values() for w in q.split()})
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "?", ","] + PEOPLE + PLACES + FILLER + question_words
    (tmp_path / "vocab.txt").write_text("\n".join(dict.fromkeys(vocabulary)))
    encoder, tokenizer = load_backbone("kerastune_bert", vocabulary=str(tmp_path / "vocab.txt"), num_layers=1,
                                       num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=256)
    backbone = save_backbone_directory(encoder, tokenizer, str(tmp_path / "backbone"))
    (tmp_path / "conll").mkdir()
    write_conll(tmp_path / "conll" / "train.txt", 40, 0)
    write_conll(tmp_path / "conll" / "valid.txt", 10, 1)
    question_answering.main(["--data-dir", str(tmp_path / "conll"), "--backbone", backbone, "--train-examples",
                             "96", "--validation-examples", "40", "--batch-size", "8", "--ema-momentum", "0"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["train_examples"] == 96 and result["validation_examples"] == 40 and result["windows"] == 96
    # 10 sentences x 4 types; 24 of the 40 questions unanswerable (counted from the file written, seed 1)
    assert result["no_answer_baseline_f1"] == 60.0 and result["best_f1"] >= result["f1"]
    assert set(result["f1_by_type"]) == {"PER", "LOC", "ORG", "MISC"}
    # every sentence is asked once per type: the four types' F1 average to the overall F1
    assert abs(sum(result["f1_by_type"].values()) / 4 - result["f1"]) < 0.01
    assert result["export_answers_equal"] is True and result["export_max_score_difference"] < 1e-4
