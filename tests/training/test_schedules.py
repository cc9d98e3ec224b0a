import math

import keras
import numpy as np
import pytest

from kerastune.training import WarmupLinearDecay, adamw


def test_warmup_linear_decay_matches_the_formula():
    schedule = WarmupLinearDecay(1e-3, total_steps=100, warmup_steps=10, end_learning_rate=1e-5)
    for step in (0, 5, 9, 10, 50, 99, 100, 150):
        if step < 10:
            expected = 1e-3 * step / 10
        else:
            expected = 1e-5 + (1e-3 - 1e-5) * max(0, (100 - step)) / 90
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5, abs=1e-9)


def test_schedule_round_trips_and_validates():
    schedule = WarmupLinearDecay(2e-5, total_steps=10, warmup_steps=2)
    assert WarmupLinearDecay.from_config(schedule.get_config()).get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="warmup_steps must be in"):
        WarmupLinearDecay(1e-3, total_steps=10, warmup_steps=11)


def test_keras_cosine_decay_reproduces_nanogpt_lr_schedule():
    """The causal_lm recipe's schedule vs nanoGPT's get_lr (warmup 100, decay to 1e-4 at 2000)."""
    schedule = keras.optimizers.schedules.CosineDecay(0.0, 1900, alpha=0.1, warmup_target=1e-3, warmup_steps=100)

    def nanogpt(it, lr=1e-3, min_lr=1e-4, warmup=100, decay=2000):
        ratio = (it - warmup) / (decay - warmup)
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)

    for step in (100, 500, 1000, 1999, 2000):
        assert float(schedule(step)) == pytest.approx(nanogpt(step), rel=1e-4)


def test_adamw_skips_weight_decay_for_biases_and_layer_norms():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.LayerNormalization()])
    optimizer = adamw(1e-3, weight_decay=0.5)
    optimizer.build(model.trainable_variables)
    decayed = {v.path: optimizer._use_weight_decay(v) for v in model.trainable_variables}
    assert [p for p, d in decayed.items() if d] == ["sequential/dense/kernel"]
    # Zero gradient: only the kernel shrinks, by lr * wd.
    before = [np.array(v) for v in model.trainable_variables]
    optimizer.apply([np.zeros(v.shape, "float32") for v in model.trainable_variables], model.trainable_variables)
    after = [np.array(v) for v in model.trainable_variables]
    np.testing.assert_allclose(after[0], before[0] * (1 - 1e-3 * 0.5), rtol=1e-6)
    for b, a in zip(before[1:], after[1:]):
        np.testing.assert_array_equal(a, b)


def test_warmup_cosine_decay_rises_linearly_then_follows_the_cosine():
    from kerastune.training.schedules import warmup_cosine_decay

    schedule = warmup_cosine_decay(2e-3, total_steps=110, warmup_steps=10, end_learning_rate=2e-4)
    rates = {step: float(schedule(step)) for step in (0, 5, 10, 60, 110, 200)}
    assert rates[0] == 0.0 and rates[5] == pytest.approx(1e-3) and rates[10] == pytest.approx(2e-3)
    cosine = lambda step: 2e-4 + (2e-3 - 2e-4) * 0.5 * (1 + math.cos(math.pi * (step - 10) / 100))  # noqa: E731
    assert rates[60] == pytest.approx(cosine(60), rel=1e-5) and rates[110] == pytest.approx(2e-4)
    assert rates[200] == pytest.approx(2e-4)  # held at the end
    assert float(warmup_cosine_decay(1e-3, total_steps=10)(0)) == pytest.approx(1e-3)  # no warmup: the peak first
    with pytest.raises(ValueError, match="Received: total_steps=0"):
        warmup_cosine_decay(1e-3, total_steps=0)
