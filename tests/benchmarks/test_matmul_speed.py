"""benchmarks/matmul_speed.py: the encoder's own matmuls, checked against the kernels of a real KerasHub BERT."""

import math
import os
import sys

import keras_hub
import numpy as np

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.insert(0, os.path.abspath(BENCHMARKS))

import matmul_speed  # noqa: E402


def test_encoder_matmul_weights_are_every_kernel_of_each_bert_layer_once_and_each_layer_its_own():
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=3, num_heads=2, hidden_dim=8, intermediate_dim=24, max_sequence_length=16
    )
    layers = matmul_speed.encoder_matmul_weights(3, 8, 24)
    assert len(layers) == 3
    for i, weights in enumerate(layers):
        kernels = [w for w in backbone.weights if f"transformer_layer_{i}/" in w.path and w.path.endswith("kernel")]
        assert sum(int(np.prod(w.shape)) for w in weights) == sum(int(np.prod(w.shape)) for w in kernels)
    # a forward pass reads every layer's own weights: no variable is shared between layers
    assert len({id(w) for weights in layers for w in weights}) == 3 * 4


def test_encoder_matmul_gflops_times_a_pass_of_every_kernel():
    speed = matmul_speed.encoder_matmul_gflops(4, 2, 8, 24, seconds=0.01, jit_compile=(False,))
    assert math.isfinite(speed) and speed > 0
