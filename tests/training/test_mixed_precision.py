"""Mixed precision: a tiny task trains under mixed_bfloat16 and mixed_float16 about as well as in
float32 (logits and loss in float32), and a float16 overflow is skipped by the loss scaler."""

import keras
import numpy as np
import pytest

from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.text_classifier import TextClassifier
from kerastune.training import WarmupLinearDecay, adamw


def _toy_task(n=64, length=8):
    """Label 1 when token 7 occurs in the sequence: learnable in a few dozen steps."""
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 7, (n, length)).astype("int32")
    labels = rng.integers(0, 2, n)
    ids[labels == 1, rng.integers(1, length, int(labels.sum()))] = 7
    ids[:, 0] = 2  # [CLS]
    x = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": np.ones_like(ids, dtype="bool")}
    return x, labels


def _train(policy):
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    encoder = BertEncoder(vocabulary_size=10, num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
                          max_sequence_length=8, dropout=0.0)
    model = TextClassifier(encoder, num_classes=2, dropout=0.0)
    model.compile(optimizer=adamw(WarmupLinearDecay(1e-2, total_steps=80, warmup_steps=4)))
    x, y = _toy_task()
    history = model.fit(x, y, batch_size=16, epochs=20, verbose=0, shuffle=False)
    logits = model.predict(x, verbose=0)
    return model, history.history["loss"], logits


@pytest.fixture(scope="module")
def float32_run():
    return _train("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_a_tiny_task_converges_under_each_policy_as_in_float32(policy, float32_run):
    _, reference, _ = float32_run
    model, losses, logits = _train(policy)
    assert model.dtype_policy.name == policy and logits.dtype == np.float32  # float32 logits and loss
    if policy == "mixed_float16":  # Keras wraps the optimizer in a dynamic loss scaler
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert reference[-1] < 0.5 * reference[0]  # float32 itself learns the task
    assert losses[-1] < 0.5 * losses[0]
    assert abs(losses[-1] - reference[-1]) < 0.02, (losses[-1], reference[-1])


def test_float16_overflow_is_skipped_by_the_loss_scaler_not_written_into_the_weights():
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2, dtype="float32")])
    model.compile(optimizer=adamw(1e-2, ema_momentum=0.9), loss="mse")
    x, y = np.ones((8, 4), "float32"), np.zeros((8, 2), "float32")
    model.train_on_batch(x, y)
    weights, scale = model.get_weights(), float(model.optimizer.dynamic_scale)
    assert not np.isfinite(model.train_on_batch(x * 1e5, y))  # 1e5 > float16's 65504: an inf loss
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)  # the step was skipped
    assert float(model.optimizer.dynamic_scale) == scale / 2  # and the loss scale halved
    model.train_on_batch(x, y)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert not np.array_equal(model.get_weights()[0], weights[0])  # finite steps train again
