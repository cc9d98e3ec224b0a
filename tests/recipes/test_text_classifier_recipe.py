import json
import os

import keras
import numpy as np
import pytest

from kerastune.data.labelled_text import LabelledTextError
from kerastune.recipes.text_classifier import TextClassifierConfig, text_classifier
from kerastune.recipes.training_setup import peak_learning_rate
from kerastune.training import ema_momentum_for
from tests.conftest import shared_path

WORDS = ["good", "bad", "film", "plot", "the", "was", "very", "acting", "music", "long"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS


def write_task(directory, n, seed):
    rng = np.random.default_rng(seed)
    rows = ["text\tlabel"]
    for _ in range(n):
        label = rng.choice(["negative", "positive"])
        words = list(rng.choice(WORDS[2:], rng.integers(2, 12))) + ["good" if label == "positive" else "bad"]
        rng.shuffle(words)
        rows.append(f"{' '.join(words)}\t{label}")
    path = directory / f"data{seed}.tsv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    directory = tmp_path_factory.mktemp("text_task")
    (directory / "vocab.txt").write_text("\n".join(VOCAB))
    return dict(
        backbone="kerastune_bert", train=write_task(directory, 256, 0), validation=write_task(directory, 64, 1),
        vocabulary=str(directory / "vocab.txt"), num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=32, batch_size=16, epochs=4, learning_rate=1e-2, warmup_ratio=0.1, dropout=0.0,
        jit_compile=False,
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
    assert path == str(tmp_path / "saved_models" / "text_classifier" / "1")
    assert json.load(open(os.path.join(path, "config.json")))["backbone"] == "kerastune_bert"
    assert json.load(open(os.path.join(path, "evaluation.json")))["accuracy"] == report["accuracy"]
    assert json.load(open(os.path.join(path, "label_names.json"))) == ["negative", "positive"]


def test_bad_input_fails_before_training(tmp_path, task):
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\ngood film\tpositive\nbad film\tneutral\n")
    with pytest.raises(LabelledTextError, match=r"bad.tsv, line 3, column 'label': label 'neutral' is outside"):
        text_classifier(**{**task, "validation": str(bad)})
    one_class = tmp_path / "one_class.tsv"
    one_class.write_text("text\tlabel\ngood film\tpositive\nfine film\tpositive\n")
    with pytest.raises(LabelledTextError, match=r"one_class.tsv, column 'label': the training examples have 1 class "
                                                r"\(\['positive'\]\); a classifier needs at least two"):
        text_classifier(**{**task, "train": str(one_class), "validation": None})
    with pytest.raises(ValueError, match="Unknown argument 'learning_rat'.*known keys: .*learning_rate"):
        text_classifier(**{**task, "learning_rat": 1e-3})
    with pytest.raises(ValueError, match="argument 'epochs' must be an int. Received: epochs='two'"):
        text_classifier(**{**task, "epochs": "two"})
    with pytest.raises(ValueError, match="max_sequence_length <= 32"):
        text_classifier(**{**task, "backbone": _tiny_directory(tmp_path, task), "max_sequence_length": 64})


def _tiny_directory(tmp_path, task):
    from kerastune.models.backbone_directory import save_backbone_directory
    from kerastune.models.backbones import load_backbone

    encoder, tokenizer = load_backbone("kerastune_bert", vocabulary=task["vocabulary"], num_layers=1, num_heads=2,
                                       hidden_dim=16, intermediate_dim=32, max_sequence_length=32)
    return save_backbone_directory(encoder, tokenizer, str(tmp_path / "backbone"))


def test_defaults_are_the_best_measured_configuration():
    config = TextClassifierConfig(backbone="any", train="train.tsv")
    assert (config.pooling, peak_learning_rate(config), config.ema_momentum, config.epochs) == ("mean", 1e-4, 0.999, 2)
    assert config.layerwise_lr_decay is None and config.freeze_token_embedding is None  # decided by the backbone


def test_pretrained_backbone_gets_decay_freezing_and_the_run_length_average(tmp_path, task):
    """A pretrained backbone (a saved directory) with no tuning argument: 0.85 layer-wise decay, the
    word-piece table frozen, and the 0.999 weight average capped to the run's length."""
    run = text_classifier(_tiny_directory(tmp_path, task), task["train"], jit_compile=False, epochs=1)
    optimizer = run.model.optimizer
    updates = run.train_data.steps_per_epoch
    assert optimizer.use_ema and optimizer.ema_momentum == pytest.approx(ema_momentum_for(0.999, updates))
    assert optimizer.ema_momentum < 0.999  # 16 updates: a 1,000-update horizon would be all initial weights
    multipliers = optimizer.learning_rate_multipliers
    assert multipliers["transformer_layer_0/self_attention/query/kernel"] == pytest.approx(0.85)
    assert multipliers["logits/kernel"] == 1.0
    table = run.model.backbone.token_embedding.embeddings
    assert all(v.path != table.path for v in run.model.trainable_variables)
    own = text_classifier(**{**task, "epochs": 1})  # random init: nothing frozen, no decay
    assert not own.model.optimizer.learning_rate_multipliers  # no layer-wise decay
    assert any(v.path == own.model.backbone.token_embedding.embeddings.path for v in own.model.trainable_variables)


def test_average_freezing_and_layerwise_decay_in_one_fit(task):
    run = text_classifier(**{**task, "epochs": 1, "ema_momentum": 0.9, "freeze_token_embedding": True,
                             "layerwise_lr_decay": 0.8})
    optimizer = run.model.optimizer
    updates = run.train_data.steps_per_epoch
    assert optimizer.use_ema and optimizer.ema_momentum == pytest.approx(1 - 4 / updates)  # horizon: a quarter
    multipliers = optimizer.learning_rate_multipliers
    assert multipliers["transformer_layer_0/self_attention/query/kernel"] == pytest.approx(0.8)
    assert "token_embedding/embeddings" not in multipliers  # frozen: not trained at all
    assert multipliers["position_embedding/embeddings"] == pytest.approx(0.8 ** 2)  # 1 layer: embeddings 2 below
    table = run.model.backbone.token_embedding.embeddings
    before = {v.path: np.asarray(v) for v in run.model.variables}
    at_epoch_end = {}

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            at_epoch_end.update({v.path: np.asarray(v) for v in run.model.trainable_variables})
            at_epoch_end["ema"] = [np.asarray(a) for a in optimizer._model_variables_moving_average]

    history = run.fit(callbacks=[Snapshot()], validate=False, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    for variable, average in zip(run.model.trainable_variables, at_epoch_end["ema"]):
        np.testing.assert_allclose(np.asarray(variable), average, atol=1e-6)  # the average, not the last step
    assert any(not np.allclose(at_epoch_end[v.path], np.asarray(v)) for v in run.model.trainable_variables)
    np.testing.assert_array_equal(np.asarray(table), before[table.path])  # frozen table untouched
    changed = [v.path for v in run.model.trainable_variables if not np.allclose(before[v.path], np.asarray(v))]
    assert len(changed) == len(run.model.trainable_variables)  # every other weight moved


def test_run_eagerly_trains_the_same_weights_as_the_traced_steps(task):
    settings = {**task, "epochs": 1, "max_train_examples": 64, "dropout": 0.1, "validation": None}
    weights = []
    for run_eagerly in (False, True):
        run = text_classifier(**settings, run_eagerly=run_eagerly)
        assert run.model.run_eagerly is run_eagerly and not run.model.jit_compile
        initial = run.model.get_weights()
        run.fit(verbose=0)
        weights.append(run.model.get_weights())
    for traced, eager in zip(*weights):
        np.testing.assert_allclose(eager, traced, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(initial, weights[1]))  # it trained


@pytest.mark.slow
def test_minilm_on_an_sst2_slice():
    run = text_classifier(
        str(shared_path("models", "all-MiniLM-L6-v2")), str(shared_path("data", "sst2", "train.tsv")),
        str(shared_path("data", "sst2", "dev.tsv")), max_train_examples=4000, epochs=1,
    )
    run.fit(validate=False, verbose=0)
    assert run.evaluate()["accuracy"] > 0.8
