"""AdamW configured the way Transformer training expects."""

from kerastune.training.layerwise_decay import AdamWWithMultipliers

# Weight decay applies to matrices (projections, feed-forward kernels, embeddings) and not to
# biases or layer-norm scales/offsets, as in BERT and nanoGPT. Keras matches these patterns against
# each variable's short name (`variable.name`): Dense biases are "bias", LayerNormalization's
# scale/offset are "gamma"/"beta".
NO_DECAY_NAMES = ("bias", "gamma", "beta")


def ema_momentum_for(momentum, total_updates, horizon_fraction=0.25):
    """The weight-average momentum for a run of `total_updates` optimizer updates, or None for none.

    Keras's average starts from the initial weights and forgets them at `momentum` per update, so
    with 0.999 (a horizon `1 / (1 - momentum)` of 1,000 updates) a run of 500 updates ends with an
    average still dominated by early, barely trained weights. The momentum is therefore capped so
    the horizon spans at most `horizon_fraction` of the run: `min(momentum, 1 - 1 / (fraction * total))`.
    The initial weights then weigh about `exp(-1 / fraction)` (2% at a quarter) in the final average.

    Example:

    >>> ema_momentum_for(0.999, 4210)  # SST-2, 2 epochs: the horizon fits, 0.999 is kept
    0.999
    >>> round(ema_momentum_for(0.999, 469), 5)  # 5,000 examples, 3 epochs: a 117-update horizon
    0.99147
    """
    if not momentum:
        return None
    if not 0.0 < momentum < 1.0:
        raise ValueError(f"ema_momentum must be in [0, 1). Received: ema_momentum={momentum}")
    cap = 1.0 - 1.0 / max(horizon_fraction * total_updates, 1.0)
    return min(momentum, cap) if cap > 0 else None


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
    """AdamW with weight decay off for biases and layer norms.

    Args:
        learning_rate: float or a `keras.optimizers.schedules.LearningRateSchedule`.
        weight_decay: float, decoupled weight decay (Loshchilov & Hutter, 2019).
        beta_1, beta_2, epsilon: Adam moments.
        global_clipnorm: float or None, clip the global gradient norm to this value.
        gradient_accumulation_steps: int or None, Keras's own gradient accumulation.
        exclude_from_weight_decay: variable-name patterns that get no weight decay.
        ema_momentum: float or None; when set, Keras keeps an exponential moving average of the
            weights and writes it into the model at the end of `fit` (Polyak averaging).
        learning_rate_multipliers: dict `{variable.path: float}` or None (e.g. from
            `layerwise_decay_multipliers(model, 0.9)`).

    Returns an `AdamWWithMultipliers` (a `keras.optimizers.AdamW`): with gradient accumulation
    its schedule and weight average count optimizer updates, not micro-steps.

    Example:

    >>> opt = adamw(1e-3, weight_decay=0.1, global_clipnorm=1.0)
    >>> opt.weight_decay
    0.1
    """
    if gradient_accumulation_steps is not None and gradient_accumulation_steps < 2:
        gradient_accumulation_steps = None
    optimizer = AdamWWithMultipliers(
        learning_rate_multipliers=learning_rate_multipliers,
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


def build_optimizer_variables(model):
    """Creates the compiled `model.optimizer`'s variables (moments, weight average, accumulators) now.

    Left alone, Keras builds the optimizer of a model compiled outside a distribution strategy while
    `fit` traces the train step, and a `tf.function` that creates variables is traced twice: building
    it at compile time traces the train step once (the most expensive trace of a run; counted in
    `tests/training/test_optimizers.py`). The optimizer tracks `model.trainable_variables` as they are
    now: compile again after changing what is trainable. A model that is not built yet is left to Keras.
    (Metrics named by a string, `metrics=["mae"]`, are also created in the first trace: kerastune's
    models compile with metric objects.)
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built and model.built:
        optimizer.build(model.trainable_variables)
    return model
