"""One vector per text from a BERT-style backbone's outputs: the pooler, the [CLS] vector or a masked mean.

The text classifier's head and the sentence encoder pool the same way, through `pool_features`.
"""

import keras
from keras import ops

from kerastune.api import register

POOLINGS = ("pooled", "mean", "cls")


def check_pooling(pooling):
    """Raises a clear error unless `pooling` is one of `POOLINGS`."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}: 'mean' averages the unpadded positions, 'cls' takes "
                         f"the [CLS] vector, 'pooled' the backbone's tanh pooler on it. Received: pooling={pooling!r}")


@register
class MaskedMeanPooling(keras.layers.Layer):
    """Mean of the sequence output over real (unpadded) positions.

    Call arguments:
        sequence_output: float tensor (batch, seq, hidden).
        padding_mask: int/bool tensor (batch, seq), 1 for real tokens.

    Returns:
        (batch, hidden).

    Example:

    >>> import numpy as np
    >>> x = np.array([[[1.0], [3.0], [100.0]]], "float32")
    >>> MaskedMeanPooling()(x, np.array([[1, 1, 0]])).numpy().tolist()
    [[2.0]]
    """

    def call(self, sequence_output, padding_mask):
        # (batch, seq, 1) by expand_dims: LiteRT has no new-axis slice
        mask = ops.expand_dims(ops.cast(padding_mask, sequence_output.dtype), -1)
        total = ops.sum(sequence_output * mask, axis=1)  # (batch, hidden)
        count = ops.maximum(ops.sum(mask, axis=1), 1.0)  # (batch, 1)
        return total / count

    def compute_output_shape(self, sequence_output_shape, padding_mask_shape=None):
        return (sequence_output_shape[0], sequence_output_shape[-1])


def pool_features(pooling, features, padding_mask, mean_pooling=None):
    """One vector per text: the backbone's pooler output, the raw [CLS] vector or `mean_pooling`'s.

    Args:
        pooling: one of `POOLINGS`.
        features: the backbone's output dict, `sequence_output` (batch, seq, hidden) and, for
            `"pooled"`, `pooled_output` (batch, hidden).
        padding_mask: int/bool (batch, seq), 1 for real tokens.
        mean_pooling: the model's `MaskedMeanPooling` layer (used for `"mean"`).

    Returns:
        (batch, hidden).
    """
    if pooling == "pooled":
        return features["pooled_output"]
    if pooling == "cls":
        return features["sequence_output"][:, 0, :]
    return mean_pooling(features["sequence_output"], padding_mask)
