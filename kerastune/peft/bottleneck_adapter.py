"""Houlsby bottleneck adapters: a small residual MLP after a frozen projection."""

import keras

from kerastune.api import register
from kerastune.peft.projection_wrapper import ProjectionWrapper


@register
class BottleneckAdapter(ProjectionWrapper):
    """A projection followed by a bottleneck adapter (Houlsby et al., 2019, section 2.1):
    `h = layer(x); y = h + up(activation(down(h)))`.

    Placed after the attention output projection and after the feed-forward output projection,
    before the residual connection and layer norm of each block, as in the paper. Both adapter
    projections start near zero (truncated normal, stddev 0.01), so the adapter starts near the
    identity and training starts from the base model. Its weights are float32 whatever the
    projection's policy.

    Args:
        layer: a built `keras.layers.Dense` or `keras.layers.EinsumDense` whose output's last axis
            is the model width.
        adapter_size: int, the bottleneck width.
        activation: str, the bottleneck's non-linearity.

    Example:

    >>> base = keras.layers.Dense(8)
    >>> base.build((None, 8))
    >>> adapted = BottleneckAdapter(base, adapter_size=2)
    >>> adapted(keras.random.normal((3, 8))).shape
    (3, 8)
    """

    def __init__(self, layer, adapter_size=64, activation="gelu", **kwargs):
        if not isinstance(adapter_size, int) or adapter_size < 1:
            raise ValueError(f"adapter_size must be a positive int. Received: adapter_size={adapter_size!r}")
        super().__init__(layer, "adapter", **kwargs)
        self.adapter_size = adapter_size
        self.activation = keras.activations.get(activation)
        self._build_now()

    def build(self, input_shape=None):
        super().build(input_shape)
        width = int(self.layer.kernel.shape[-1])  # the model width (the projection's last output axis)
        common = dict(kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.01), dtype=self.dtype_policy)
        self.down = keras.layers.Dense(self.adapter_size, activation=self.activation, name="adapter_down", **common)
        self.up = keras.layers.Dense(width, name="adapter_up", **common)
        self.down.build((None, width))
        self.up.build((None, self.adapter_size))

    def call(self, inputs, training=None):
        hidden = self.layer(inputs)
        return hidden + self.up(self.down(hidden))

    def get_config(self):
        return {**super().get_config(), "adapter_size": self.adapter_size,
                "activation": keras.activations.serialize(self.activation)}
