"""Transformer layers written from the formulas, in Keras 3 `keras.ops`."""

from kerastune.layers.scaled_dot_product_attention import ScaledDotProductAttention, causal_mask
from kerastune.layers.multi_head_attention import MultiHeadAttention
from kerastune.layers.sinusoidal_position_encoding import SinusoidalPositionEncoding
from kerastune.layers.learned_position_embedding import LearnedPositionEmbedding
from kerastune.layers.transformer_encoder_block import TransformerEncoderBlock
from kerastune.layers.transformer_decoder_block import TransformerDecoderBlock
from kerastune.layers.patch_embedding import PatchEmbedding

__all__ = [
    "ScaledDotProductAttention",
    "causal_mask",
    "MultiHeadAttention",
    "SinusoidalPositionEncoding",
    "LearnedPositionEmbedding",
    "TransformerEncoderBlock",
    "TransformerDecoderBlock",
    "PatchEmbedding",
]
