import keras
import keras_hub
import numpy as np
import pytest

from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.token_classifier import TokenClassifier
from tests.helpers import assert_config_round_trip, assert_keras_save_load


def inputs():
    rng = np.random.default_rng(0)
    return {"token_ids": rng.integers(5, 50, (2, 6)).astype("int32"), "segment_ids": np.zeros((2, 6), "int32"),
            "padding_mask": np.array([[1] * 6, [1] * 4 + [0] * 2], "int32")}


def test_logits_shape_and_round_trips(tmp_path):
    encoder = BertEncoder(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
                          max_sequence_length=16)
    model = TokenClassifier(encoder, num_tags=5)
    assert model(inputs()).shape == (2, 6, 5)
    assert_config_round_trip(model)
    assert_keras_save_load(model, inputs(), tmp_path)


def test_loss_weighs_only_first_subwords_as_a_hand_computation():
    backbone = keras_hub.models.BertBackbone(50, 1, 2, 8, 16, max_sequence_length=16)
    model = TokenClassifier(backbone, num_tags=3, dropout=0.0)
    model.compile(run_eagerly=True)  # the loss arithmetic is checked; the XLA step is in the test below
    x = inputs()
    labels = np.array([[0, 2, 1, 0, 0, 1], [0, 1, 2, 0, 0, 0]], "int32")
    weights = np.array([[0, 1, 0, 1, 1, 0], [0, 1, 1, 0, 0, 0]], "float32")  # [CLS], pieces, padding: 0
    logits = keras.ops.convert_to_numpy(model(x))
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_p, labels[..., None], -1)[..., 0]
    expected = -(picked * weights).sum() / weights.sum()
    result = model.evaluate(x, labels, sample_weight=weights, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["loss"], expected, rtol=1e-5)
    # changing the labels where the weight is 0 changes nothing
    other = np.where(weights > 0, labels, (labels + 1) % 3)
    again = model.evaluate(x, other, sample_weight=weights, verbose=0, return_dict=True)
    np.testing.assert_allclose(again["loss"], result["loss"], rtol=1e-6)
    hits = (logits.argmax(-1) == labels) * weights
    np.testing.assert_allclose(result["accuracy"], hits.sum() / weights.sum(), rtol=1e-6)


def test_unused_pooler_is_frozen_so_fit_has_a_gradient_for_every_weight():
    import warnings

    # Both encoders train eagerly: the missing-gradient warning comes from the optimizer, not the
    # compiler (the XLA-compiled train step is the slow test below).
    for backbone in (keras_hub.models.BertBackbone(50, 1, 2, 8, 16, max_sequence_length=16),
                     BertEncoder(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16)):
        model = TokenClassifier(backbone, num_tags=3)
        assert not any("pooled_dense" in v.path for v in model.trainable_variables)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message="Gradients do not exist")
            model.fit(inputs(), np.zeros((2, 6), "int32"), epochs=1, verbose=0)


@pytest.mark.slow
def test_xla_compiled_train_step_of_kerastune_encoder():
    # The recipes' default (jit_compile=True); ~17 s of XLA compilation for this tiny encoder on 2 cores.
    model = TokenClassifier(BertEncoder(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
                                        intermediate_dim=16), num_tags=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    history = model.fit(inputs(), np.zeros((2, 6), "int32"), epochs=2, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
