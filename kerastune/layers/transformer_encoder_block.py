"""Transformer encoder block: bidirectional self-attention + feed-forward."""

from kerastune.api import register
from kerastune.layers.transformer_block import TransformerBlock


@register
class TransformerEncoderBlock(TransformerBlock):
    """A Transformer encoder block (Vaswani et al., 2017; BERT): every position attends to every
    non-padded position, then a position-wise feed-forward network; each sublayer has a residual
    connection and layer normalisation (pre-LN by default, post-LN with `normalize_first=False`).

    Args:
        num_heads: int, attention heads; must divide the hidden size.
        intermediate_dim: int, the feed-forward network's inner size (usually 4 x hidden).
        dropout: float, dropout on attention weights and on each sublayer's output.
        activation: feed-forward activation (default exact GELU, Hendrycks & Gimpel 2016).
        layer_norm_epsilon: float.
        normalize_first: bool, pre-LN (True) or post-LN (False).
        use_bias: bool, biases in projections and layer-norm offsets (nanoGPT's `bias`).
        kernel_initializer: initializer for the kernels.
        output_kernel_initializer: initializer for the two residual-branch output kernels
            (attention W^O and the feed-forward's second kernel); default `kernel_initializer`.
        rotary_max_wavelength: None, or rotary positions (RoPE) in self-attention with this longest
            wavelength (e.g. 10000); then the model needs no added position embedding.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: (batch, seq, hidden).
        padding_mask: optional (batch, seq) bool/int, True/1 for real tokens.
        attention_mask: optional (batch, seq, seq) bool, True = may attend.
        key_prefix, value_prefix: optional prefix-tuning vectors (see `MultiHeadAttention`).
        training: bool.

    Returns:
        (batch, seq, hidden).

    Example:

    >>> x = keras.random.normal((2, 7, 32))
    >>> TransformerEncoderBlock(num_heads=4, intermediate_dim=64)(x).shape
    (2, 7, 32)
    """

    causal = False
