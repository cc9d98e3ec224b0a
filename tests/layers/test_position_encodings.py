import math

import numpy as np
import pytest

from kerastune.layers import LearnedPositionEmbedding, SinusoidalPositionEncoding
from tests.helpers import assert_layer_saves


def test_sinusoidal_matches_the_paper_formula():
    length, d_model = 12, 10
    out = np.asarray(SinusoidalPositionEncoding()(np.zeros((2, length, d_model), "float32")))
    expected = np.zeros((length, d_model))
    for pos in range(length):
        for i in range(d_model // 2):
            expected[pos, 2 * i] = math.sin(pos / 10000 ** (2 * i / d_model))
            expected[pos, 2 * i + 1] = math.cos(pos / 10000 ** (2 * i / d_model))
    np.testing.assert_allclose(out[0], expected, atol=1e-5)
    np.testing.assert_allclose(out[1], expected, atol=1e-5)


def test_sinusoidal_start_index_shifts_positions():
    layer = SinusoidalPositionEncoding()
    full = np.asarray(layer(np.zeros((1, 8, 6), "float32")))
    tail = np.asarray(layer(np.zeros((1, 3, 6), "float32"), start_index=5))
    np.testing.assert_allclose(tail[0], full[0, 5:], atol=1e-5)


def test_learned_positions_slice_the_table():
    layer = LearnedPositionEmbedding(sequence_length=8)
    out = np.asarray(layer(np.zeros((2, 5, 4), "float32")))
    table = np.asarray(layer.position_embeddings)
    np.testing.assert_allclose(out[1], table[:5])
    shifted = np.asarray(layer(np.zeros((1, 2, 4), "float32"), start_index=3))
    np.testing.assert_allclose(shifted[0], table[3:5])


def test_learned_positions_reject_too_long_input():
    layer = LearnedPositionEmbedding(sequence_length=4)
    with pytest.raises(ValueError, match="longer than this layer's sequence_length=4"):
        layer(np.zeros((1, 6, 4), "float32"))


def test_serialization(tmp_path):
    x = np.zeros((2, 5, 4), "float32")
    assert_layer_saves(SinusoidalPositionEncoding(max_wavelength=500.0), x, tmp_path)
    assert_layer_saves(LearnedPositionEmbedding(sequence_length=8), x, tmp_path)
