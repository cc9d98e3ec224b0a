import keras
import keras_hub
import numpy as np
import pytest

from kerastune.peft import apply_peft, load_adapter, merged_for_export, peft_weights, save_adapter
from kerastune.peft.adapter_file import base_weights_fingerprint
from kerastune.peft.prefix_tuning import PrefixProjection
from kerastune.models import GPT
from tests.helpers import assert_layer_saves, randomize_weights
from tests.layers.test_multi_head_attention import numpy_rotary
from tests.peft.test_parameter_efficient import INPUTS, _classifier, _fit


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def test_a_keras_hub_attention_layer_attends_to_the_prefix_as_the_formula_says():
    model = _classifier()
    apply_peft(model, "prefix", prefix_length=3, reparameterize=False)
    rng = np.random.default_rng(0)
    randomize_weights(peft_weights(model), rng)
    block = model.backbone.get_layer("transformer_layer_0")
    attention = block._self_attention_layer
    x = rng.normal(size=(2, 5, 8)).astype("float32")
    mask = np.ones((2, 5, 5), bool)
    mask[1, :, 3:] = False  # the second example has 3 real tokens
    got = _numpy(attention(query=x, value=x, attention_mask=mask))

    def project(dense, inputs):
        kernel, bias = (_numpy(v) for v in dense.weights[:2])
        return np.einsum("abc,cde->abde", inputs, kernel) + bias

    q = project(attention._query_dense, x)
    k = np.concatenate([np.broadcast_to(_numpy(attention._key_dense.prefix), (2, 3, 2, 4)),
                        project(attention._key_dense.layer, x)], axis=1)
    v = np.concatenate([np.broadcast_to(_numpy(attention._value_dense.prefix), (2, 3, 2, 4)),
                        project(attention._value_dense.layer, x)], axis=1)
    scores = np.einsum("bthd,bshd->bhts", q, k) / np.sqrt(4)
    full_mask = np.concatenate([np.ones((2, 5, 3), bool), mask], axis=-1)[:, None]  # prefix always visible
    scores = np.where(full_mask, scores, -1e9)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    context = np.einsum("bhts,bshd->bthd", weights, v)
    out_kernel, out_bias = (_numpy(w) for w in attention._output_dense.weights[:2])
    expected = np.einsum("abcd,cde->abe", context, out_kernel) + out_bias
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_prefix_tuning_trains_merges_its_mlp_for_export_and_reloads_exactly(tmp_path):
    model = _classifier()
    apply_peft(model, "prefix", prefix_length=4, reparameterize=True)
    trained = {w.path for w in model.trainable_weights} - {"logits/kernel", "logits/bias"}
    assert trained and all("_prefix/" in p for p in trained)
    base = base_weights_fingerprint(model)
    _fit(model)
    assert base_weights_fingerprint(model) == base
    adapted = _numpy(model(INPUTS))
    with merged_for_export(model):
        np.testing.assert_allclose(model(INPUTS), adapted, atol=1e-5)  # the MLP's prefix, stored once
    path = str(tmp_path / "prefix.safetensors")
    save_adapter(model, path)
    fresh = _classifier()
    load_adapter(fresh, path)
    np.testing.assert_array_equal(fresh(INPUTS), adapted)


def test_kerastunes_own_rotary_attention_attends_to_an_unrotated_prefix_as_the_formula_says():
    gpt = GPT(vocabulary_size=11, sequence_length=6, num_layers=1, num_heads=2, hidden_dim=8,
              position_encoding="rotary", rotary_max_wavelength=100)
    apply_peft(gpt, "prefix", prefix_length=3, reparameterize=False)
    rng = np.random.default_rng(3)
    randomize_weights(peft_weights(gpt), rng)
    attention = gpt.blocks[0].self_attention
    x = rng.normal(size=(2, 6, 8)).astype("float32")
    got = _numpy(attention(x, x, use_causal_mask=True))

    def project(dense):
        return np.einsum("btc,chd->bthd", x, _numpy(dense.kernel)) + _numpy(dense.bias)

    q = numpy_rotary(project(attention.query), 100.0)
    k = np.concatenate([np.broadcast_to(_numpy(attention.key.prefix), (2, 3, 2, 4)),  # no position: not rotated
                        numpy_rotary(project(attention.key.layer), 100.0)], axis=1)
    v = np.concatenate([np.broadcast_to(_numpy(attention.value.prefix), (2, 3, 2, 4)),
                        project(attention.value.layer)], axis=1)
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(4)
    visible = np.concatenate([np.ones((6, 3), bool), np.tril(np.ones((6, 6), bool))], axis=1)  # prefix + causal
    scores = np.where(visible, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    heads = np.einsum("bhqk,bkhd->bqhd", weights, v)
    expected = np.einsum("bqhd,hde->bqe", heads, _numpy(attention.attention_output.kernel))
    expected += _numpy(attention.attention_output.bias)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="is prefix-tuned and brings its own prefix; pass key_prefix=None"):
        attention(x, x, key_prefix=np.zeros((1, 2, 2, 4), "float32"), value_prefix=np.zeros((1, 2, 2, 4), "float32"))


def test_prefix_tuning_on_kerastunes_own_encoder_trains_and_reloads_exactly(tmp_path):
    model = _classifier(own_encoder=True)
    apply_peft(model, "prefix", prefix_length=2, reparameterize=True)
    trained = {w.path for w in model.trainable_weights} - {"logits/kernel", "logits/bias"}
    assert trained and all("_prefix/" in p for p in trained)
    base = base_weights_fingerprint(model)
    before = _numpy(model(INPUTS))
    _fit(model)
    adapted = _numpy(model(INPUTS))
    assert base_weights_fingerprint(model) == base and not np.allclose(adapted, before)
    with merged_for_export(model):
        np.testing.assert_allclose(model(INPUTS), adapted, atol=1e-5)
    path = str(tmp_path / "prefix.safetensors")
    save_adapter(model, path)
    fresh = _classifier(own_encoder=True)
    load_adapter(fresh, path)
    np.testing.assert_array_equal(fresh(INPUTS), adapted)


def test_backbones_without_multi_head_attention_are_told_to_use_another_method():
    from kerastune.peft.prefix_tuning import pad_attention_mask

    with pytest.raises(ValueError, match="Prefix tuning needs the key / value projections of keras.layers.MultiHead"):
        pad_attention_mask(keras.layers.Dense(4, name="not_attention"), 2)


def test_serializes_and_saves(tmp_path):
    base = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 4))
    base.build((None, None, 8))
    prefix = PrefixProjection(base, prefix_length=2, reparameterize=True, hidden_dim=4)
    assert tuple(prefix(np.zeros((3, 5, 8), "float32")).shape) == (3, 7, 2, 4)
    assert_layer_saves(prefix, np.random.default_rng(1).normal(size=(3, 5, 8)).astype("float32"), tmp_path)
    with pytest.raises(ValueError, match="prefix_length must be a positive int. Received: prefix_length=0"):
        PrefixProjection(base, prefix_length=0)
