"""Prefix tuning (Li & Liang, 2021): learned key / value vectors every query may attend to, per layer."""

import keras
from keras import ops

from kerastune.api import register
from kerastune.layers.multi_head_attention import MultiHeadAttention
from kerastune.peft.projection_wrapper import ProjectionWrapper


@register
class PrefixProjection(ProjectionWrapper):
    """A frozen key or value projection whose output gets `prefix_length` learned vectors in front.

    `y = concat([prefix, layer(x)], axis=1)`: (batch, prefix_length + seq, heads, head_dim). With
    `reparameterize`, the prefix is `MLP(E)` (E: (prefix_length, width), a tanh MLP of
    `hidden_dim`), which the paper (section 4.3) found trains more stably; `merge()` computes it once
    and keeps only the result (what an export needs). The attention layer must also let every query
    see the prefix: `apply_peft(..., "prefix")` pads a Keras attention layer's mask
    (`pad_attention_mask`); kerastune's own `MultiHeadAttention` takes the prefix from this wrapper
    itself (unrotated, ahead of the keys) and pads its masks.

    Args:
        layer: a built `keras.layers.EinsumDense` with output (batch, seq, heads, head_dim).
        prefix_length: int, the number of prefix vectors.
        reparameterize: bool, train the prefix through an MLP.
        hidden_dim: int, the MLP's width.

    Example:

    >>> base = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 4))
    >>> base.build((None, None, 8))
    >>> PrefixProjection(base, prefix_length=3)(keras.random.normal((5, 7, 8))).shape
    (5, 10, 2, 4)
    """

    def __init__(self, layer, prefix_length=16, reparameterize=False, hidden_dim=128, **kwargs):
        if not isinstance(prefix_length, int) or prefix_length < 1:
            raise ValueError(f"prefix_length must be a positive int. Received: prefix_length={prefix_length!r}")
        super().__init__(layer, "prefix", **kwargs)
        self.prefix_length = prefix_length
        self.reparameterize = bool(reparameterize)
        self.hidden_dim = hidden_dim
        self._build_now()

    def build(self, input_shape=None):
        super().build(input_shape)
        heads_shape = tuple(int(d) for d in self.layer.kernel.shape[1:])  # (heads, head_dim)
        if len(heads_shape) != 2:
            raise ValueError(f"Prefix tuning adapts multi-head key / value projections with a (width, heads, head_dim) "
                             f"kernel. Received: {self.layer.name!r} with kernel shape {tuple(self.layer.kernel.shape)}")
        self.heads_shape = heads_shape
        initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.prefix = self.add_weight(name="prefix", shape=(self.prefix_length,) + heads_shape, initializer=initializer,
                                      dtype="float32", trainable=not self.reparameterize)
        if self.reparameterize:
            width = int(self.layer.kernel.shape[0])
            self.prefix_embedding = self.add_weight(name="prefix_embedding", shape=(self.prefix_length, width),
                                                    initializer=initializer, dtype="float32")
            self.prefix_hidden = keras.layers.Dense(self.hidden_dim, activation="tanh", name="prefix_hidden",
                                                    dtype=self.dtype_policy)
            self.prefix_output = keras.layers.Dense(heads_shape[0] * heads_shape[1], name="prefix_output",
                                                    dtype=self.dtype_policy)
            self.prefix_hidden.build((None, width))
            self.prefix_output.build((None, self.hidden_dim))

    def prefix_values(self):
        """The prefix vectors, (prefix_length, heads, head_dim)."""
        if not self.reparameterize:
            return self.prefix
        hidden = self.prefix_output(self.prefix_hidden(self.prefix_embedding))
        return ops.reshape(hidden, (self.prefix_length,) + self.heads_shape)

    def merge(self):
        """Stores the MLP's prefix as the prefix itself and drops the MLP from the computation."""
        if self.reparameterize:
            self.prefix.assign(ops.cast(self.prefix_values(), "float32"))
            self.reparameterize = False

    def call(self, inputs, training=None):
        outputs = self.layer(inputs)  # (batch, seq, heads, head_dim)
        prefix = ops.cast(self.prefix_values(), outputs.dtype)[None]  # (1, prefix, heads, head_dim)
        prefix = ops.broadcast_to(prefix, (ops.shape(outputs)[0],) + tuple(prefix.shape[1:]))
        return ops.concatenate([prefix, outputs], axis=1)

    def compute_output_shape(self, input_shape):
        batch, length = input_shape[0], input_shape[1]
        return (batch, None if length is None else length + self.prefix_length) + self.heads_shape

    def get_config(self):
        return {**super().get_config(), "prefix_length": self.prefix_length, "reparameterize": self.reparameterize,
                "hidden_dim": self.hidden_dim}


class _PaddedAttentionMask:
    """Stands in for a Keras `MultiHeadAttention`'s `_compute_attention`: the attention mask
    (batch, queries, keys) gets `prefix_length` columns of ones in front, for the prefix keys."""

    def __init__(self, compute_attention, prefix_length):
        self.compute_attention = compute_attention
        self.prefix_length = prefix_length

    def __call__(self, query, key, value, attention_mask=None, *args, **kwargs):
        if attention_mask is not None:
            batch, queries = ops.shape(attention_mask)[0], ops.shape(attention_mask)[1]
            ones = ops.ones((batch, queries, self.prefix_length), dtype=attention_mask.dtype)
            attention_mask = ops.concatenate([ones, attention_mask], axis=-1)  # (batch, queries, prefix + keys)
        return self.compute_attention(query, key, value, attention_mask, *args, **kwargs)


def pad_attention_mask(attention, prefix_length):
    """Lets every query of an attention layer attend to `prefix_length` prefix keys in front of its keys.

    kerastune's own `MultiHeadAttention` (its `BertEncoder` and `GPT`) takes a prefix-tuned key / value
    projection's prefix itself, unrotated, and pads its masks: nothing to do. A Keras
    `MultiHeadAttention` (KerasHub's BERT blocks use it) gets its attention mask padded here.
    """
    if isinstance(attention, MultiHeadAttention):
        return
    if not isinstance(attention, keras.layers.MultiHeadAttention):
        raise ValueError(
            "Prefix tuning needs the key / value projections of keras.layers.MultiHeadAttention (KerasHub backbones) "
            f"or kerastune.layers.MultiHeadAttention; {type(attention).__name__} is neither. Use peft='lora' or "
            f"'adapter' for this backbone. Received: {attention.name!r}"
        )
    attention._compute_attention = _PaddedAttentionMask(attention._compute_attention, prefix_length)
