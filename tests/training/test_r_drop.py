import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastune.training.adversarial_training import enable_adversarial_training
from kerastune.training.r_drop import RDrop, enable_r_drop
from tests.training.test_adversarial_training import INPUTS, LABELS, LOSS, _model


def test_symmetric_kl_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    p, q = np.exp(a) / np.exp(a).sum(-1, keepdims=True), np.exp(b) / np.exp(b).sum(-1, keepdims=True)
    expected = 0.5 * ((p * np.log(p / q)).sum(-1) + (q * np.log(q / p)).sum(-1))
    np.testing.assert_allclose(RDrop.symmetric_kl(tf.constant(a), tf.constant(b)), expected, rtol=1e-6)


def test_without_dropout_one_step_equals_plain_cross_entropy():
    # no dropout: both passes agree, the KL term is 0 and its gradient too, so R-Drop is plain training
    plain, r_drop = _model(), _model()
    enable_r_drop(r_drop, alpha=4.0)
    for model in (plain, r_drop):
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss=LOSS, run_eagerly=True)
        model.train_on_batch(INPUTS, LABELS)
    for a, b in zip(plain.trainable_weights, r_drop.trainable_weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-6)


def test_the_loss_is_the_mean_cross_entropy_plus_alpha_times_the_symmetric_kl():
    model = _model(head_dropout=0.5)
    step = enable_r_drop(model, alpha=3.0)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=LOSS)
    loss, first, second = (keras.ops.convert_to_numpy(t) for t in step.loss(model, INPUTS, LABELS))
    assert np.abs(first - second).max() > 1e-4  # two dropout samples

    def cross_entropy(logits):
        log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        return -log_p[np.arange(len(LABELS)), LABELS].mean()

    p, q = (np.exp(z) / np.exp(z).sum(-1, keepdims=True) for z in (first, second))
    kl = (0.5 * ((p * np.log(p / q)).sum(-1) + (q * np.log(q / p)).sum(-1))).mean()
    np.testing.assert_allclose(loss, 0.5 * (cross_entropy(first) + cross_entropy(second)) + 3.0 * kl, rtol=1e-5)
    with pytest.raises(ValueError, match="already trains with RDrop"):
        enable_adversarial_training(model, "fgm")
    with pytest.raises(ValueError, match="r_drop_alpha must be > 0"):
        RDrop(0.0)
