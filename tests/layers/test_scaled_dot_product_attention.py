import numpy as np
import pytest

from kerastune.layers import ScaledDotProductAttention, causal_mask
from tests.helpers import assert_layer_saves


def numpy_attention(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    scores = scores - scores.max(-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(-1, keepdims=True)
    return weights @ v, weights


def test_matches_numpy_formula():
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, 3, 5, 8)).astype("float32") for _ in range(3))
    out = ScaledDotProductAttention()(q, k, v)
    np.testing.assert_allclose(np.asarray(out), numpy_attention(q, k, v)[0], atol=1e-5)


def test_causal_mask_matches_numpy_and_zeroes_future_weights():
    rng = np.random.default_rng(1)
    q, k, v = (rng.normal(size=(2, 6, 4)).astype("float32") for _ in range(3))
    out, weights = ScaledDotProductAttention()(q, k, v, use_causal_mask=True, return_attention_scores=True)
    tril = np.tril(np.ones((6, 6), bool))
    expected, expected_w = numpy_attention(q, k, v, tril)
    np.testing.assert_allclose(np.asarray(out), expected, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(weights)[:, ~tril], 0.0)
    np.testing.assert_allclose(np.asarray(weights), expected_w, atol=1e-6)


def test_padding_mask_gives_padded_keys_no_weight():
    rng = np.random.default_rng(2)
    q, k, v = (rng.normal(size=(2, 5, 4)).astype("float32") for _ in range(3))
    padding = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    mask = padding[:, None, :]
    out, weights = ScaledDotProductAttention()(q, k, v, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(out), numpy_attention(q, k, v, mask)[0], atol=1e-5)
    assert np.all(np.asarray(weights)[0, :, 3:] == 0.0)


def test_causal_mask_with_longer_keys_offsets_queries():
    mask = np.asarray(causal_mask(2, 4))
    np.testing.assert_array_equal(mask, [[1, 1, 1, 0], [1, 1, 1, 1]])


def test_rejects_bad_dropout():
    with pytest.raises(ValueError, match="dropout must be in"):
        ScaledDotProductAttention(dropout=1.5)


def test_serialization(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 4, 8)).astype("float32")
    assert_layer_saves(ScaledDotProductAttention(dropout=0.1), (x, x, x), tmp_path)
