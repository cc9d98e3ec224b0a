import numpy as np
import keras
import pytest

from kerastune.layers import MultiHeadAttention
from tests.helpers import assert_layer_saves


def copy_from_keras(ours, reference):
    for name in ("query", "key", "value"):
        src = getattr(reference, f"_{name}_dense")
        dst = getattr(ours, name)
        dst.kernel.assign(src.kernel)
        dst.bias.assign(src.bias)
    ours.attention_output.kernel.assign(reference._output_dense.kernel)
    ours.attention_output.bias.assign(reference._output_dense.bias)


@pytest.mark.parametrize("causal", [False, True])
def test_matches_keras_multi_head_attention_with_copied_weights(causal):
    rng = np.random.default_rng(0)
    query = rng.normal(size=(3, 7, 16)).astype("float32")
    value = query if causal else rng.normal(size=(3, 9, 16)).astype("float32")
    reference = keras.layers.MultiHeadAttention(num_heads=4, key_dim=5)
    expected = reference(query, value, use_causal_mask=causal)
    ours = MultiHeadAttention(num_heads=4, key_dim=5)
    ours(query, value)
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]
    copy_from_keras(ours, reference)
    actual = ours(query, value, use_causal_mask=causal)
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=1e-5)


def test_padding_mask_matches_keras_attention_mask():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 8)).astype("float32")
    padding = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    reference = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    expected = reference(x, x, attention_mask=np.broadcast_to(padding[:, None, :], (2, 6, 6)))
    ours = MultiHeadAttention(num_heads=2, key_dim=4)
    ours(x, x)
    copy_from_keras(ours, reference)
    np.testing.assert_allclose(np.asarray(ours(x, x, padding_mask=padding)), np.asarray(expected), atol=1e-5)


def test_prefix_is_attended_by_every_query_including_under_causal_mask():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 8)).astype("float32")
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    prefix_k = rng.normal(size=(1, 3, 2, 4)).astype("float32")
    prefix_v = rng.normal(size=(1, 3, 2, 4)).astype("float32")
    out, weights = layer(
        x, x, use_causal_mask=True, key_prefix=prefix_k, value_prefix=prefix_v, return_attention_scores=True
    )
    weights = np.asarray(weights)
    assert weights.shape == (2, 2, 5, 8)
    assert np.all(weights[..., :3] > 0)  # every query sees every prefix slot
    assert np.all(weights[:, :, 0, 4:] == 0)  # the first query still sees only itself among tokens


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_heads must be a positive integer; received 0"):
        MultiHeadAttention(num_heads=0, key_dim=4)


def test_serialization(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 4, 8)).astype("float32")
    assert_layer_saves(MultiHeadAttention(num_heads=2, key_dim=4), (x, x), tmp_path)


def test_runs_under_mixed_bfloat16():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    x = np.random.default_rng(0).normal(size=(2, 4, 8)).astype("float32")
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    out = layer(x, x, use_causal_mask=True)
    assert out.dtype == "bfloat16"
    assert layer.query.kernel.dtype == "float32"
    assert np.all(np.isfinite(np.asarray(keras.ops.cast(out, "float32"))))


