"""Layer-wise learning-rate decay for fine-tuning (Howard & Ruder, 2018; Clark et al., 2020).

The task head trains at the full learning rate, the top Transformer layer at `decay` times it, the
next one down at `decay**2`, ..., and the embeddings at `decay**(num_layers + 1)`: general features
in the lower layers move less than task-specific ones near the output. Keras optimizers have one
learning rate, so `AdamWWithMultipliers` multiplies it per variable; `layerwise_decay_multipliers`
computes the factors from the variable paths both KerasHub's `BertBackbone` and kerastune's
`BertEncoder` use (`transformer_layer_<i>/...`, `token_embedding/...`, `embeddings_layer_norm/...`).
"""

import contextlib
import re

import keras
import tensorflow as tf

from kerastune.api import register

_LAYER = re.compile(r"(?:^|/)transformer_layer_(\d+)/")
_EMBEDDING = re.compile(r"(?:^|/)(?:token_embedding|position_embedding|segment_embedding|embeddings_layer_norm)/")


def layerwise_decay_multipliers(model, decay):
    """`{variable.path: multiplier}` for every trainable variable of `model` (a task over a BERT backbone).

    Example:

    >>> import keras_hub
    >>> from kerastune.models.text_classifier import TextClassifier
    >>> backbone = keras_hub.models.BertBackbone(100, 2, 2, 8, 16, max_sequence_length=16)
    >>> m = layerwise_decay_multipliers(TextClassifier(backbone, 2), 0.5)
    >>> m["logits/kernel"], m["transformer_layer_1/self_attention_layer/query/kernel"], m["token_embedding/embeddings"]
    (1.0, 0.5, 0.125)
    """
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"layer-wise learning-rate decay must be in (0, 1]; received {decay!r}")
    depths = {}
    for variable in model.trainable_variables:
        layer = _LAYER.search(variable.path)
        depths[variable.path] = int(layer.group(1)) + 1 if layer else (0 if _EMBEDDING.search(variable.path) else None)
    known = [d for d in depths.values() if d is not None]
    if not any(d > 0 for d in known):
        raise ValueError(
            "layer-wise learning-rate decay needs a backbone with `transformer_layer_<i>` layers "
            f"(KerasHub BertBackbone or kerastune BertEncoder); {model.name} has none"
        )
    top = max(known) + 1  # the head (and anything outside the backbone's layers)
    return {path: float(decay ** (top - (top if d is None else d))) for path, d in depths.items()}


