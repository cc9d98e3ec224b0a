import json
import os

import keras
import numpy as np
import pytest

from kerastune.data.labelled_text import LabelledTextError
from kerastune.recipes.text_classifier import text_classifier
from tests.conftest import shared_path

WORDS = ["good", "bad", "film", "plot", "the", "was", "very", "acting", "music", "long"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS


def write_task(tmp_path, n, seed):
    rng = np.random.default_rng(seed)
    rows = ["text\tlabel"]
    for _ in range(n):
        label = rng.choice(["negative", "positive"])
        words = list(rng.choice(WORDS[2:], rng.integers(2, 12))) + ["good" if label == "positive" else "bad"]
        rng.shuffle(words)
        rows.append(f"{' '.join(words)}\t{label}")
    path = tmp_path / f"data{seed}.tsv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.fixture
def task(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB))
    return dict(
        backbone="kerastune_bert", train=write_task(tmp_path, 256, 0), validation=write_task(tmp_path, 64, 1),
        vocabulary=str(tmp_path / "vocab.txt"), num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=32, batch_size=16, epochs=4, learning_rate=1e-2, warmup_ratio=0.1, dropout=0.0,
        pooling="mean",
    )


def test_own_encoder_learns_evaluates_and_exports(tmp_path, task):
    run = text_classifier(**task)
    assert run.label_names == ["negative", "positive"]
    assert run.config.pooling == "mean" and run.config.epochs == 4
    history = run.fit(callbacks=[keras.callbacks.EarlyStopping(monitor="loss", patience=2),
                                 keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))], verbose=0)
    assert len(history.history["loss"]) == 4 and "val_accuracy" in history.history
    report = run.evaluate()
    assert report["accuracy"] >= 0.9, report
    assert report["confusion_matrix"] and set(report["per_class"]) == {"negative", "positive"}
    path = run.export(str(tmp_path / "saved_models"), report=report)
    assert json.load(open(os.path.join(path, "config.json")))["backbone"] == "kerastune_bert"
    assert json.load(open(os.path.join(path, "evaluation.json")))["accuracy"] == report["accuracy"]


def test_bad_input_fails_before_training(tmp_path, task):
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\ngood film\tpositive\nbad film\tneutral\n")
    with pytest.raises(LabelledTextError, match=r"bad.tsv, line 3, column 'label': label 'neutral' is outside"):
        text_classifier(**{**task, "validation": str(bad)})
    with pytest.raises(ValueError, match="unknown argument 'learning_rat'.*known keys: .*learning_rate"):
        text_classifier(**{**task, "learning_rat": 1e-3})
    with pytest.raises(ValueError, match="argument 'epochs' must be a int; received 'two'"):
        text_classifier(**{**task, "epochs": "two"})


@pytest.mark.slow
def test_minilm_on_an_sst2_slice():
    run = text_classifier(
        str(shared_path("models", "all-MiniLM-L6-v2")), str(shared_path("data", "sst2", "train.tsv")),
        str(shared_path("data", "sst2", "dev.tsv")), max_train_examples=4000, epochs=1, learning_rate=1e-4,
    )
    run.fit(validate=False, verbose=0)
    assert run.evaluate()["accuracy"] > 0.8


def test_ema_momentum_writes_the_averaged_weights_into_the_model_when_fit_ends(task):
    run = text_classifier(**{**task, "epochs": 1, "ema_momentum": 0.9})
    optimizer = run.model.optimizer
    assert optimizer.use_ema and optimizer.ema_momentum == 0.9
    weights_before_end = {}

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            weights_before_end.update({v.path: np.asarray(v) for v in run.model.trainable_variables})
            weights_before_end["ema"] = [np.asarray(a) for a in optimizer._model_variables_moving_average]

    run.fit(callbacks=[Snapshot()], validate=False, verbose=0)
    for variable, average in zip(run.model.trainable_variables, weights_before_end["ema"]):
        np.testing.assert_allclose(np.asarray(variable), average, atol=1e-6)  # the average, not the last step
    assert any(not np.allclose(weights_before_end[v.path], np.asarray(v)) for v in run.model.trainable_variables)


def test_freeze_token_embedding_keeps_the_table_and_trains_the_rest(task):
    run = text_classifier(**{**task, "epochs": 1, "freeze_token_embedding": True})
    table = run.model.backbone.token_embedding.embeddings
    assert all(v.path != table.path for v in run.model.trainable_variables)
    before = {v.path: np.asarray(v) for v in run.model.variables}
    run.fit(validate=False, verbose=0)
    np.testing.assert_array_equal(np.asarray(table), before[table.path])
    changed = [v.path for v in run.model.trainable_variables if not np.allclose(before[v.path], np.asarray(v))]
    assert len(changed) == len(run.model.trainable_variables)  # every other weight moved


def test_layerwise_lr_decay_scales_the_lower_layers(task):
    run = text_classifier(**{**task, "epochs": 1, "layerwise_lr_decay": 0.8})
    multipliers = run.model.optimizer.learning_rate_multipliers
    assert multipliers["token_embedding/embeddings"] == pytest.approx(0.8 ** 2)  # 1 layer: embeddings 2 below
    assert multipliers["logits/kernel"] == 1.0
    assert np.isfinite(run.fit(validate=False, verbose=0).history["loss"]).all()
