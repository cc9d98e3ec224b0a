"""Learning-rate schedules: BERT's warmup + linear decay, and Keras's warmup + cosine decay set up once."""

import keras
from keras import ops

from kerastune.api import register


def warmup_cosine_decay(peak_learning_rate, total_steps, warmup_steps=0, end_learning_rate=0.0):
    """Linear warmup from 0 to `peak_learning_rate` over `warmup_steps`, then cosine decay to
    `end_learning_rate` at `total_steps` (held there after): Keras's own `CosineDecay`, set up the
    way GPT, ViT and Transformer recipes use it.

    Example:

    >>> schedule = warmup_cosine_decay(1e-3, total_steps=100, warmup_steps=10)
    >>> [round(float(schedule(step)), 6) for step in (0, 5, 10, 55, 100)]
    [0.0, 0.0005, 0.001, 0.0005, 0.0]
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be a positive integer. Received: total_steps={total_steps!r}")
    if warmup_steps < 0:  # more warmup than steps is allowed: the rate then stops short of its peak
        raise ValueError(f"warmup_steps must be >= 0. Received: warmup_steps={warmup_steps!r}")
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,  # where the warmup starts; with no warmup the decay starts at the peak
        decay_steps=max(int(total_steps) - int(warmup_steps), 1),
        alpha=end_learning_rate / peak_learning_rate,
        warmup_target=peak_learning_rate,
        warmup_steps=int(warmup_steps),
    )


@register
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak_learning_rate`, then linear decay to `end_learning_rate`.

    The schedule BERT fine-tuning uses (Devlin et al., 2019; Hugging Face's
    `get_linear_schedule_with_warmup`):
    `lr(step) = peak * step / warmup_steps` for `step < warmup_steps`, then
    `lr(step) = end + (peak - end) * (total_steps - step) / (total_steps - warmup_steps)`,
    held at `end_learning_rate` after `total_steps`.

    Args:
        peak_learning_rate: float, the rate reached at the end of warmup.
        total_steps: int, the step at which the rate reaches `end_learning_rate`.
        warmup_steps: int, steps of linear warmup (0 for none).
        end_learning_rate: float, the final rate (default 0.0).

    Example:

    >>> schedule = WarmupLinearDecay(1e-3, total_steps=100, warmup_steps=10)
    >>> round(float(schedule(5)), 6)
    0.0005
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps=0, end_learning_rate=0.0):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be a positive integer; received {total_steps!r}")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                f"warmup_steps must be in [0, total_steps={total_steps}]; received {warmup_steps!r}"
            )
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.end_learning_rate = float(end_learning_rate)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.peak_learning_rate
        warmup = float(self.warmup_steps)
        warm = peak * step / max(warmup, 1.0)
        span = max(float(self.total_steps - self.warmup_steps), 1.0)
        frac = ops.clip((float(self.total_steps) - step) / span, 0.0, 1.0)
        decay = self.end_learning_rate + (peak - self.end_learning_rate) * frac
        return ops.where(step < warmup, warm, decay)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "end_learning_rate": self.end_learning_rate,
        }
