import keras
import numpy as np
import pytest

from kerastune.peft.low_rank_projection import LowRankProjection
from kerastune.peft.projections import low_rank_equations
from tests.helpers import assert_layer_saves, randomize_weights


def _dense(units=6, width=8, **kwargs):
    layer = keras.layers.Dense(units, **kwargs)
    layer.build((None, width))
    return layer


def _randomise(layer, seed=0):
    randomize_weights((layer.lora_a, layer.lora_b) + ((layer.magnitude,) if layer.use_dora else ()), seed)


def test_lora_on_dense_matches_the_formula():
    base = _dense(activation="relu")
    lora = LowRankProjection(base, rank=3, alpha=6.0)
    x = np.random.default_rng(1).normal(size=(4, 8)).astype("float32")
    np.testing.assert_allclose(lora(x), base(x), atol=1e-6)  # B = 0: the base model
    _randomise(lora)
    w, b = (keras.ops.convert_to_numpy(v) for v in (base.kernel, base.bias))
    a, bb = keras.ops.convert_to_numpy(lora.lora_a), keras.ops.convert_to_numpy(lora.lora_b)
    expected = np.maximum(x @ w + 2.0 * (x @ a) @ bb + b, 0.0)  # scale alpha / rank = 2
    np.testing.assert_allclose(lora(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lora.merged_kernel(), w + 2.0 * a @ bb, rtol=1e-5, atol=1e-6)


def test_lora_factors_the_whole_matrix_of_a_multi_head_projection():
    base = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 4), bias_axes="de")
    base.build((None, None, 8))
    lora = LowRankProjection(base, rank=2)
    assert tuple(lora.lora_a.shape) == (8, 2) and tuple(lora.lora_b.shape) == (2, 2, 4)  # (inputs, r), (r, heads, dim)
    _randomise(lora)
    x = np.random.default_rng(2).normal(size=(3, 5, 8)).astype("float32")
    delta = (keras.ops.convert_to_numpy(lora.lora_a) @ keras.ops.convert_to_numpy(lora.lora_b).reshape(2, 8))
    kernel = keras.ops.convert_to_numpy(base.kernel).reshape(8, 8) + 8.0 * delta
    expected = (x @ kernel).reshape(3, 5, 2, 4) + keras.ops.convert_to_numpy(base.bias)
    np.testing.assert_allclose(lora(x), expected, rtol=1e-4, atol=1e-4)


def test_output_projection_equations_contract_heads_and_head_dim():
    base = keras.layers.EinsumDense("abcd,cde->abe", output_shape=(None, 8))
    base.build((None, None, 2, 4))
    assert low_rank_equations(base) == ("abcd,cdr->abr", "abr,re->abe", "cdr,re->cde")


def test_dora_matches_the_formula_and_starts_at_the_base():
    base = _dense(units=5, width=7)
    dora = LowRankProjection(base, rank=2, alpha=2.0, use_dora=True)
    x = np.random.default_rng(3).normal(size=(4, 7)).astype("float32")
    w = keras.ops.convert_to_numpy(base.kernel)
    np.testing.assert_allclose(dora.magnitude, np.linalg.norm(w, axis=0), rtol=1e-6)
    np.testing.assert_allclose(dora(x), base(x), atol=1e-5)
    _randomise(dora, seed=4)
    a, bb, m = (keras.ops.convert_to_numpy(v) for v in (dora.lora_a, dora.lora_b, dora.magnitude))
    v = w + a @ bb
    expected = x @ (m * v / np.linalg.norm(v, axis=0)) + keras.ops.convert_to_numpy(base.bias)
    np.testing.assert_allclose(dora(x), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(x @ keras.ops.convert_to_numpy(dora.merged_kernel()), expected
                               - keras.ops.convert_to_numpy(base.bias), rtol=1e-4, atol=1e-4)


def test_dropout_only_touches_the_update_in_training():
    base = _dense()
    lora = LowRankProjection(base, rank=2, dropout=0.5)
    _randomise(lora)
    x = np.ones((64, 8), "float32")
    inference = keras.ops.convert_to_numpy(lora(x, training=False))
    training = keras.ops.convert_to_numpy(lora(x, training=True))
    assert not np.allclose(training, inference)
    lora_free = keras.ops.convert_to_numpy(LowRankProjection(base, rank=2)(x))  # a new zero-B update: the base
    np.testing.assert_allclose(lora_free, base(x), atol=1e-6)


def test_weights_are_float32_under_a_pure_bfloat16_policy():
    base = keras.layers.Dense(4, dtype="bfloat16")
    base.build((None, 8))
    lora = LowRankProjection(base, rank=2, use_dora=True)
    assert {w.dtype for w in (lora.lora_a, lora.lora_b, lora.magnitude)} == {"float32"}
    assert lora(np.ones((2, 8), "float32")).dtype == "bfloat16"


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="rank must be a positive int. Received: rank=0"):
        LowRankProjection(_dense(), rank=0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\). Received: dropout=1.0"):
        LowRankProjection(_dense(), dropout=1.0)


@pytest.mark.parametrize("use_dora", [False, True])
def test_serializes_and_saves(tmp_path, use_dora):
    lora = LowRankProjection(_dense(), rank=2, use_dora=use_dora)
    _randomise(lora)
    assert_layer_saves(lora, np.random.default_rng(5).normal(size=(3, 8)).astype("float32"), tmp_path)
