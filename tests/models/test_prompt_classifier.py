import keras
import keras_hub
import numpy as np
import pytest

from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.bert_pretrainer import TiedMaskedLMHead
from kerastune.models.prompt_classifier import PromptClassifier
from tests.helpers import assert_config_round_trip, assert_keras_save_load

MASK = 4
VERBALIZER = [[7], [8, 9]]  # label 1 has two words: its score is log(P(8) + P(9))


def inputs():
    rng = np.random.default_rng(0)
    token_ids = rng.integers(5, 40, (3, 6)).astype("int32")
    token_ids[0, 4], token_ids[1, 1], token_ids[2, 5] = MASK, MASK, MASK
    padding_mask = np.ones((3, 6), "int32")
    padding_mask[1, 3:] = 0
    return {"token_ids": token_ids, "segment_ids": np.zeros((3, 6), "int32"), "padding_mask": padding_mask}


def kerastune_model():
    encoder = BertEncoder(40, 1, 2, 8, 16, dropout=0.0, max_sequence_length=16)
    head = TiedMaskedLMHead(encoder.token_embedding, name="masked_lm_head")
    return PromptClassifier(encoder, head, VERBALIZER, mask_token_id=MASK)


def keras_hub_model():
    backbone = keras_hub.models.BertBackbone(40, 1, 2, 8, 16, dropout=0.0, max_sequence_length=16)
    head = keras_hub.layers.MaskedLMHead(token_embedding=backbone.token_embedding, intermediate_activation="gelu")
    return PromptClassifier(backbone, head, VERBALIZER, mask_token_id=MASK)


@pytest.mark.parametrize("build", [kerastune_model, keras_hub_model])
def test_scores_are_log_probabilities_of_the_label_words_at_the_mask(build):
    model = build()
    x = inputs()
    for v in model.masked_lm_head.weights:  # random output bias etc., so the check is not trivial
        v.assign(np.random.default_rng(1).normal(0, 0.5, v.shape).astype("float32"))
    scores = keras.ops.convert_to_numpy(model(x))
    # independent computation: the head's vocabulary logits at the [MASK] found with numpy
    sequence = model.backbone(x)["sequence_output"]
    positions = np.argmax(x["token_ids"] == MASK, axis=1)[:, None].astype("int32")
    logits = keras.ops.convert_to_numpy(model.masked_lm_head(sequence, positions))[:, 0, :].astype("float64")
    log_probs = logits - logits.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    expected = np.stack([log_probs[:, 7], np.log(np.exp(log_probs[:, 8]) + np.exp(log_probs[:, 9]))], axis=1)
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert (scores < 0).all()


def test_learns_a_toy_cloze_task():
    keras.utils.set_random_seed(0)
    model = kerastune_model()
    x = inputs()
    rng = np.random.default_rng(2)
    token_ids = rng.integers(10, 40, (32, 5)).astype("int32")
    labels = (token_ids[:, 0] % 2).astype("int32")  # label from the first token
    token_ids[:, 3] = MASK
    x = {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids), "padding_mask": np.ones_like(token_ids)}
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, labels, batch_size=16, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9


@pytest.mark.parametrize("build", [kerastune_model, keras_hub_model])
def test_round_trips_and_saves(build, tmp_path):
    model = build()
    for v in model.masked_lm_head.weights:
        v.assign(np.random.default_rng(3).normal(0, 0.5, v.shape).astype("float32"))
    assert_config_round_trip(model)
    loaded = assert_keras_save_load(model, inputs(), tmp_path, atol=1e-5)
    assert loaded.verbalizer_token_ids == VERBALIZER


@pytest.mark.parametrize("verbalizer, match", [([[7]], "at least 2"), ([[7], []], "at least one"), ([[7], [99]], "outside")])
def test_bad_verbalizer_ids(verbalizer, match):
    encoder = BertEncoder(40, 1, 2, 8, 16, max_sequence_length=16)
    with pytest.raises(ValueError, match=match):
        PromptClassifier(encoder, TiedMaskedLMHead(encoder.token_embedding), verbalizer, mask_token_id=MASK)
