"""Causal Transformer decoder block (GPT): masked self-attention + feed-forward."""

from kerastune.api import register
from kerastune.layers.transformer_block import TransformerBlock


@register
class TransformerDecoderBlock(TransformerBlock):
    """A causal Transformer block (GPT's, or with cross-attention a Transformer decoder): position t attends only to
    positions <= t, then a position-wise feed-forward network; each sublayer has a residual
    connection and layer normalisation (pre-LN by default as in GPT-2, post-LN available).

    Because of the causal mask, the output at position t does not depend on inputs after t.

    Args and call arguments: those of `TransformerEncoderBlock` (the shared `TransformerBlock`);
    a given `attention_mask` (batch, seq, seq) is combined with the causal mask. For incremental
    decoding it also takes `cache` ((batch, 2, cache_length, num_heads, head_dim) keys and values of
    earlier positions) and `cache_update_index` (where `inputs` start in it), as
    `MultiHeadAttention` does, and then returns `(outputs, updated_cache)`. For an encoder-decoder
    model, `encoder_sequence` ((batch, source_length, encoder_dim), the encoder's output) and its
    optional `encoder_padding_mask` ((batch, source_length), True on real tokens) add a cross-attention
    sublayer after self-attention (Vaswani et al., 2017, section 3.1); a block built with one needs one
    at every call.

    Returns:
        (batch, seq, hidden) [, the updated cache].

    Example:

    >>> x = keras.random.normal((2, 7, 32))
    >>> TransformerDecoderBlock(num_heads=4, intermediate_dim=64)(x).shape
    (2, 7, 32)
    >>> source = keras.random.normal((2, 9, 48))
    >>> TransformerDecoderBlock(num_heads=4, intermediate_dim=64)(x, encoder_sequence=source).shape
    (2, 7, 32)
    """

    causal = True
