import keras_hub
import numpy as np
import pytest

from kerastune.models.backbones import load_backbone
from kerastune.models.backbone_directory import (
    load_backbone_directory, load_masked_lm_head, save_backbone_directory,
)
from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.bert_pretrainer import BertPretrainer
from tests.helpers import randomize_weights

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "peter", "paris", "went", "to"]


def test_round_trip_gives_the_same_encoder_and_tokenizer(tmp_path):
    encoder = BertEncoder(len(VOCAB), 1, 2, 8, 16, max_sequence_length=16)
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True)
    path = save_backbone_directory(encoder, tokenizer, tmp_path / "bb")
    with pytest.raises(FileExistsError, match="never overwritten"):
        save_backbone_directory(encoder, tokenizer, tmp_path / "bb")
    loaded, loaded_tokenizer = load_backbone(path, dropout=0.0)
    assert loaded.dropout == 0.0 and loaded.num_layers == 1
    assert loaded_tokenizer.get_vocabulary() == VOCAB
    assert np.asarray(loaded_tokenizer("Peter went to PARIS")).tolist() == [5, 7, 8, 6]
    x = {"token_ids": np.array([[2, 5, 7, 3]], "int32"), "segment_ids": np.zeros((1, 4), "int32"),
         "padding_mask": np.ones((1, 4), "int32")}
    np.testing.assert_allclose(loaded(x)["sequence_output"], encoder(x)["sequence_output"], atol=1e-6)
    with pytest.raises(FileNotFoundError, match="not a directory written by save_backbone_directory"):
        load_backbone_directory(tmp_path)


def test_masked_lm_head_round_trip_and_mismatch(tmp_path):
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True)
    pretrainer = BertPretrainer(BertEncoder(len(VOCAB), 1, 2, 8, 16, max_sequence_length=16), next_sentence=False)
    randomize_weights(pretrainer.masked_lm_head.weights)  # not the initial values, which a fresh head also has
    with_head = save_backbone_directory(pretrainer.encoder, tokenizer, tmp_path / "with_head",
                                        masked_lm_head=pretrainer.masked_lm_head)
    without_head = save_backbone_directory(pretrainer.encoder, tokenizer, tmp_path / "without_head")
    encoder, _ = load_backbone_directory(with_head)
    restored = BertPretrainer(encoder, next_sentence=False)
    assert not load_masked_lm_head(without_head, restored.masked_lm_head)
    assert load_masked_lm_head(with_head, restored.masked_lm_head)
    for mine, theirs in zip(restored.masked_lm_head.weights, pretrainer.masked_lm_head.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    wider = BertPretrainer(BertEncoder(len(VOCAB), 1, 2, 12, 16, max_sequence_length=16), next_sentence=False)
    with pytest.raises(ValueError, match="build the pretrainer over the encoder loaded from the same directory"):
        load_masked_lm_head(with_head, wider.masked_lm_head)
