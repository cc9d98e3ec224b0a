import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the WordPiece ops of the serving graph)

from kerastune.data.labelled_text import LabelledTextError
from kerastune.data.sentence_pairs import read_sentence_pairs
from kerastune.evaluation.retrieval_report import retrieval_report
from kerastune.recipes.sentence_encoder import sentence_encoder

TOPICS = [[f"t{topic}w{i}" for i in range(6)] for topic in range(4)]  # each topic's own words
FILLER = ["the", "a", "of", "news", "said", "new"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + FILLER + sum(TOPICS, [])


def topic_text(rng, topic):
    words = list(rng.choice(TOPICS[topic], 2)) + list(rng.choice(FILLER, rng.integers(3, 7)))
    rng.shuffle(words)
    return " ".join(words)


def write_topics(path, n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    path.write_text("text\tlabel\n" + "".join(f"{topic_text(rng, t)}\t{t}\n" for t in labels))
    return str(path)


def write_pairs(path, n, seed):
    rng = np.random.default_rng(seed)
    rows = ["query\tpositive\tnegative"]
    for t in rng.integers(0, 4, n):
        rows.append(f"{topic_text(rng, t)}\t{topic_text(rng, t)}\t{topic_text(rng, (t + 1) % 4)}")
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    directory = tmp_path_factory.mktemp("topics")
    (directory / "vocab.txt").write_text("\n".join(VOCAB))
    return dict(directory=directory, backbone="kerastune_bert", vocabulary=str(directory / "vocab.txt"),
                num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=16,
                batch_size=16, learning_rate=3e-3, dropout=0.0, ema_momentum=0.0, seed=0)


def settings(task):
    return {k: v for k, v in task.items() if k != "directory"}


def test_topics_become_searchable_and_the_export_embeds_as_encode(task, tmp_path):
    d = task["directory"]
    run = sentence_encoder(train=write_topics(d / "train.tsv", 256, 0), validation=write_topics(d / "dev.tsv", 96, 1),
                           epochs=4, **settings(task))
    before = run.evaluate()
    history = run.fit(verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] and "val_loss" in history.history
    after = run.evaluate()
    assert after["num_queries"] == 96 and after["queries_without_relevant"] == 0
    assert after["mean_average_precision"] > max(0.8, before["mean_average_precision"] + 0.3), (before, after)
    texts = [t for t in open(d / "dev.tsv").read().splitlines()[1:]]
    texts = [line.split("\t")[0] for line in texts]
    embeddings = run.encode(texts)
    labels = [int(line.split("\t")[1]) for line in open(d / "dev.tsv").read().splitlines()[1:]]
    assert retrieval_report(embeddings, embeddings, labels, labels, k=[1, 10], exclude_self=True) == after
    path = run.export(export_dir=str(tmp_path), report=after)
    served = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(texts[:10]))
    np.testing.assert_allclose(served["embeddings"].numpy(), embeddings[:10], rtol=1e-4, atol=1e-5)
    assert json.load(open(os.path.join(path, "evaluation.json")))["mrr"] == after["mrr"]
    assert json.load(open(os.path.join(path, "config.json")))["pooling"] == "mean"


def test_pairs_with_hard_negatives_train_and_are_scored_by_their_own_positive(task):
    d = task["directory"]
    run = sentence_encoder(train=write_pairs(d / "pairs.tsv", 128, 2),
                           validation=write_pairs(d / "dev_pairs.tsv", 32, 3), epochs=1, **settings(task))
    batch = next(iter(run.train_data.dataset))
    assert set(batch) == {"anchor", "positive", "negative", "group"}
    run.fit(verbose=0)
    report = run.evaluate()
    pairs = read_sentence_pairs(d / "dev_pairs.tsv")
    queries, documents = run.encode(pairs.anchors), run.encode(pairs.positives + pairs.negatives)
    ids = np.arange(32)
    assert len(set(pairs.positives + pairs.negatives)) == 64  # distinct texts: the search's documents are the 64
    assert report == retrieval_report(queries, documents, ids, np.concatenate([ids, -1 - ids]), k=[1, 10])


def test_bad_settings_and_files_fail_before_training(task, tmp_path):
    d = task["directory"]
    train = write_topics(d / "train2.tsv", 32, 4)
    with pytest.raises(ValueError, match="sentence_encoder trains with the in-batch contrastive.*adversarial='fgm'"):
        sentence_encoder(train=train, adversarial="fgm", **settings(task))
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        sentence_encoder(train=train, top_k=0, **settings(task))
    (tmp_path / "one.tsv").write_text("text\tlabel\na t0w1\t0\nb t1w1\t1\n")
    with pytest.raises(LabelledTextError, match="no label has two texts"):
        sentence_encoder(train=str(tmp_path / "one.tsv"), **settings(task))
    (tmp_path / "pairs.tsv").write_text("query\tpositive\nt0w1\t\n")
    with pytest.raises(LabelledTextError, match="pairs.tsv, line 2, column 'positive'"):
        sentence_encoder(train=str(tmp_path / "pairs.tsv"), **settings(task))
    with pytest.raises(ValueError, match="pooling must be one of"):
        sentence_encoder(train=str(tmp_path / "absent.tsv"), pooling="max", **settings(task))  # before any file
    with pytest.raises(ValueError, match="scale must be a positive number"):
        sentence_encoder(train=str(tmp_path / "absent.tsv"), scale=-1.0, **settings(task))
    (tmp_path / "rte.tsv").write_text("sentence1\tsentence2\tlabel\nt0w1 t0w2\tt0w3\tnot_entailment\n")
    with pytest.raises(ValueError, match="rte.tsv holds pairs and a 'label' column: every row is trained as a match"):
        sentence_encoder(train=str(tmp_path / "rte.tsv"), **settings(task))
    with pytest.raises(ValueError, match="There is no validation data to evaluate"):
        sentence_encoder(train=train, **settings(task)).evaluate()


def test_hyperparameter_search_scores_trials_by_mean_average_precision(task, tmp_path):
    from kerastune.recipes.hyperparameter_search import hyperparameter_search
    from kerastune.recipes.sentence_encoder import SentenceEncoderConfig

    d = task["directory"]
    config = SentenceEncoderConfig(train=write_topics(d / "train3.tsv", 64, 5), validation=write_topics(d / "dev3.tsv",
                                   32, 6), epochs=1, run_eagerly=True, **settings(task))
    result = hyperparameter_search("sentence_encoder", config, {"scale": [5.0, 20.0]}, max_trials=2,
                                   directory=str(tmp_path / "search"))
    assert result.objective == "val_mean_average_precision"
    scores = [t["val_mean_average_precision"] for t in result.trials]
    assert len(scores) == 2 and result.best_score == max(scores)
    assert result.best_score == result.best_run.evaluate()["mean_average_precision"]


def test_pair_search_counts_a_repeated_passage_once_and_ranks_by_the_encoder(task, tmp_path, monkeypatch):
    """Three questions, two answered by the same passage: the search runs over the three distinct texts."""
    d = task["directory"]
    run = sentence_encoder(train=write_pairs(d / "pairs4.tsv", 32, 7), **settings(task))
    (tmp_path / "qa.tsv").write_text("query\tpositive\tnegative\nq1\tp1\tn1\nq2\tp1\tn1\nq3\tp2\tp1\n")
    # hand-made embeddings: q1 is nearest p1, q2 nearest n1 then p1, q3 nearest p1 then p2
    vectors = {"q1": [1, 0, 0], "q2": [0, 1, 0.1], "q3": [0.6, 0, 0.5], "p1": [1, 0.2, 0], "p2": [0, 0, 1],
               "n1": [0, 1, 0]}
    monkeypatch.setattr(run, "encode", lambda texts: np.array([vectors[t] for t in texts], "float32"))
    report = run.evaluate(read_sentence_pairs(tmp_path / "qa.tsv"))
    assert report["num_documents"] == 3  # p1, n1, p2
    # q1: p1 first (rank 1); q2: n1 then p1 (rank 2); q3 (answered by p2): p1 (cos .75) then p2 (cos .64) (rank 2)
    assert report["precision_at_1"] == pytest.approx(1 / 3)
    assert report["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 2) / 3)
    assert report["hit_rate_at_10"] == 1.0


def test_first_step_under_mirrored_strategy_equals_one_device(task):
    # conftest.py splits the CPU into two logical devices: "mirrored" has two replicas, each gathering the other's
    # candidates, so the losses are the whole batch's
    train = write_topics(task["directory"] / "train5.tsv", 64, 8)
    losses = {}
    for name in ("default", "mirrored"):
        run = sentence_encoder(train=train, strategy=name, **settings(task))
        assert run.strategy.num_replicas_in_sync == (2 if name == "mirrored" else 1)
        history = run.model.fit(run.train_data.dataset, epochs=1, steps_per_epoch=1, verbose=0)
        losses[name] = history.history["loss"][0]
    # the first step's loss (Adam's first update moves near-zero gradients by their sign, so rounding in the
    # replicas' sum moves later losses by ~0.1%; tests/models/test_in_batch_contrastive.py checks a whole SGD step)
    assert losses["mirrored"] == pytest.approx(losses["default"], rel=1e-5)
