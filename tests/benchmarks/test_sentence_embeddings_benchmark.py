"""`benchmarks/sentence_embeddings.py` end to end at a tiny size: a tiny backbone on AG-News-format topic rows."""

import json
import os
import sys

import numpy as np

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.insert(0, os.path.abspath(BENCHMARKS))

import sentence_embeddings  # noqa: E402

TOPICS = ["world", "sports", "business", "science"]


def write_topics(path, n, seed):
    rng = np.random.default_rng(seed)
    rows = ["text\tlabel\tlabel_name"]
    for label in rng.integers(0, 4, n):
        words = [TOPICS[label]] * 2 + list(rng.choice(["the", "a", "news", "of"], 4))
        rng.shuffle(words)
        rows.append(f"{' '.join(words)}\t{label}\t{TOPICS[label]}")
    path.write_text("\n".join(rows) + "\n")


def test_scores_every_encoder_and_checks_the_export(tmp_path, capsys):
    from kerastune.models.backbone_directory import save_backbone_directory
    from kerastune.models.backbones import load_backbone

    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "news",
                                                   "of"] + TOPICS))
    encoder, tokenizer = load_backbone("kerastune_bert", vocabulary=str(tmp_path / "vocab.txt"), num_layers=1,
                                       num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=16)
    backbone = save_backbone_directory(encoder, tokenizer, str(tmp_path / "backbone"))
    (tmp_path / "agnews").mkdir()
    write_topics(tmp_path / "agnews" / "train_subset.tsv", 64, 0)
    write_topics(tmp_path / "agnews" / "test.tsv", 24, 1)
    sentence_embeddings.main(["--data-dir", str(tmp_path / "agnews"), "--backbone", backbone, "--train-examples", "32",
                              "--test-examples", "20", "--batch-size", "8", "--max-sequence-length", "16"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["train_examples"] == 32 and result["test_examples"] == 20 and result["steps"] == 4
    for arm in ("tfidf", "pretrained", "tuned"):
        for key in ("precision_at_1", "precision_at_10", "mrr", "mean_average_precision"):
            assert 0 < result[f"{key}_{arm}"] <= 1, (key, arm)
    assert result["precision_at_1_tfidf"] == 1.0  # each article's topic word is its only rare word
    assert result["export_max_abs_difference"] < 1e-4
    assert result["max_abs_difference_vs_transformers"] is None  # not a Hugging Face directory
