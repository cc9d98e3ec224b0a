"""Fixed sinusoidal position encoding (Vaswani et al., 2017, section 3.5)."""

import keras
from keras import ops

from kerastune.api import register


@register
class SinusoidalPositionEncoding(keras.layers.Layer):
    """The fixed encoding `PE(pos, 2i) = sin(pos / 10000^(2i/d_model))`,
    `PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model))`.

    Returns the encodings for the positions of its input, to be added to token embeddings.
    It has no weights, so any sequence length works.

    Args:
        max_wavelength: float, the base (10000 in the paper).
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: (batch, sequence_length, d_model) embeddings (only the shape is used).
        start_index: int, position of the first element (for incremental decoding).

    Returns:
        (batch, sequence_length, d_model) encodings in the layer's compute dtype.

    Example:

    >>> x = keras.ops.zeros((2, 10, 16))
    >>> SinusoidalPositionEncoding()(x).shape
    (2, 10, 16)
    """

    def __init__(self, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        if max_wavelength <= 0:
            raise ValueError(f"max_wavelength must be positive; received {max_wavelength!r}")
        self.max_wavelength = float(max_wavelength)

    def call(self, inputs, start_index=0):
        shape = ops.shape(inputs)
        length, d_model = shape[-2], shape[-1]
        positions = ops.cast(ops.arange(length) + start_index, "float32")[:, None]  # (seq, 1)
        dims = ops.arange(d_model)
        # 2i for both members of a (sin, cos) pair.
        even = ops.cast(dims - dims % 2, "float32")
        angles = positions / ops.power(self.max_wavelength, even / ops.cast(d_model, "float32"))
        encoding = ops.where(dims % 2 == 0, ops.sin(angles), ops.cos(angles))  # (seq, d_model)
        encoding = ops.broadcast_to(encoding, shape)
        return ops.cast(encoding, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config
