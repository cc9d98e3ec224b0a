"""`image_classifier`: the classic Keras MLP on the bundled digits, its test report, its export and
its errors; the default recipe's >= 97% test accuracy is the slow test."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from kerastune.models import VisionTransformer
from kerastune.recipe_files import load_recipe_file
from kerastune.recipes.image_classifier import ImageClassifierConfig, image_classifier

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICK = dict(epochs=5, hidden_dim=32, batch_size=32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    run = image_classifier(**QUICK, validation_fraction=0.1, logging_dir=str(logs))
    history = run.fit(verbose=0)
    return run, history, logs


def test_digits_are_split_stratified_by_seed_and_the_mlp_learns(trained):
    run, history, logs = trained
    (x_train, y_train), (_, y_val), (x_test, y_test) = run.train, run.validation, run.test
    assert x_train.shape[1:] == (8, 8) and x_train.dtype == np.float32 and x_train.max() == 16.0
    assert len(y_train) + len(y_val) + len(y_test) == 1797 and len(y_test) == 360
    np.testing.assert_allclose(np.bincount(y_test, minlength=10) / 360, np.bincount(y_train, minlength=10) / len(y_train),
                               atol=0.02)  # stratified: every digit in the same share
    again = image_classifier(**QUICK, validation_fraction=0.1)
    np.testing.assert_array_equal(again.test[0], x_test)  # the seed decides the split
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert os.listdir(logs / "image_classifier")  # TensorBoard logs where logging_dir says


def test_evaluate_is_the_test_accuracy_of_the_argmax_predictions(trained):
    run, _, _ = trained
    report = run.evaluate()
    x_test, y_test = run.test
    logits = run.model.predict(x_test, verbose=0)
    assert report["accuracy"] == pytest.approx(float((logits.argmax(-1) == y_test).mean()))
    assert report["accuracy"] == pytest.approx(run.model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"])
    assert report["accuracy"] > 0.8 and report["num_examples"] == 360 and report["label_names"] == list("0123456789")


def test_export_takes_raw_float_pixels_and_answers_the_model_probabilities(trained, tmp_path):
    run, _, _ = trained
    report = run.evaluate()
    path = run.export(export_dir=str(tmp_path), report=report)
    assert path == os.path.join(str(tmp_path), "image_classifier", "1")
    serve = tf.saved_model.load(path).signatures["serving_default"]
    pixels = run.test[0][:5]  # 0..16, as the dataset stores them: the model scales them itself
    out = serve(pixels=tf.constant(pixels))
    np.testing.assert_allclose(out["probabilities"].numpy(), run.predict(pixels), atol=1e-5)
    np.testing.assert_array_equal(out["label_ids"].numpy(), run.predict(pixels).argmax(-1))
    assert json.load(open(os.path.join(path, "evaluation.json")))["accuracy"] == report["accuracy"]
    assert json.load(open(os.path.join(path, "config.json")))["hidden_dim"] == 32
    assert json.load(open(os.path.join(path, "label_names.json"))) == list("0123456789")


def test_the_recipe_file_is_the_default_config():
    kind, config = load_recipe_file(os.path.join(ROOT, "recipes", "digits_mlp.toml"))
    assert kind == "image_classifier"
    defaults = ImageClassifierConfig()
    for key in ("dataset", "hidden_dim", "dropout", "epochs", "batch_size", "learning_rate", "scale_pixels", "seed"):
        assert getattr(config, key) == getattr(defaults, key), key


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"dataset": "cifar"}, "Received: dataset='cifar'"),
        ({"test_fraction": 1.0}, "Received: test_fraction=1.0"),
        ({"validation_fraction": -0.1}, "Received: validation_fraction=-0.1"),
        ({"epochs": 0}, "Received: epochs=0"),
        ({"learning_rate": 0.0}, "Received: learning_rate=0.0"),
        ({"hidden_dim": "wide"}, "'hidden_dim' must be an int. Received: hidden_dim='wide'"),
        ({"hidden": 64}, "Unknown argument 'hidden'"),
    ],
)
def test_bad_settings_are_clear_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        image_classifier(**settings)


def test_mnist_without_a_local_tfds_copy_says_how_to_get_one(tmp_path):
    with pytest.raises(ValueError, match="nothing is downloaded here.*tfds build mnist.*dataset='digits'"):
        image_classifier(dataset="mnist", data_dir=str(tmp_path))


class FakeMnistBuilder:
    """Stands in for `tfds.builder("mnist")` with a prepared copy: 28x28x1 uint8 images, labels 0..9."""

    data_dir = "fake"

    def is_prepared(self):
        return True

    def as_dataset(self, split, as_supervised, batch_size):
        assert as_supervised and batch_size == -1
        rng = np.random.default_rng(0)
        sizes = {"train": 200, "test": 50}
        # batch_size=-1: each split is one (images, labels) pair of whole tensors, as TFDS answers
        return [(tf.constant(rng.integers(0, 256, (sizes[s], 28, 28, 1)).astype("uint8")),
                 tf.constant(np.arange(sizes[s]) % 10)) for s in split]


def test_mnist_reads_tfds_splits_as_raw_float_pixels_scaled_in_the_model(monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(tfds, "builder", lambda name, data_dir=None: FakeMnistBuilder())
    run = image_classifier(dataset="mnist", epochs=1, hidden_dim=8)
    assert run.train[0].shape == (200, 28, 28, 1) and run.train[0].dtype == np.float32
    assert run.test[0].shape == (50, 28, 28, 1) and run.model.pixel_scale == pytest.approx(1 / 255)
    run.fit(verbose=0)
    assert run.evaluate()["num_examples"] == 50


def test_mnist_from_a_local_tfds_copy():
    import tensorflow_datasets as tfds

    if not tfds.builder("mnist").is_prepared():
        pytest.skip("TFDS has no local mnist (nothing downloads here); prepare it with `tfds build mnist`")
    run = image_classifier(dataset="mnist", epochs=1, hidden_dim=32, batch_size=256, max_train_examples=2048)
    assert run.train[0].shape[1:] == (28, 28, 1) and len(run.test[1]) == 10000
    run.fit(verbose=0)
    assert run.evaluate()["accuracy"] > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_default_digits_recipe_reaches_97_percent_test_accuracy(seed):
    run = image_classifier(seed=seed)
    run.fit(verbose=0)
    assert run.evaluate()["accuracy"] >= 0.97


VIT_QUICK = dict(model="vit", epochs=8, learning_rate=3e-3, hidden_dim=32, num_layers=1, num_heads=2, dropout=0.0,
                 batch_size=32, max_train_examples=512)


def test_the_vision_transformer_learns_the_digits_and_exports(tmp_path):
    run = image_classifier(**VIT_QUICK)
    assert isinstance(run.model.backbone, VisionTransformer) and run.model.backbone.patch_size == 2
    assert run.model.backbone.intermediate_dim == 64  # None: 2 x hidden_dim
    history = run.fit(verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    report = run.evaluate()
    assert report["accuracy"] > 0.5  # 8 epochs of 16 steps, from 10% by chance
    serve = tf.saved_model.load(run.export(export_dir=str(tmp_path), report=report)).signatures["serving_default"]
    pixels = run.test[0][:4]  # raw 0..16: the model scales them
    served = serve(pixels=tf.constant(pixels))["probabilities"].numpy()
    np.testing.assert_allclose(served, run.predict(pixels), atol=1e-5)


def test_the_vision_transformers_optimizer_warms_up_decays_and_spares_norms_and_embeddings():
    settings = {**VIT_QUICK, "epochs": 2, "warmup_fraction": 0.25, "learning_rate": 2e-3, "weight_decay": 0.5}
    run = image_classifier(**settings)
    optimizer, steps = run.model.optimizer, 2 * 16  # 2 epochs of ceil(512 / 32) batches

    def rate_at(step):
        optimizer.iterations.assign(step)
        return float(optimizer.learning_rate)

    rates = [rate_at(step) for step in (0, 4, 8, steps - 1, steps)]
    assert rates[0] == 0.0 and rates[1] == pytest.approx(1e-3) and rates[2] == pytest.approx(2e-3)
    assert 0 < rates[3] < 1e-4 and rates[4] == pytest.approx(0.0, abs=1e-12)
    # One step with zero gradients at the peak rate: Adam's update is 0, only the decoupled decay moves a weight.
    rate_at(8)
    variables = run.model.trainable_variables
    before = [v.numpy().copy() for v in variables]
    optimizer.apply_gradients([(tf.zeros_like(v), v) for v in variables])
    decayed = {v.path for v, b in zip(variables, before) if not np.array_equal(v.numpy(), b)}
    for v, b in zip(variables, before):
        if v.path in decayed:
            np.testing.assert_allclose(v.numpy(), b * (1 - 2e-3 * 0.5), rtol=1e-6)
    assert any("projection/kernel" in p for p in decayed) and any("query/kernel" in p for p in decayed)
    assert not any(word in p for p in decayed for word in ("bias", "gamma", "beta", "class_token", "embeddings"))


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"model": "resnet"}, "Received: model='resnet'"),
        ({"patch_size": 4}, "patch_size=4 set the Vision Transformer, and model='mlp' would ignore them"),
        ({"model": "vit", "patch_size": 3}, "height 8 is not a multiple of patch_size=3"),
        ({"model": "vit", "pooling": "max"}, "Received: pooling='max'"),
        ({"model": "vit", "warmup_fraction": 1.0}, "Received: warmup_fraction=1.0"),
        ({"model": "vit", "hidden_dim": 30}, "Received: hidden_dim=30, num_heads=4"),
    ],
)
def test_vision_transformer_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        image_classifier(**settings)


@pytest.mark.slow
def test_the_vision_transformer_recipe_file_draws_level_with_the_mlp_over_three_seeds():
    accuracies = []
    for seed in (0, 1, 2):
        _, config = load_recipe_file(os.path.join(ROOT, "recipes", "digits_vit.toml"), {"seed": str(seed)})
        run = image_classifier(config)
        run.fit(verbose=0)
        accuracies.append(run.evaluate()["accuracy"])
    # measured 98.89 / 97.22 / 98.06 (benchmarks/image_classifier.py); the MLP's mean is 98.06
    assert np.mean(accuracies) >= 0.975 and min(accuracies) >= 0.96, accuracies
