import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.conll import tagged_sentences
from kerastune.data.bert_inputs import IGNORE, align_words
from kerastune.data.token_classification_dataset import TokenClassificationDataset

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "un", "##believ", "##able", "fox", "jump", "##s", "."]
TAGS = ["O", "B-PER", "I-PER"]


def tokenizer():
    return keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True)


def test_alignment_matches_a_hand_aligned_example():
    words = tf.ragged.constant([["The", "unbelievable", "fox", "jumps", "\x00"]])
    labels = tf.ragged.constant([[0, 1, 2, 0, 1]])
    out = align_words(tokenizer(), words, 32, labels)
    # the | un ##believ ##able | fox | jump ##s | [UNK] (a word with no piece keeps one)
    assert out["token_ids"].to_list() == [[2, 5, 6, 7, 8, 9, 10, 11, 1, 3]]
    assert out["labels"].to_list() == [[IGNORE, 0, 1, IGNORE, IGNORE, 2, 0, IGNORE, 1, IGNORE]]
    assert out["is_first"].numpy().tolist() == [True, True, False, False, True, True, False, True]


def test_long_sentence_splits_into_windows_without_losing_a_label():
    words = tf.ragged.constant([["the", "unbelievable", "fox", "jumps", "."], ["fox"]])
    labels = tf.ragged.constant([[0, 1, 2, 0, 1], [2]])
    out = align_words(tokenizer(), words, 6, labels)  # 4 pieces per window
    assert out["token_ids"].to_list() == [[2, 5, 6, 7, 8, 3], [2, 9, 10, 11, 12, 3], [2, 9, 3]]
    assert out["windows_per_sentence"].numpy().tolist() == [2, 1]
    kept = [l for window in out["labels"].to_list() for l in window if l != IGNORE]
    assert kept == [0, 1, 2, 0, 1, 2]  # every word's label, in order


def test_dataset_batches_with_dynamic_padding_and_weights_only_on_first_pieces():
    data = tagged_sentences([["the", "unbelievable", "fox"], ["fox"], ["jumps", "."] * 3],
                            [["O", "B-PER", "I-PER"], ["B-PER"], ["O"] * 6], TAGS)
    with pytest.warns(UserWarning, match="1 of 3 sentences are longer than 6 sub-words"):
        ds = TokenClassificationDataset.from_sentences(data, tokenizer(), batch_size=8, sequence_length=8,
                                                       pad_to_multiple_of=1)
    assert (ds.num_windows, ds.num_split) == (4, 1)
    x, y, w = next(iter(ds.dataset))
    assert x["token_ids"].shape == (4, 8)  # padded to the longest window of the batch, not beyond
    assert w.numpy().sum() == 3 + 1 + 6  # one weight per word
    np.testing.assert_array_equal(w.numpy()[0], [0, 1, 1, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(y.numpy()[0], [0, 0, 1, 0, 0, 2, 0, 0])
    np.testing.assert_array_equal(x["padding_mask"].numpy()[1], [1, 1, 1, 0, 0, 0, 0, 0])


def test_training_batches_are_shuffled_by_seed_and_bucketed():
    data = tagged_sentences([["fox"] * n for n in range(1, 30)], [["O"] * n for n in range(1, 30)], TAGS)
    a = TokenClassificationDataset.from_sentences(data, tokenizer(), batch_size=4, training=True, seed=3)
    b = TokenClassificationDataset.from_sentences(data, tokenizer(), batch_size=4, training=True, seed=3)
    first = [x["token_ids"].numpy() for x, _, _ in a.dataset.take(a.steps_per_epoch)]
    assert all(t.shape[1] % 8 == 0 for t in first)
    assert all(np.array_equal(p, q["token_ids"].numpy()) for p, (q, _, _) in zip(first, b.dataset.take(a.steps_per_epoch)))
