import numpy as np
import keras
import keras_hub
import pytest

from kerastune.layers import TransformerDecoderBlock, TransformerEncoderBlock
from tests.helpers import assert_keras_save_load, assert_layer_saves


def reference_block(block, x, causal, padding=None, normalize_first=True):
    """The same block from Keras built-ins with copied weights."""
    attn = keras.layers.MultiHeadAttention(block.num_heads, x.shape[-1] // block.num_heads)
    attn(x, x)
    for name, src in (("query", "_query_dense"), ("key", "_key_dense"), ("value", "_value_dense"), ("attention_output", "_output_dense")):
        getattr(attn, src).kernel.assign(getattr(block.self_attention, name).kernel)
        getattr(attn, src).bias.assign(getattr(block.self_attention, name).bias)
    ln1, ln2 = block.self_attention_norm, block.feed_forward_norm
    ff1, ff2 = block.feed_forward_intermediate, block.feed_forward_output
    mask = None if padding is None else np.broadcast_to(padding[:, None, :], (x.shape[0], x.shape[1], x.shape[1]))

    def ffn(h):
        return ff2(ff1(h))

    if normalize_first:
        h = ln1(x)
        x = x + attn(h, h, attention_mask=mask, use_causal_mask=causal)
        return x + ffn(ln2(x))
    x = ln1(x + attn(x, x, attention_mask=mask, use_causal_mask=causal))
    return ln2(x + ffn(x))


@pytest.mark.parametrize("cls,causal", [(TransformerEncoderBlock, False), (TransformerDecoderBlock, True)])
@pytest.mark.parametrize("normalize_first", [True, False])
def test_matches_reference_from_keras_builtins(cls, causal, normalize_first):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 16)).astype("float32")
    padding = np.array([[1, 1, 1, 1, 1, 0], [1] * 6], bool)
    block = cls(num_heads=4, intermediate_dim=32, normalize_first=normalize_first)
    out = block(x, padding_mask=padding)
    expected = reference_block(block, x, causal, padding, normalize_first)
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected), atol=1e-5)


def test_decoder_output_at_t_ignores_inputs_after_t():
    rng = np.random.default_rng(1)
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=16)
    x = rng.normal(size=(1, 8, 8)).astype("float32")
    changed = x.copy()
    changed[:, 5:] = rng.normal(size=(1, 3, 8))
    a, b = np.asarray(block(x)), np.asarray(block(changed))
    np.testing.assert_allclose(a[:, :5], b[:, :5], atol=1e-6)
    assert not np.allclose(a[:, 5:], b[:, 5:])


def test_decoder_block_with_a_cache_matches_its_full_pass_and_the_encoder_refuses_one():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 8)).astype("float32")
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=16, normalize_first=False)
    cache = np.zeros((2, 2, 5, 2, 4), "float32")
    first, cache = block(x[:, :2], cache=cache, cache_update_index=0)
    rest = []
    for t in range(2, 5):
        out, cache = block(x[:, t:t + 1], cache=cache, cache_update_index=t)
        rest.append(np.asarray(out))
    np.testing.assert_allclose(np.concatenate([np.asarray(first)] + rest, axis=1), np.asarray(block(x)), atol=1e-5)
    encoder = TransformerEncoderBlock(num_heads=2, intermediate_dim=16)
    with pytest.raises(ValueError, match="attends in both directions"):
        encoder(x, cache=cache, cache_update_index=0)


def test_encoder_output_depends_on_later_inputs():
    rng = np.random.default_rng(1)
    block = TransformerEncoderBlock(num_heads=2, intermediate_dim=16)
    x = rng.normal(size=(1, 8, 8)).astype("float32")
    changed = x.copy()
    changed[:, 7] = rng.normal(size=(1, 8))
    assert not np.allclose(np.asarray(block(x))[:, 0], np.asarray(block(changed))[:, 0])


def test_dropout_is_active_only_in_training():
    x = np.random.default_rng(2).normal(size=(2, 5, 8)).astype("float32")
    block = TransformerEncoderBlock(num_heads=2, intermediate_dim=16, dropout=0.5)
    np.testing.assert_allclose(np.asarray(block(x)), np.asarray(block(x)))
    assert not np.allclose(np.asarray(block(x, training=True)), np.asarray(block(x)))


def test_rejects_heads_that_do_not_divide_hidden():
    with pytest.raises(ValueError, match="not divisible by num_heads=3"):
        TransformerEncoderBlock(num_heads=3, intermediate_dim=16)(np.zeros((1, 2, 8), "float32"))


