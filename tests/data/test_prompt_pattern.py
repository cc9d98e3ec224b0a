import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.bert_inputs import tokenize_and_pack
from kerastune.data.prompt_pattern import PromptPattern, PromptTokenizer, verbalizer_token_ids

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "it", "was", ".", "a", "good", "bad", "film",
              "great", "##ly", "news", ":", "very"]


def tokenizer():
    return keras_hub.tokenizers.BertTokenizer(vocabulary=VOCABULARY, lowercase=True)


@pytest.mark.parametrize("pattern", ["It was [MASK].", "<text> <text> [MASK]", "<text> [MASK] [MASK]", "", 3])
def test_pattern_needs_one_text_and_one_mask(pattern):
    with pytest.raises(ValueError, match="pattern"):
        PromptPattern(pattern)


def test_cloze_ids_put_the_mask_after_the_text_and_never_truncate_it():
    tok = PromptTokenizer(tokenizer(), "<text> It was [MASK].", sequence_length=8)  # 4 pattern pieces
    ids, _, _ = tokenize_and_pack(tok, tf.constant(["good film", "a very very very very good film"]), None, 8)
    ids = ids.to_list()
    assert ids[0] == [2, 9, 11, 5, 6, 4, 7, 3]
    assert ids[1] == [2, 8, 16, 5, 6, 4, 7, 3]  # the text cut to 2 pieces, the pattern whole


def test_mask_before_the_text():
    tok = PromptTokenizer(tokenizer(), "[MASK] news: <text>", sequence_length=16)
    ids, _, _ = tokenize_and_pack(tok, tf.constant(["bad film"]), None, 16)
    assert ids.to_list()[0] == [2, 4, 14, 15, 10, 11, 3]


def test_pattern_too_long_for_the_sequence_is_an_error():
    with pytest.raises(ValueError, match="no room for the text"):
        PromptTokenizer(tokenizer(), "<text> It was very very good , a [MASK].", sequence_length=8)


def test_verbalizer_ids_and_several_words_per_label():
    assert verbalizer_token_ids(["bad", "good"], tokenizer()) == [[10], [9]]
    assert verbalizer_token_ids({"neg": "bad", "pos": ["good", "great"]}, tokenizer()) == [[10], [9, 12]]


@pytest.mark.parametrize("verbalizer, match", [
    (["bad", "goodly"], "2 word pieces"),  # good ##ly
    (["bad", "awful"], "UNK"),
    (["bad"], "at least 2"),
    (["bad", ""], "non-empty"),
])
def test_verbalizer_words_must_be_single_known_pieces(verbalizer, match):
    with pytest.raises(ValueError, match=match):
        verbalizer_token_ids(verbalizer, tokenizer())


def test_wrapped_tokenizer_keeps_the_tokenizer_attributes():
    tok = PromptTokenizer(tokenizer(), "<text> It was [MASK].", sequence_length=16)
    assert tok.cls_token_id == 2 and tok.mask_token_id == 4
    assert tok.get_vocabulary() == VOCABULARY
    np.testing.assert_array_equal(tok(tf.constant(["good"])).to_list(), [[9, 5, 6, 4, 7]])