def numpy_rotary(x, max_wavelength=10000.0):
    """RoPE on (batch, length, heads, dim), GPT-NeoX halves: feature i pairs with i + dim/2 and
    both rotate by angle pos / max_wavelength^(2i/dim)."""
    length, dim = x.shape[1], x.shape[-1]
    inverse_frequency = max_wavelength ** (-np.arange(0, dim, 2) / dim)  # (dim/2,)
    angles = np.arange(length)[:, None] * inverse_frequency[None, :]  # (length, dim/2)
    cos = np.cos(angles)[None, :, None, :]
    sin = np.sin(angles)[None, :, None, :]
    first, second = x[..., : dim // 2], x[..., dim // 2 :]
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def test_rotary_attention_matches_a_numpy_reference():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 6, 8)).astype("float32")
    layer = MultiHeadAttention(num_heads=2, key_dim=4, rotary_max_wavelength=100)
    out = np.asarray(layer(x, x, use_causal_mask=True))
    project = lambda dense: np.einsum("btc,chd->bthd", x, np.asarray(dense.kernel)) + np.asarray(dense.bias)
    q = numpy_rotary(project(layer.query), 100.0)
    k = numpy_rotary(project(layer.key), 100.0)
    v = project(layer.value)
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(4)
    scores = np.where(np.tril(np.ones((6, 6), bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    heads = np.einsum("bhqk,bkhd->bqhd", weights, v)
    expected = np.einsum("bqhd,hde->bqe", heads, np.asarray(layer.attention_output.kernel))
    expected += np.asarray(layer.attention_output.bias)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_rotary_scores_depend_only_on_relative_position():
    # The same token repeated: with RoPE the score of query t on key t - d is the same for every t.
    x = np.tile(np.random.default_rng(5).normal(size=(1, 1, 8)).astype("float32"), (1, 7, 1))
    layer = MultiHeadAttention(num_heads=2, key_dim=4, rotary_max_wavelength=10000)
    layer(x, x)
    q = np.asarray(layer.rotary_embedding(layer.query(x)))
    k = np.asarray(layer.rotary_embedding(layer.key(x)))
    scores = np.einsum("bqhd,bkhd->bhqk", q, k)[0]
    for offset in range(1, 4):
        diagonal = np.stack([np.diagonal(s, -offset) for s in scores])
        np.testing.assert_allclose(diagonal, diagonal[:, :1].repeat(diagonal.shape[1], 1), rtol=1e-4, atol=1e-5)
    assert not np.allclose(np.diagonal(scores[0], -1)[0], np.diagonal(scores[0], -3)[0])


def test_rotary_needs_an_even_head_size_and_round_trips(tmp_path):
    with pytest.raises(ValueError, match="even key_dim"):
        MultiHeadAttention(num_heads=2, key_dim=5, rotary_max_wavelength=10000)
    layer = MultiHeadAttention(num_heads=2, key_dim=4, rotary_max_wavelength=500)
    x = np.random.default_rng(6).normal(size=(2, 5, 8)).astype("float32")
    assert_layer_saves(layer, (x, x), tmp_path)


def _cached_outputs(layer, x, prefill, **kwargs):
    """The layer run over x as decoding does: the first `prefill` tokens at once, then one at a time."""
    batch, length = x.shape[:2]
    cache = np.zeros((batch, 2, length, layer.num_heads, layer.key_dim), "float32")
    out, cache = layer(x[:, :prefill], x[:, :prefill], cache=cache, cache_update_index=0, **kwargs)
    outputs = [np.asarray(out)]
    for t in range(prefill, length):
        out, cache = layer(x[:, t:t + 1], x[:, t:t + 1], cache=cache, cache_update_index=t, **kwargs)
        outputs.append(np.asarray(out))
    return np.concatenate(outputs, axis=1), np.asarray(cache)


@pytest.mark.parametrize("rotary", [None, 10000])
def test_cached_decoding_matches_causal_attention_over_the_whole_sequence(rotary):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 7, 16)).astype("float32")
    layer = MultiHeadAttention(num_heads=4, key_dim=4, rotary_max_wavelength=rotary)
    expected = np.asarray(layer(x, x, use_causal_mask=True))
    got, cache = _cached_outputs(layer, x, prefill=3)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # The cache holds the keys and values a full pass projects (rotated for the keys when rotary).
    keys = np.asarray(layer.key(x))
    if rotary:
        keys = np.asarray(layer.rotary_embedding(keys))
    np.testing.assert_allclose(cache[:, 0], keys, atol=1e-5)
    np.testing.assert_allclose(cache[:, 1], np.asarray(layer.value(x)), atol=1e-5)


def test_cached_decoding_ignores_what_later_slots_hold_and_keeps_prefixes():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 6, 8)).astype("float32")
    prefix = {"key_prefix": rng.normal(size=(1, 2, 2, 4)).astype("float32"),
              "value_prefix": rng.normal(size=(1, 2, 2, 4)).astype("float32")}
    layer = MultiHeadAttention(num_heads=2, key_dim=4, rotary_max_wavelength=100)
    expected = np.asarray(layer(x, x, use_causal_mask=True, **prefix))
    got, _ = _cached_outputs(layer, x, prefill=2, **prefix)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # Garbage in the slots after the new token changes nothing: they are masked, not zero-filled.
    garbage = rng.normal(size=(2, 2, 6, 2, 4)).astype("float32") * 100
    out, _ = layer(x[:, :4], x[:, :4], cache=garbage, cache_update_index=0, **prefix)
    np.testing.assert_allclose(np.asarray(out), expected[:, :4], atol=1e-4)


def test_cached_call_rejects_what_it_cannot_honour():
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    x = np.zeros((1, 1, 8), "float32")
    cache = np.zeros((1, 2, 4, 2, 4), "float32")
    with pytest.raises(ValueError, match="a cache needs cache_update_index"):
        layer(x, x, cache=cache)
    with pytest.raises(ValueError, match="builds its own causal mask over the cache; received padding_mask"):
        layer(x, x, cache=cache, cache_update_index=0, padding_mask=np.ones((1, 1), bool))
    with pytest.raises(ValueError, match="returns \\(output, cache\\), not attention scores"):
        layer(x, x, cache=cache, cache_update_index=0, return_attention_scores=True)
