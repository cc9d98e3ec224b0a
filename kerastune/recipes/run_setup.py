"""What every recipe does first: seed every random choice, set the precision policy, pick the strategy."""

import keras

from kerastune.distribute import get_strategy


def start_run(config):
    """Applies a recipe config's `seed`, `mixed_precision` and `strategy`; returns the strategy.

    The policy is always set (float32 when `mixed_precision` is empty), so a policy left by an earlier
    run in the same process never leaks into this one. Build models and optimizers under
    `strategy.scope()`.
    """
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(config.mixed_precision or "float32")
    return get_strategy(config.strategy)
