"""One vector per text from a BERT-style backbone's outputs: the pooler, the [CLS] vector or a masked mean.

The text classifier's head and the sentence encoder pool the same way: `pooled_backbone` builds the
pooled graph of a functional model, `pool_features` pools outputs the model's own way at serving time.
"""

import keras
from keras import ops

from kerastune.api import register
from kerastune.models.backbone_task import freeze_unused_pooler
from kerastune.models.bert_encoder import INPUT_NAMES

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
        mean_pooling: the model's `MaskedMeanPooling` layer (used for `"mean"`), or a model built by
            `pooled_backbone` (its `mean_pooling` layer is looked up).

    Returns:
        (batch, hidden).
    """
    if pooling == "pooled":
        return features["pooled_output"]
    if pooling == "cls":
        return features["sequence_output"][:, 0, :]
    if isinstance(mean_pooling, keras.Model):
        mean_pooling = mean_pooling.get_layer("mean_pooling")
    return mean_pooling(features["sequence_output"], padding_mask)


def pooled_backbone(backbone, pooling):
    """`(inputs, pooled)`: symbolic backbone inputs and one vector per text, for a functional model's graph.

    Checks `pooling`; with `"mean"` or `"cls"` the backbone's unused pooler is set `trainable=False`, and
    `"mean"` adds a `MaskedMeanPooling` layer named `mean_pooling` (what `pool_features` of the built model
    finds again).
    """
    check_pooling(pooling)
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in INPUT_NAMES}
    features = backbone(inputs)
    if pooling != "pooled":
        freeze_unused_pooler(backbone)
    mean_pooling = MaskedMeanPooling(name="mean_pooling") if pooling == "mean" else None
    return inputs, pool_features(pooling, features, inputs["padding_mask"], mean_pooling)
