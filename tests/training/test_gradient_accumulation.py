"""Gradient accumulation: k micro-batches are one batch k times larger, for the weights, the schedule
and the weight average alike (`AdamWWithMultipliers` counts optimizer updates, not micro-steps)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastune.training import WarmupLinearDecay, adamw


def _fit(batch_size, accumulation, epochs=3, ema_momentum=0.5, multipliers=False, strategy=None, clipnorm=0.5):
    keras.utils.set_random_seed(0)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        return _fit_in_scope(batch_size, accumulation, epochs, ema_momentum, multipliers, clipnorm,
                             jit_compile=strategy.num_replicas_in_sync == 1)  # XLA cannot span logical CPUs


def _fit_in_scope(batch_size, accumulation, epochs, ema_momentum, multipliers, clipnorm, jit_compile):
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)])
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 6)).astype("float32"), rng.integers(0, 3, 16)
    updates = epochs * 16 // (batch_size * accumulation)
    schedule = WarmupLinearDecay(1e-2, total_steps=updates, warmup_steps=2)
    multiplier = {model.layers[0].kernel.path: 0.5} if multipliers else None
    optimizer = adamw(schedule, weight_decay=0.1, global_clipnorm=clipnorm, gradient_accumulation_steps=accumulation,
                      ema_momentum=ema_momentum, learning_rate_multipliers=multiplier)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit_compile)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(float(model.optimizer.learning_rate)))
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0, callbacks=[record])
    return model, optimizer, seen


@pytest.mark.parametrize("multipliers", [False, True])
def test_k_micro_batches_equal_one_batch_k_times_larger(multipliers):
    big, big_optimizer, big_rates = _fit(batch_size=16, accumulation=1, multipliers=multipliers)
    small, small_optimizer, small_rates = _fit(batch_size=4, accumulation=4, multipliers=multipliers)
    assert int(big_optimizer.iterations) == int(small_optimizer.iterations) == 3  # optimizer updates
    # fit ends by writing the weight average (momentum 0.5 per update) into the model: equal too
    for a, b in zip(big.get_weights(), small.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # the rate after each update follows the schedule in updates: warmup over 2, then decay to 0
    np.testing.assert_allclose(small_rates[3::4], big_rates, rtol=1e-6)
    assert big_rates[-1] == pytest.approx(0.0, abs=1e-9) and small_rates[-1] == pytest.approx(0.0, abs=1e-9)


def test_without_the_fix_keras_counts_micro_steps():
    # What the fix is for: Keras's own AdamW calls the schedule with micro-steps, so a schedule sized
    # in updates has already decayed to 0 a quarter of the way into the run.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    schedule = WarmupLinearDecay(1e-2, total_steps=4, warmup_steps=0)
    plain = keras.optimizers.AdamW(schedule, gradient_accumulation_steps=4)
    ours = adamw(schedule, gradient_accumulation_steps=4)
    for optimizer in (plain, ours):
        optimizer.build(model.trainable_variables)
        optimizer._iterations.assign(4)  # one update = 4 micro-steps done
    assert float(plain.learning_rate) == pytest.approx(0.0)
    assert float(ours.learning_rate) == pytest.approx(1e-2 * 3 / 4)


@pytest.fixture(scope="module")
def mirrored():
    """One strategy for every case: the collectives of two MirroredStrategy objects in one process share
    instance keys, and a second one's step fails ("Shape mismatch in the collective instance")."""
    return tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())


@pytest.mark.parametrize("merge_call", [True, False])
@pytest.mark.parametrize("batch_size,accumulation", [(16, 1), (8, 2)])
def test_under_mirrored_strategy_the_update_is_one_devices(mirrored, batch_size, accumulation, merge_call, monkeypatch):
    """Two replicas (conftest.py splits the CPU in two): their gradients are summed, then clipped to the global
    norm and accumulated as on one device (Keras clips each replica's share, and its accumulation fails where
    the strategy synchronises through merge_call: keras-team/keras#20582). `merge_call=False` is how
    MirroredStrategy runs on GPUs with XLA, Keras's own path there."""
    one, _, _ = _fit(batch_size=16, accumulation=1, clipnorm=0.05)
    if not merge_call:
        monkeypatch.setattr(mirrored.extended, "_use_merge_call", lambda: False, raising=False)
    two, optimizer, _ = _fit(batch_size, accumulation, strategy=mirrored, clipnorm=0.05)
    assert int(optimizer.iterations.numpy()) == 3
    for a, b in zip(one.get_weights(), two.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_keras_alone_cannot_accumulate_under_mirrored_strategy():
    """What the override is for: the same fit with Keras's own AdamW fails (keras-team/keras#20582)."""
    mirrored = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    with mirrored.scope():
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
        model.compile(optimizer=keras.optimizers.AdamW(1e-3, gradient_accumulation_steps=2), loss="mse",
                      jit_compile=False)
    with pytest.raises(RuntimeError, match="merge_call"):
        model.fit(np.ones((8, 6), "float32"), np.ones((8, 3), "float32"), batch_size=4, verbose=0)
