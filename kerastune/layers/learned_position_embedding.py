"""Learned absolute position embeddings (GPT, BERT)."""

import keras
from keras import ops

from kerastune.api import register


@register
class LearnedPositionEmbedding(keras.layers.Layer):
    """A trainable vector per position, `P[pos]`, added to token embeddings (GPT-2, BERT).

    Args:
        sequence_length: int, the longest sequence the layer can encode.
        initializer: initializer for the (sequence_length, d_model) table.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: (batch, length, d_model) embeddings (only the shape is used); `length` must be
            at most `sequence_length`.
        start_index: int, position of the first element (for incremental decoding).

    Returns:
        (batch, length, d_model) position embeddings.

    Example:

    >>> x = keras.ops.zeros((2, 10, 16))
    >>> LearnedPositionEmbedding(sequence_length=64)(x).shape
    (2, 10, 16)
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(sequence_length, int) or sequence_length < 1:
            raise ValueError(f"sequence_length must be a positive integer; received {sequence_length!r}")
        self.sequence_length = sequence_length
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.position_embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, input_shape[-1]),
            initializer=self.initializer,
        )
        self.built = True

    def call(self, inputs, start_index=0):
        shape = ops.shape(inputs)
        length = shape[-2]
        if isinstance(length, int) and isinstance(start_index, int) and start_index + length > self.sequence_length:
            raise ValueError(
                f"sequence of length {length} starting at {start_index} is longer than this layer's "
                f"sequence_length={self.sequence_length}; crop the input or build a model with a "
                f"longer sequence_length"
            )
        table = ops.convert_to_tensor(self.position_embeddings)
        if isinstance(start_index, int) and start_index == 0 and isinstance(length, int):
            positions = table[:length]
        else:
            # A gather, not a slice: under XLA a slice's start must be known when compiling, so a start
            # that moves at every decoding step would compile the step again for each one.
            positions = ops.take(table, ops.arange(length) + start_index, axis=0)
        return ops.broadcast_to(ops.cast(positions, self.compute_dtype), shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config
