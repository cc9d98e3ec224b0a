"""Multi-head attention: per-head Q/K/V projections, scaled dot-product attention, output W^O."""

import keras
import keras_hub
from keras import ops

from kerastune.api import register
from kerastune.layers.scaled_dot_product_attention import ScaledDotProductAttention, causal_mask, merge_masks


@register
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head attention, `MultiHead(Q, K, V) = Concat(head_1..head_h) W^O` with
    `head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)` (Vaswani et al., 2017, section 3.2.2).

    The projections are `keras.layers.EinsumDense` sublayers named `query`, `key`, `value` and
    `attention_output` with the same weight shapes as `keras.layers.MultiHeadAttention`, so weights
    copy across, and parameter-efficient methods can wrap them (`layer.query.enable_lora(rank)`).
    Prefix tuning passes learned `key_prefix` / `value_prefix` vectors that every query may attend to,
    either as call arguments or from a prefix-tuned key / value projection (one with a
    `prefix_values()` method and its base projection as `layer`: `kerastune.peft.PrefixProjection`).
    With `rotary_max_wavelength` set, queries and keys are rotated by their positions (RoPE, Su et al.
    2021, via `keras_hub.layers.RotaryEmbedding`) before the dot product, so attention scores depend
    on relative position; prefixes are not rotated (they have no position).
    For autoregressive decoding, a key/value `cache` holds every earlier position's projected (and
    rotated) keys and values, so each step projects only its new tokens (as KerasHub's
    `CachedMultiHeadAttention`); `kerastune.models.GPT.call_with_cache` threads one through each block.

    Args:
        num_heads: int, number of attention heads.
        key_dim: int, size of each head for query and key.
        value_dim: int or None, size of each head for value (default `key_dim`).
        output_dim: int or None, output size (default: the query's last dimension).
        dropout: float, dropout on the attention weights.
        use_bias: bool, whether the projections have biases.
        kernel_initializer: initializer for the Q/K/V kernels.
        output_kernel_initializer: initializer for W^O (default `kernel_initializer`); GPT-2 scales
            it by 1/sqrt(2 * num_layers) for residual projections.
        bias_initializer: initializer for the biases.
        rotary_max_wavelength: None (no rotary positions) or the longest RoPE wavelength, e.g. 10000.
            Positions count from 0 in both query and key, so use it for self-attention.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        query: (batch, query_length, query_dim).
        value: (batch, key_length, value_in_dim).
        key: optional (batch, key_length, key_in_dim), default `value`.
        attention_mask: optional (batch, query_length, key_length) bool, True = attend.
        padding_mask: optional (batch, key_length) bool, True = a real key (not padding).
        use_causal_mask: bool, forbid attending to later positions.
        key_prefix, value_prefix: optional (batch or 1, prefix_length, num_heads, head_dim) vectors
            prepended to the projected keys and values (prefix tuning, Li & Liang 2021).
        training: bool.
        return_attention_scores: bool, also return (batch, num_heads, query_length, key_length).
        cache: optional (batch, 2, cache_length, num_heads, head_dim) keys (index 0) and values
            (index 1) of self-attention at positions `0..cache_length - 1`. The new tokens' keys and
            values are written at `cache_update_index` onwards, and each new token attends to the
            cache's positions up to its own (causal). Slots after that may hold anything: they are
            never attended to. Takes no `padding_mask`, `attention_mask` or attention scores.
        cache_update_index: int or scalar int tensor, the position of the first query token in
            the cache (and its rotary position); needed with `cache`.

    Returns:
        (batch, query_length, output_dim) [, attention weights]; with a `cache`,
        `(output, updated_cache)`.

    Example:

    >>> x = keras.random.normal((2, 6, 16))
    >>> MultiHeadAttention(num_heads=4, key_dim=4)(x, x, use_causal_mask=True).shape
    (2, 6, 16)
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        output_dim=None,
        dropout=0.0,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        output_kernel_initializer=None,
        bias_initializer="zeros",
        rotary_max_wavelength=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for arg, value in (("num_heads", num_heads), ("key_dim", key_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be a positive integer; received {value!r}")
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.output_dim = output_dim
        self.dropout = dropout
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.output_kernel_initializer = keras.initializers.get(
            output_kernel_initializer or kernel_initializer
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.rotary_max_wavelength = rotary_max_wavelength
        self.rotary_embedding = None
        if rotary_max_wavelength is not None:
            if not key_dim % 2 == 0:
                raise ValueError(f"rotary positions need an even key_dim; received key_dim={key_dim}")
            self.rotary_embedding = keras_hub.layers.RotaryEmbedding(
                max_wavelength=rotary_max_wavelength, dtype=self.dtype_policy, name="rotary_embedding"
            )
        self.attention = ScaledDotProductAttention(dropout, dtype=self.dtype_policy, name="attention")

    def _projection(self, name, heads_dim, initializer):
        return keras.layers.EinsumDense(
            "abc,cde->abde",
            output_shape=(None, self.num_heads, heads_dim),
            bias_axes="de" if self.use_bias else None,
            kernel_initializer=keras.initializers.get(keras.initializers.serialize(initializer)),
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        output_dim = self.output_dim or query_shape[-1]
        self.query = self._projection("query", self.key_dim, self.kernel_initializer)
        self.query.build(query_shape)
        self.key = self._projection("key", self.key_dim, self.kernel_initializer)
        self.key.build(key_shape)
        self.value = self._projection("value", self.value_dim, self.kernel_initializer)
        self.value.build(value_shape)
        self.attention_output = keras.layers.EinsumDense(
            "abcd,cde->abe",
            output_shape=(None, output_dim),
            bias_axes="e" if self.use_bias else None,
            kernel_initializer=keras.initializers.get(
                keras.initializers.serialize(self.output_kernel_initializer)
            ),
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name="attention_output",
        )
        self.attention_output.build(tuple(query_shape[:-1]) + (self.num_heads, self.value_dim))
        self.built = True

    def call(
        self,
        query,
        value,
        key=None,
        attention_mask=None,
        padding_mask=None,
        use_causal_mask=False,
        key_prefix=None,
        value_prefix=None,
        training=None,
        return_attention_scores=False,
        cache=None,
        cache_update_index=None,
    ):
        key = value if key is None else key
        q = self.query(query)  # (batch, query_length, heads, key_dim)
        k, key_prefix = _project(self.key, key, key_prefix, "key_prefix")  # (batch, key_length, heads, key_dim)
        v, value_prefix = _project(self.value, value, value_prefix, "value_prefix")  # (..., value_dim)
        start = 0
        if cache is not None:
            _check_cache_call(cache_update_index, padding_mask, attention_mask, return_attention_scores)
            start = cache_update_index
        if self.rotary_embedding is not None:
            q, k = self.rotary_embedding(q, start_index=start), self.rotary_embedding(k, start_index=start)
        if cache is not None:
            # (batch, 2, new_length, heads, head_dim) written at `start`; then attend over all slots.
            cache = ops.slice_update(cache, [0, 0, start, 0, 0], ops.stack([k, v], axis=1))
            k, v = cache[:, 0], cache[:, 1]
            query_length, cache_length = ops.shape(q)[1], ops.shape(k)[1]
            allowed = causal_mask(query_length, cache_length, query_start=start)[None]
            attention_mask = ops.broadcast_to(allowed, (ops.shape(k)[0], query_length, cache_length))
            use_causal_mask = False
        if (key_prefix is None) != (value_prefix is None):
            raise ValueError("key_prefix and value_prefix must be given together")
        if key_prefix is not None:
            batch = ops.shape(k)[0]
            prefix_length = ops.shape(key_prefix)[1]
            k = ops.concatenate([_broadcast_batch(key_prefix, batch, k.dtype), k], axis=1)
            v = ops.concatenate([_broadcast_batch(value_prefix, batch, v.dtype), v], axis=1)
            if padding_mask is not None:
                ones = ops.ones((batch, prefix_length), "bool")
                padding_mask = ops.concatenate([ones, ops.cast(padding_mask, "bool")], axis=1)
            if attention_mask is not None:
                ones = ops.ones((batch, ops.shape(q)[1], prefix_length), "bool")
                attention_mask = ops.concatenate([ones, ops.cast(attention_mask, "bool")], axis=2)
        mask = merge_masks(
            attention_mask,
            padding_mask,
            use_causal_mask,
            query_length=ops.shape(q)[1],
            key_length=ops.shape(k)[1],
        )
        if mask is not None:
            mask = mask[:, None, :, :]  # (batch or 1, 1, query, key): the same for every head
        # (batch, heads, length, head_dim)
        q, k, v = (ops.transpose(t, (0, 2, 1, 3)) for t in (q, k, v))
        out, weights = self.attention(q, k, v, attention_mask=mask, training=training, return_attention_scores=True)
        out = ops.transpose(out, (0, 2, 1, 3))  # (batch, query_length, heads, value_dim)
        out = self.attention_output(out)
        if cache is not None:
            return out, cache
        if return_attention_scores:
            return out, weights
        return out

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        return tuple(query_shape[:-1]) + (self.output_dim or query_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "output_dim": self.output_dim,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "output_kernel_initializer": keras.initializers.serialize(self.output_kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "rotary_max_wavelength": self.rotary_max_wavelength,
            }
        )
        return config


def _check_cache_call(cache_update_index, padding_mask, attention_mask, return_attention_scores):
    if cache_update_index is None:
        raise ValueError("a cache needs cache_update_index: the position of the first new token in it")
    given = [name for name, value in (("padding_mask", padding_mask), ("attention_mask", attention_mask))
             if value is not None]
    if given:
        raise ValueError(f"a cached call builds its own causal mask over the cache; received {', '.join(given)}. "
                         "Pass only the new tokens and cache_update_index.")
    if return_attention_scores:
        raise ValueError("a cached call returns (output, cache), not attention scores; "
                         "call without a cache to get them")


def _broadcast_batch(prefix, batch, dtype):
    prefix = ops.cast(prefix, dtype)
    return ops.broadcast_to(prefix, (batch,) + tuple(prefix.shape[1:]))


def _project(projection, inputs, prefix, argument):
    """`(projection(inputs), prefix)`; a prefix-tuned projection gives its own prefix instead.

    Taken apart here, not inside the projection, so the prefix goes where call-argument prefixes go:
    ahead of the keys after the rotary embedding (prefixes have no position) and with room made in
    the padding and attention masks.
    """
    prefix_values = getattr(projection, "prefix_values", None)
    if prefix_values is None:
        return projection(inputs), prefix
    if prefix is not None:
        raise ValueError(f"{projection.name!r} is prefix-tuned and brings its own prefix; pass {argument}=None. "
                         f"Received: {argument} of shape {tuple(prefix.shape)}")
    return projection.layer(inputs), prefix_values()[None]  # (1, prefix_length, heads, head_dim)
