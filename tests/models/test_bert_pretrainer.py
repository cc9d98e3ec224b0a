import keras
import numpy as np
import pytest

from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.bert_pretrainer import BertPretrainer
from tests.helpers import assert_config_round_trip, assert_keras_save_load

VOCAB = 30


def build(next_sentence=True):
    encoder = BertEncoder(VOCAB, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16,
                          dropout=0.0)
    return BertPretrainer(encoder, dropout=0.0, next_sentence=next_sentence), encoder


def batch():
    rng = np.random.default_rng(1)
    x = {"token_ids": rng.integers(5, VOCAB, (2, 7)).astype("int32"), "segment_ids": np.zeros((2, 7), "int32"),
         "padding_mask": np.array([[1] * 7, [1] * 5 + [0] * 2], "int32"),
         "mask_positions": np.array([[1, 4, 0], [2, 0, 0]], "int32")}
    y = {"mlm": np.array([[7, 9, 0], [11, 0, 0]], "int32"), "nsp": np.array([1, 0], "int32")}
    w = {"mlm": np.array([[1, 1, 0], [1, 0, 0]], "float32"), "nsp": np.array([1, 0], "float32")}
    return x, y, w


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def hand_mlm_loss(mlm_logits):
    """-[log P(7 | pos 1) + log P(9 | pos 4) + log P(11 | pos 2 of ex 2)] / 3: the masked slots of `batch()`."""
    lp = log_softmax(keras.ops.convert_to_numpy(mlm_logits))
    return -(lp[0, 0, 7] + lp[0, 1, 9] + lp[1, 0, 11]) / 3


def test_mlm_loss_is_minus_mean_log_p_over_masked_positions_only():
    model, _ = build()
    model.compile(jit_compile=True)  # the masked LM recipe's default: the loss as XLA computes it
    x, y, w = batch()
    out = {k: keras.ops.convert_to_numpy(v) for k, v in model(x).items()}
    mlm = hand_mlm_loss(out["mlm"])
    nsp = -log_softmax(out["nsp"])[0, 1]  # only example 0 has a second segment
    result = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["loss"], mlm + nsp, rtol=1e-5)
    np.testing.assert_allclose(result["mlm_loss"], mlm, rtol=1e-5)
    # padded mask slots and unmasked / padded tokens weigh nothing: change them, same loss
    y2 = {"mlm": np.where(w["mlm"] > 0, y["mlm"], 3), "nsp": np.array([1, 1], "int32")}
    x2 = dict(x, token_ids=np.where(x["padding_mask"] > 0, x["token_ids"], 17))
    np.testing.assert_allclose(model.evaluate(x2, y2, sample_weight=w, verbose=0, return_dict=True)["loss"],
                               result["loss"], rtol=1e-5)


def test_mlm_head_is_tied_to_the_token_embedding(tmp_path):
    model, encoder = build()
    x, _, _ = batch()
    head = model.masked_lm_head
    assert head.token_embedding is encoder.token_embedding
    matrices = [v for v in model.weights if tuple(v.shape) == (VOCAB, 8)]
    assert matrices == [encoder.token_embedding.embeddings]  # one (vocab, hidden) matrix: no untied output copy
    before = keras.ops.convert_to_numpy(model(x)["mlm"])
    encoder.token_embedding.embeddings.assign(encoder.token_embedding.embeddings * 2.0)
    assert not np.allclose(keras.ops.convert_to_numpy(model(x)["mlm"]), before)
    assert_config_round_trip(model)
    loaded = assert_keras_save_load(model, x, tmp_path, atol=1e-5)
    assert loaded.masked_lm_head.token_embedding is loaded.encoder.token_embedding


def test_without_next_sentence_the_loss_is_the_masked_lm_alone_and_no_nsp_head_exists(tmp_path):
    model, encoder = build(next_sentence=False)
    model.compile(run_eagerly=True)  # the loss arithmetic is checked; the test above runs it under XLA
    x, y, w = batch()
    assert set(model(x)) == {"mlm"}
    assert not any("nsp" in v.path for v in model.weights)
    pooler = {id(v) for v in encoder.pooled_dense.weights}
    assert encoder.pooled_dense.trainable  # the encoder is left as it was ...
    assert not pooler & {id(v) for v in model.trainable_weights}  # ... but MLM alone never trains the pooler
    assert pooler <= {id(v) for v in model.non_trainable_weights}
    mlm = hand_mlm_loss(model(x)["mlm"])
    result = model.evaluate(x, {"mlm": y["mlm"]}, sample_weight={"mlm": w["mlm"]}, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["loss"], mlm, rtol=1e-5)
    assert not any(k.startswith("nsp") for k in result)
    assert_config_round_trip(model)
    loaded = assert_keras_save_load(model, x, tmp_path, atol=1e-5)
    assert loaded.next_sentence is False


def test_targets_that_do_not_match_the_heads_are_a_clear_error():
    model, _ = build()  # with NSP
    model.compile()
    x, y, w = batch()
    with pytest.raises(ValueError, match="next_sentence=True"):
        model.fit(x, {"mlm": y["mlm"]}, sample_weight={"mlm": w["mlm"]}, verbose=0)
