"""LoRA and DoRA: a trainable low-rank update beside a frozen projection."""

import keras
from keras import ops

from kerastune.api import register
from kerastune.peft.projection_wrapper import ProjectionWrapper
from kerastune.peft.projections import bias_and_activation, low_rank_equations, project, projection_equation


@register
class LowRankProjection(ProjectionWrapper):
    """A Dense / EinsumDense projection plus a low-rank update: LoRA (Hu et al., 2021) or DoRA (Liu et al., 2024).

    LoRA: `y = x W + (alpha / rank) * dropout(x) A B (+ bias)`, with A (inputs..., rank) He-uniform
    and B (rank, outputs...) zero, so training starts from the base model. The update runs in
    activation space (two thin projections, `project`), so the frozen kernel gets no gradient. DoRA splits the
    adapted kernel `V = W + (alpha / rank) A B` into a direction and a trained magnitude m
    (one per output feature, initialised to the column norms of W):
    `y = (m / ||V||) * (x W + (alpha / rank) * dropout(x) A B) (+ bias)`, where `||V||` is taken over
    the input axes and, as in the paper (section 4.3), held constant in the backward pass.

    The new weights are float32 whatever the projection's policy (`variable_dtype_policy`). Unlike
    Keras's `enable_lora`, this gives LoRA dropout, DoRA, and the paper's factorisation of the whole
    (inputs, outputs) matrix for multi-head EinsumDense kernels (Keras factors per head).

    Args:
        layer: a built `keras.layers.Dense` or `keras.layers.EinsumDense` (the frozen base).
        rank: int, the rank r of the update.
        alpha: float, the update's scale is `alpha / rank`.
        dropout: float, dropout on the update's input.
        use_dora: bool, DoRA's trained magnitude.

    Example:

    >>> base = keras.layers.Dense(4)
    >>> base.build((None, 8))
    >>> lora = LowRankProjection(base, rank=2)
    >>> x = keras.random.normal((3, 8))
    >>> bool(keras.ops.all(keras.ops.isclose(lora(x), base(x))))  # B starts at zero
    True
    """

    def __init__(self, layer, rank=8, alpha=16.0, dropout=0.0, use_dora=False, **kwargs):
        if not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank must be a positive int. Received: rank={rank!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
        super().__init__(layer, "dora" if use_dora else "lora", **kwargs)
        self.rank = rank
        self.alpha = float(alpha)
        self.dropout = float(dropout)
        self.use_dora = bool(use_dora)
        self.scale = self.alpha / rank
        self.update_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="update_dropout")
        self._build_now()

    def build(self, input_shape=None):
        super().build(input_shape)
        self.down_equation, self.up_equation, self.merge_equation = low_rank_equations(self.layer)
        contracted = len(self.merge_equation.split(",")[0]) - 1  # A's input axes: "cdr" -> 2
        kernel_shape = tuple(self.layer.kernel.shape)
        self.input_axes = tuple(range(contracted))
        self.lora_a = self.add_weight(
            name="lora_a", shape=kernel_shape[:contracted] + (self.rank,),
            initializer=keras.initializers.HeUniform(), dtype="float32",
        )
        self.lora_b = self.add_weight(
            name="lora_b", shape=(self.rank,) + kernel_shape[contracted:], initializer="zeros", dtype="float32"
        )
        if self.use_dora:
            self.magnitude = self.add_weight(
                name="magnitude", shape=kernel_shape[contracted:], dtype="float32",
                initializer=lambda shape, dtype: self._column_norm(ops.convert_to_tensor(self.layer.kernel)),
            )

    def _column_norm(self, kernel):
        kernel = ops.cast(kernel, "float32")
        return ops.sqrt(ops.sum(ops.square(kernel), axis=self.input_axes))  # (outputs...)

    def kernel_update(self):
        """The update as a kernel: `(alpha / rank) * A B`, shaped like the base kernel."""
        return self.scale * ops.einsum(self.merge_equation, self.lora_a, self.lora_b)

    def merged_kernel(self):
        """The single kernel that computes what this layer computes (without dropout)."""
        kernel = ops.cast(self.layer.kernel, "float32") + ops.cast(self.kernel_update(), "float32")
        if self.use_dora:
            kernel = kernel * (self.magnitude / self._column_norm(kernel))
        return kernel

    def call(self, inputs, training=None):
        outputs = project(projection_equation(self.layer), inputs, self.layer.kernel)
        update = project(self.down_equation, self.update_dropout(inputs, training=training), self.lora_a)
        outputs = outputs + self.scale * project(self.up_equation, update, self.lora_b)
        if self.use_dora:
            norm = ops.stop_gradient(self._column_norm(
                ops.convert_to_tensor(self.layer.kernel) + ops.cast(self.kernel_update(), self.layer.kernel.dtype)))
            outputs = outputs * ops.cast(self.magnitude / norm, outputs.dtype)  # (..., outputs...)
        return bias_and_activation(self.layer, outputs)

    def get_config(self):
        return {**super().get_config(), "rank": self.rank, "alpha": self.alpha, "dropout": self.dropout,
                "use_dora": self.use_dora}
