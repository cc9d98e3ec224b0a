"""Scaled dot-product attention, softmax(Q K^T / sqrt(d_k)) V (Vaswani et al., 2017, eq. 1)."""

import math

import keras
from keras import ops

from kerastune.api import register

MASKED_SCORE = -1e9


def causal_mask(query_length, key_length, dtype="bool", query_start=None):
    """(query_length, key_length) lower-triangular mask: position t attends to keys <= t.

    When `key_length > query_length` (keys include earlier context, e.g. prefixes), query i sits
    at absolute position `key_length - query_length + i`, or at `query_start + i` when
    `query_start` is given (an int or scalar tensor: the queries' place in a key/value cache whose
    later slots are not filled yet).
    """
    if query_start is None:
        query_start = key_length - query_length
    rows = ops.arange(query_length)[:, None] + query_start
    cols = ops.arange(key_length)[None, :]
    return ops.cast(rows >= cols, dtype)


def merge_masks(attention_mask=None, padding_mask=None, use_causal_mask=False, query_length=None, key_length=None):
    """Combines masks into one boolean (batch, 1 or query, key) mask, True where attention is allowed.

    Args:
        attention_mask: None or (batch, query, key) bool/int, True/1 = attend.
        padding_mask: None or (batch, key) bool/int, True/1 = a real (not padded) key.
        use_causal_mask: bool, also forbid attending to later positions.
        query_length, key_length: ints or scalar tensors, needed when `use_causal_mask`.
    """
    mask = None
    if padding_mask is not None:
        mask = ops.cast(padding_mask, "bool")[:, None, :]  # (batch, 1, key)
    if attention_mask is not None:
        attention_mask = ops.cast(attention_mask, "bool")
        mask = attention_mask if mask is None else ops.logical_and(mask, attention_mask)
    if use_causal_mask:
        causal = causal_mask(query_length, key_length)[None, :, :]  # (1, query, key)
        mask = causal if mask is None else ops.logical_and(mask, causal)
    return mask


@register
class ScaledDotProductAttention(keras.layers.Layer):
    """Scaled dot-product attention: `softmax(Q K^T / sqrt(d_k)) V`.

    Masked positions get a score of -1e9 before the softmax (so they receive exactly zero weight).
    The softmax runs in float32 whatever the compute dtype, so mixed precision stays stable.
    Reference: Vaswani et al., "Attention Is All You Need", 2017, section 3.2.1.

    Args:
        dropout: float, dropout on the attention weights during training.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        query: (..., query_length, d_k).
        key: (..., key_length, d_k).
        value: (..., key_length, d_v).
        attention_mask: optional boolean mask broadcastable to (..., query_length, key_length);
            True where a query may attend to a key.
        use_causal_mask: bool, forbid attending to later positions (decoder self-attention).
        training: bool, whether dropout is active.
        return_attention_scores: bool, also return the attention weights.

    Returns:
        (..., query_length, d_v), and the weights (..., query_length, key_length) when asked.

    Example:

    >>> q = k = v = keras.random.normal((2, 5, 8))
    >>> ScaledDotProductAttention()(q, k, v, use_causal_mask=True).shape
    (2, 5, 8)
    """

    def __init__(self, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); received {dropout!r}")
        self.dropout = dropout
        self._dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy) if dropout else None

    def call(
        self,
        query,
        key,
        value,
        attention_mask=None,
        use_causal_mask=False,
        training=None,
        return_attention_scores=False,
    ):
        depth = query.shape[-1]
        # (..., query_length, key_length)
        scores = ops.matmul(query, ops.swapaxes(key, -1, -2))
        scores = ops.cast(scores, "float32") * (1.0 / math.sqrt(depth))
        mask = attention_mask
        if use_causal_mask:
            causal = causal_mask(ops.shape(query)[-2], ops.shape(key)[-2])
            mask = causal if mask is None else ops.logical_and(ops.cast(mask, "bool"), causal)
        if mask is not None:
            # -1e9 in float32: exp(-1e9 - max) is exactly 0, and a query whose keys are all masked
            # (a padded row) gets uniform weights instead of NaN.
            scores = ops.where(ops.cast(mask, "bool"), scores, MASKED_SCORE)
        weights = ops.softmax(scores, axis=-1)
        weights = ops.cast(weights, self.compute_dtype)
        dropped = self._dropout_layer(weights, training=training) if self._dropout_layer else weights
        output = ops.matmul(dropped, value)
        if return_attention_scores:
            return output, weights
        return output

    def compute_output_shape(self, query_shape, key_shape, value_shape, **kwargs):
        return tuple(query_shape[:-1]) + (value_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({"dropout": self.dropout})
        return config