@pytest.mark.parametrize("cls", [TransformerEncoderBlock, TransformerDecoderBlock])
def test_serialization(cls, tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    block = cls(num_heads=2, intermediate_dim=16, normalize_first=False, dropout=0.1)
    assert_layer_saves(block, x, tmp_path)


@pytest.mark.parametrize("cls", [TransformerEncoderBlock, TransformerDecoderBlock])
def test_trains_under_mixed_bfloat16(cls):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    inputs = keras.Input((5, 8))
    outputs = keras.layers.Dense(1, dtype="float32")(cls(num_heads=2, intermediate_dim=16)(inputs))
    model = keras.Model(inputs, outputs)
    # eager: mixed precision is what is checked; the models' tests compile the blocks with XLA
    model.compile(optimizer="adam", loss="mse", run_eagerly=True)
    x = np.random.default_rng(0).normal(size=(8, 5, 8)).astype("float32")
    history = model.fit(x, np.zeros((8, 5, 1)), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.layers[1].feed_forward_output.kernel.dtype == "float32"


KERAS_HUB_NAMES = {  # our sublayer names -> keras_hub.layers.TransformerDecoder's
    "self_attention_norm": "self_attention_layer_norm", "cross_attention_norm": "cross_attention_layer_norm",
    "feed_forward_intermediate": "feedforward_intermediate_dense", "feed_forward_output": "feedforward_output_dense",
    "feed_forward_norm": "feedforward_layer_norm",
}


@pytest.mark.parametrize("normalize_first", [True, False])
def test_decoder_with_an_encoder_sequence_matches_keras_hubs_transformer_decoder(normalize_first):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 16)).astype("float32")
    source = rng.normal(size=(2, 7, 24)).astype("float32")  # the encoder may be wider than the decoder
    source_padding = np.array([[1] * 7, [1, 1, 1, 1, 0, 0, 0]], bool)
    block = TransformerDecoderBlock(num_heads=4, intermediate_dim=32, normalize_first=normalize_first)
    out = block(x, encoder_sequence=source, encoder_padding_mask=source_padding)
    reference = keras_hub.layers.TransformerDecoder(intermediate_dim=32, num_heads=4, activation="gelu",
                                                     normalize_first=normalize_first)
    reference(x, source)
    theirs = {w.path.split("/", 1)[1]: w for w in reference.weights}
    assert len(theirs) == len(block.weights) == 26
    for weight in block.weights:
        owner, rest = weight.path.split("/", 2)[1:]
        weight.assign(rng.normal(0.0, 0.3, weight.shape).astype("float32"))  # away from the initial values
        theirs[f"{KERAS_HUB_NAMES.get(owner, owner)}/{rest}"].assign(weight)
    expected = reference(x, source, encoder_padding_mask=source_padding)
    got = block(x, encoder_sequence=source, encoder_padding_mask=source_padding)
    assert not np.allclose(np.asarray(got), np.asarray(out))
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-4)
    # The padded source positions count for nothing: changing them changes no output.
    changed = source.copy()
    changed[1, 4:] = 100.0
    np.testing.assert_allclose(np.asarray(block(x, encoder_sequence=changed, encoder_padding_mask=source_padding)),
                               np.asarray(got), atol=1e-5)


def test_cross_attention_is_for_decoders_saves_and_is_needed_at_every_call(tmp_path):
    rng = np.random.default_rng(4)
    x, source = rng.normal(size=(2, 5, 8)).astype("float32"), rng.normal(size=(2, 3, 8)).astype("float32")
    with pytest.raises(ValueError, match="TransformerEncoderBlock has no cross-attention"):
        TransformerEncoderBlock(num_heads=2, intermediate_dim=16)(x, encoder_sequence=source)
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=16)
    block(x, encoder_sequence=source)
    with pytest.raises(ValueError, match="was built with cross-attention, so it needs an encoder_sequence"):
        block(x)
    plain = TransformerDecoderBlock(num_heads=2, intermediate_dim=16)
    plain(x)
    with pytest.raises(ValueError, match="was built without cross-attention"):
        plain(x, encoder_sequence=source)
    inputs = [keras.Input((5, 8)), keras.Input((3, 8))]
    model = keras.Model(inputs, TransformerDecoderBlock(num_heads=2, intermediate_dim=16)(
        inputs[0], encoder_sequence=inputs[1]))
    assert_keras_save_load(model, [x, source], tmp_path)  # rebuilt with its cross-attention, same outputs
