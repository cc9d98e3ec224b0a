"""benchmarks/serving.py's count of an encoder's work, checked against the weights of a real KerasHub BERT."""

import os
import sys

import keras_hub
import numpy as np
import pytest

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.insert(0, os.path.abspath(BENCHMARKS))

import serving  # noqa: E402


@pytest.mark.parametrize("length", [1, 7, 16])
def test_encoder_gflop_counts_every_matmul_weight_of_a_bert_once_per_token(length):
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16
    )
    # Every kernel of the transformer layers is one multiply-add per token per weight; each head's
    # scores (length x length x head_dim) and weighted sum (the same again) come on top.
    kernels = [w for w in backbone.weights if "transformer_layer" in w.path and w.path.endswith("kernel")]
    assert kernels, [w.path for w in backbone.weights]
    multiply_adds = length * sum(int(np.prod(w.shape)) for w in kernels)
    multiply_adds += backbone.num_layers * backbone.num_heads * 2 * length * length * (8 // backbone.num_heads)
    assert serving.encoder_gflop(2, 8, 16, length) == pytest.approx(2 * multiply_adds / 1e9)