@register
class AdamWWithMultipliers(keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` whose learning rate is multiplied per variable, and whose schedule and
    weight average count optimizer updates under gradient accumulation (Keras counts micro-steps
    for both: a schedule sized in updates would end early and the average would move k times
    per update). Under a `tf.distribute` strategy of several replicas the replicas' gradients are summed
    before they are clipped, accumulated and applied, as one device would with the same global batch
    (Keras alone clips each replica's share, and cannot accumulate where the strategy synchronises through
    `merge_call`, MirroredStrategy on CPUs or on GPUs without XLA and TPUStrategy: keras-team/keras#20582).

    Args:
        learning_rate_multipliers: dict `{variable.path: float}`; variables not listed use 1.0.
            Weight decay stays `learning_rate * weight_decay` for every variable (as in Keras).
        **kwargs: `keras.optimizers.AdamW` arguments.

    Example:

    >>> optimizer = AdamWWithMultipliers(learning_rate=1e-3, learning_rate_multipliers={"dense/kernel": 0.5})
    >>> optimizer.learning_rate_multipliers
    {'dense/kernel': 0.5}
    """

    def __init__(self, learning_rate_multipliers=None, **kwargs):
        super().__init__(**kwargs)
        self.learning_rate_multipliers = dict(learning_rate_multipliers or {})

    def _get_current_learning_rate(self):
        # Keras calls a schedule with its micro-step counter; with gradient accumulation the schedule
        # (warmup, decay) counts optimizer updates, as the recipes size it.
        if self.gradient_accumulation_steps and isinstance(
            self._learning_rate, keras.optimizers.schedules.LearningRateSchedule
        ):
            return self._learning_rate(self.iterations)
        return super()._get_current_learning_rate()

    def _update_model_variables_moving_average(self, trainable_variables):
        # Keras averages after every micro-step; with gradient accumulation the weights only move on
        # update steps, so the average is updated then (its momentum counts optimizer updates).
        if not self.gradient_accumulation_steps:
            return super()._update_model_variables_moving_average(trainable_variables)
        is_update_step = keras.ops.equal((self._iterations + 1) % self.gradient_accumulation_steps, 0)
        keras.ops.cond(
            is_update_step, lambda: super(AdamWWithMultipliers, self)._update_model_variables_moving_average(
                trainable_variables), lambda: None
        )

    def apply(self, grads, trainable_variables=None):
        context = _replica_context_of_a_strategy()
        if context is None:
            return super().apply(grads, trainable_variables)
        # Keras clips each replica's share of the gradient before it sums them, and under a strategy that
        # synchronises through `merge_call` (MirroredStrategy on CPUs or on GPUs without XLA, TPUStrategy) it
        # applies an accumulated update inside a `cond`, which TensorFlow refuses (keras-team/keras#20582).
        # So the replicas' gradients are summed first, then clipped, accumulated and applied as on one device.
        trainable_variables = list(self._trainable_variables if trainable_variables is None else trainable_variables)
        grads = list(grads)
        present = [g is not None for g in grads]
        summed = iter(context.all_reduce(tf.distribute.ReduceOp.SUM, [g for g in grads if g is not None]))
        grads = [next(summed) if p else None for p in present]
        if tf.__internal__.distribute.strategy_supports_no_merge_call():  # e.g. XLA on GPUs: no cond problem
            with self._summed_gradients():
                return super().apply(grads, trainable_variables)

        def apply_once(strategy, grads):
            grads = [None if g is None else strategy.experimental_local_results(g)[0] for g in grads]
            # In cross-replica context Keras's `maybe_merge_call` must call straight through (no replica is
            # left to merge); it does where the strategy says it needs no merge_call, so it says so meanwhile.
            extended = strategy.extended
            patched = "_use_merge_call" in vars(extended)
            original = vars(extended).get("_use_merge_call")
            extended._use_merge_call = lambda: False
            try:
                with self._summed_gradients():
                    super(AdamWWithMultipliers, self).apply(grads, trainable_variables)
            finally:
                if patched:
                    extended._use_merge_call = original
                else:
                    del extended._use_merge_call

        context.merge_call(apply_once, args=(grads,))

    @contextlib.contextmanager
    def _summed_gradients(self):
        """While open, the gradients `apply` receives are already summed over the replicas."""
        self._replicas_summed = True
        try:
            yield
        finally:
            self._replicas_summed = False

    def _all_reduce_sum_gradients(self, grads_and_vars):
        if getattr(self, "_replicas_summed", False):
            return grads_and_vars
        return super()._all_reduce_sum_gradients(grads_and_vars)

    def finalize_variable_values(self, var_list):
        # `fit` ends by writing the weight average into the model; a resumed run that finishes an
        # interrupted epoch in a `fit` of its own sets `hold_average` so that happens at the run's end.
        if getattr(self, "hold_average", False):
            return
        super().finalize_variable_values(var_list)

    def build(self, var_list):
        super().build(var_list)
        self._multipliers = [float(self.learning_rate_multipliers.get(v.path, 1.0)) for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        multiplier = self._multipliers[self._get_variable_index(variable)]
        if multiplier != 1.0:
            learning_rate = keras.ops.multiply(learning_rate, multiplier)
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "learning_rate_multipliers": dict(self.learning_rate_multipliers)}


def _replica_context_of_a_strategy():
    """The replica context of a step under a `tf.distribute` strategy of several replicas, or None."""
    if keras.backend.backend() != "tensorflow" or not tf.distribute.has_strategy() \
            or tf.distribute.in_cross_replica_context() or tf.distribute.get_strategy().num_replicas_in_sync < 2:
        return None
    return tf.distribute.get_replica_context()
