"""AdamW configured the way Transformer training expects."""

import keras

from kerastune.training.layerwise_decay import AdamWWithMultipliers

# Weight decay applies to matrices (projections, feed-forward kernels, embeddings) and not to
# biases or layer-norm scales/offsets, as in BERT and nanoGPT. Keras matches these patterns against
# each variable's short name (`variable.name`): Dense biases are "bias", LayerNormalization's
# scale/offset are "gamma"/"beta".
NO_DECAY_NAMES = ("bias", "gamma", "beta")


def adamw(
    learning_rate,
    weight_decay=0.01,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-8,
    global_clipnorm=None,
    gradient_accumulation_steps=None,
    exclude_from_weight_decay=NO_DECAY_NAMES,
    ema_momentum=None,
    learning_rate_multipliers=None,
):
    """Returns `keras.optimizers.AdamW` with weight decay off for biases and layer norms.

    Args:
        learning_rate: float or a `keras.optimizers.schedules.LearningRateSchedule`.
        weight_decay: float, decoupled weight decay (Loshchilov & Hutter, 2019).
        beta_1, beta_2, epsilon: Adam moments.
        global_clipnorm: float or None, clip the global gradient norm to this value.
        gradient_accumulation_steps: int or None, Keras's own gradient accumulation.
        exclude_from_weight_decay: variable-name patterns that get no weight decay.
        ema_momentum: float or None; when set, Keras keeps an exponential moving average of the
            weights and writes it into the model at the end of `fit` (Polyak averaging).
        learning_rate_multipliers: dict `{variable.path: float}` or None; when set, returns
            `AdamWWithMultipliers` (e.g. from `layerwise_decay_multipliers(model, 0.9)`).

    Example:

    >>> opt = adamw(1e-3, weight_decay=0.1, global_clipnorm=1.0)
    >>> opt.weight_decay
    0.1
    """
    if gradient_accumulation_steps is not None and gradient_accumulation_steps < 2:
        gradient_accumulation_steps = None
    kwargs = {"learning_rate_multipliers": learning_rate_multipliers} if learning_rate_multipliers else {}
    optimizer_cls = AdamWWithMultipliers if learning_rate_multipliers else keras.optimizers.AdamW
    optimizer = optimizer_cls(
        **kwargs,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        global_clipnorm=global_clipnorm,
        gradient_accumulation_steps=gradient_accumulation_steps,
        use_ema=bool(ema_momentum),
        ema_momentum=ema_momentum or 0.99,
    )
    if exclude_from_weight_decay:
        optimizer.exclude_from_weight_decay(var_names=list(exclude_from_weight_decay))
    return optimizer
