import keras
import numpy as np
import pytest

from kerastune.training.label_smoothing import SparseLabelSmoothingCrossentropy


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_equals_keras_categorical_crossentropy_on_one_hot_labels(smoothing):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 7, 4)).astype("float32")  # a tagger's (batch, seq, tags)
    labels = rng.integers(0, 4, size=(5, 7))
    weights = rng.integers(0, 2, size=(5, 7)).astype("float32")
    ours = SparseLabelSmoothingCrossentropy(smoothing, from_logits=True, reduction="mean_with_sample_weight")
    reference = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing,
                                                     reduction="mean_with_sample_weight")
    np.testing.assert_allclose(ours(labels, logits, weights), reference(np.eye(4)[labels], logits, weights), rtol=1e-5)


def test_serializes_and_checks_its_argument():
    loss = SparseLabelSmoothingCrossentropy(0.2)
    clone = SparseLabelSmoothingCrossentropy.from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    with pytest.raises(ValueError, match="label_smoothing must be in \\[0, 1\\). Received: label_smoothing=1.0"):
        SparseLabelSmoothingCrossentropy(1.0)
