"""`MLPClassifier`: the classic Flatten -> Dense(relu) -> Dropout -> Dense logits, checked in numpy."""

import keras
import numpy as np
import pytest

from kerastune.models.mlp_classifier import MLPClassifier
from tests.helpers import assert_config_round_trip, assert_keras_save_load


def pixels():
    return np.random.default_rng(0).uniform(0, 16, (3, 8, 8)).astype("float32")


def test_logits_are_the_numpy_mlp_of_the_scaled_pixels():
    model = MLPClassifier(num_classes=4, image_shape=(8, 8), hidden_dim=5, dropout=0.5, pixel_scale=1 / 16)
    x = pixels()
    w1, b1 = model.hidden_dense.get_weights()
    w2, b2 = model.output_dense.get_weights()
    hidden = np.maximum((x / 16).reshape(3, 64) @ w1 + b1, 0)  # dropout is off outside training
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), hidden @ w2 + b2, rtol=1e-5, atol=1e-6)
    assert model.count_params() == 64 * 5 + 5 + 5 * 4 + 4


def test_round_trips_and_saves(tmp_path):
    model = MLPClassifier(num_classes=3, image_shape=(8, 8), hidden_dim=6, dropout=0.1, pixel_scale=0.5)
    clone = assert_config_round_trip(model)
    assert clone.image_shape == (8, 8) and clone.pixel_scale == 0.5
    assert_keras_save_load(model, pixels(), tmp_path)


def test_compile_defaults_train_one_step():
    model = MLPClassifier(num_classes=3, image_shape=(8, 8), hidden_dim=6)
    model.compile()
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    logs = model.train_on_batch(pixels(), np.array([0, 1, 2]), return_dict=True)
    assert np.isfinite(logs["loss"]) and 0.0 <= logs["accuracy"] <= 1.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_classes": 1}, "Received: num_classes=1"),
        ({"image_shape": (8, 0)}, "Received: image_shape=(8, 0)"),
        ({"hidden_dim": 0}, "Received: hidden_dim=0"),
        ({"dropout": 1.0}, "Received: dropout=1.0"),
        ({"pixel_scale": 0}, "Received: pixel_scale=0"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, message):
    arguments = {"num_classes": 10, "image_shape": (8, 8), **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MLPClassifier(**arguments)
