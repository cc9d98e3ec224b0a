import keras
import keras_hub
import numpy as np
import pytest

from kerastune.models.sentence_pooling import MaskedMeanPooling
from kerastune.models.text_classifier import TextClassifier
from tests.helpers import assert_config_round_trip, assert_keras_save_load


def inputs(batch=3, seq=6):
    rng = np.random.default_rng(0)
    mask = np.ones((batch, seq), "int32")
    mask[0, 4:] = 0
    return {
        "token_ids": rng.integers(1, 50, (batch, seq)).astype("int32") * mask,
        "segment_ids": np.zeros((batch, seq), "int32"),
        "padding_mask": mask,
    }


def tiny_backbone():
    return keras_hub.models.BertBackbone(50, 1, 2, 8, 16, max_sequence_length=16, dropout=0.0)


def test_masked_mean_pooling_matches_numpy():
    x = np.random.default_rng(1).normal(size=(2, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], "int32")
    got = keras.ops.convert_to_numpy(MaskedMeanPooling()(x, mask))
    np.testing.assert_allclose(got[0], x[0, :2].mean(0), atol=1e-6)
    np.testing.assert_allclose(got[1], x[1].mean(0), atol=1e-6)


@pytest.mark.parametrize("pooling", ["pooled", "mean", "cls"])
def test_logits_shape_and_padding_invariance(pooling):
    model = TextClassifier(tiny_backbone(), num_classes=4, pooling=pooling, dropout=0.0)
    x = inputs()
    logits = keras.ops.convert_to_numpy(model(x))
    assert logits.shape == (3, 4)
    padded = {k: np.pad(v, [[0, 0], [0, 5]]) for k, v in x.items()}
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(padded)), logits, atol=1e-5)


def test_round_trips_and_saves(tmp_path):
    model = TextClassifier(tiny_backbone(), num_classes=3, pooling="mean")
    assert_config_round_trip(model)
    loaded = assert_keras_save_load(model, inputs(), tmp_path)
    assert isinstance(loaded, TextClassifier) and loaded.pooling == "mean"


def test_compile_defaults_exclude_biases_and_norms_from_weight_decay():
    model = TextClassifier(tiny_backbone(), num_classes=2)
    model.compile()
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.AdamW) and optimizer.weight_decay == 0.01
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert any(p.endswith("logits/kernel") for p in decayed)
    assert not any(p.endswith(("bias", "gamma", "beta")) for p in decayed)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="pooling must be one of"):
        TextClassifier(tiny_backbone(), num_classes=2, pooling="max")
    with pytest.raises(ValueError, match="num_classes"):
        TextClassifier(tiny_backbone(), num_classes=1)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_unused_pooler_is_frozen_so_fit_trains_without_missing_gradient_warnings(pooling):
    import warnings

    model = TextClassifier(tiny_backbone(), num_classes=2, pooling=pooling)
    assert not any("pooled_dense" in v.path for v in model.trainable_variables)
    assert any("pooled_dense" in v.path for v in TextClassifier(tiny_backbone(), 2).trainable_variables)
    # eager: the missing-gradient warning comes from the optimizer in any mode (the XLA-compiled train
    # step of the BERT encoder is in test_token_classifier.py)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Gradients do not exist")
        model.fit(inputs(), np.array([0, 1, 1]), epochs=1, verbose=0)
