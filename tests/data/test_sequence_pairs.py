"""`sequence_pairs`: teacher-forcing batches, length checks and the graph-side encode/decode."""

import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.character_tokenizer import CharacterTokenizer
from kerastune.data.sequence_pairs import (END_ID, NUM_SPECIAL_IDS, PAD_ID, START_ID, check_lengths, pair_token_ids,
                                           sequence_pair_dataset, source_inputs, target_texts)

TOKENIZER = CharacterTokenizer.from_corpus("abcdefghij ")


def pairs(n=40, seed=0):
    rng = np.random.default_rng(seed)
    sources = ["".join(rng.choice(list("abcdefghij"), rng.integers(1, 30))) for _ in range(n)]
    targets = [s[::-1][: max(1, len(s) - 3)] for s in sources]  # targets of other lengths than their sources
    return sources, targets


@pytest.mark.parametrize("max_target_length", [None, 29])
def test_every_pair_comes_back_once_as_shifted_teacher_forcing_batches(max_target_length):
    sources, targets = pairs()
    source_ids, target_ids = pair_token_ids(TOKENIZER, sources), pair_token_ids(TOKENIZER, targets)
    dataset, steps = sequence_pair_dataset(source_ids, target_ids, batch_size=8, pad_to_multiple_of=8, training=False,
                                           max_target_length=max_target_length)
    seen, widths = [], set()
    for inputs, labels, weights in dataset:
        inputs, labels, weights = {k: v.numpy() for k, v in inputs.items()}, labels.numpy(), weights.numpy()
        assert inputs["encoder_token_ids"].shape[1] % 8 == 0 and labels.shape == inputs["decoder_token_ids"].shape
        widths.add((inputs["encoder_token_ids"].shape[1], labels.shape[1]))
        for row in range(len(labels)):
            source = inputs["encoder_token_ids"][row][inputs["encoder_padding_mask"][row] == 1]
            decoder = inputs["decoder_token_ids"][row][inputs["decoder_padding_mask"][row] == 1]
            label = labels[row][weights[row] == 1]
            assert decoder[0] == START_ID and label[-1] == END_ID
            np.testing.assert_array_equal(decoder[1:], label[:-1])  # each position predicts the next token
            assert (inputs["encoder_token_ids"][row][inputs["encoder_padding_mask"][row] == 0] == PAD_ID).all()
            seen.append((TOKENIZER.decode_text(source - NUM_SPECIAL_IDS),
                         TOKENIZER.decode_text(label[:-1] - NUM_SPECIAL_IDS)))
    assert sorted(seen) == sorted(zip(sources, targets)) and len(list(dataset)) == steps
    if max_target_length is None:  # both sides of a batch one width
        assert all(source == decoder for source, decoder in widths)
    else:  # the decoder always 29 + 1 rounded up to 8, the sources bucketed by their own widths
        assert {decoder for _, decoder in widths} == {32} and {source for source, _ in widths} == {8, 16, 24, 32}


def test_training_passes_are_full_batches_of_distinct_pairs_reshuffled_by_seed():
    source_ids, target_ids = (pair_token_ids(TOKENIZER, texts) for texts in pairs(n=60))

    def passes(seed, count=2):
        dataset, steps = sequence_pair_dataset(source_ids, target_ids, batch_size=4, seed=seed, pad_to_multiple_of=8)
        batches = [b[0]["encoder_token_ids"].numpy() for b in dataset.take(count * steps)]  # it repeats endlessly
        rows = [[tuple(row[row > 0]) for b in batches[i * steps:(i + 1) * steps] for row in b] for i in range(count)]
        return steps, batches, rows

    steps, batches, (first, second) = passes(seed=1)
    assert all(len(b) == 4 for b in batches) and len(first) == 4 * steps
    assert len(set(first)) == len(first) > 60 - 4 * 4  # distinct pairs; at most 3 left out per bucket
    assert first != second  # each pass reshuffled
    assert passes(seed=1)[2][0] == first and passes(seed=2)[2][0] != first  # the seed decides the order


def test_a_text_longer_than_the_limit_is_named_not_cut():
    ids = pair_token_ids(TOKENIZER, ["abc", "abcdefgh", "abcdefghij"])
    check_lengths(ids, 10, "target")
    with pytest.raises(ValueError, match=r"2 target texts are longer than max_target_length=5 tokens \(the longest has "
                                         r"10; the first is on line 8 of pairs.tsv, 8 tokens\). Nothing is cut"):
        check_lengths(ids, 5, "target", "pairs.tsv", [7, 8, 9])


def test_sources_encode_and_written_ids_decode_in_a_graph():
    @tf.function
    def round_trip(texts):
        ids, mask = source_inputs(TOKENIZER, texts)
        batch = tf.shape(ids)[0]
        # as generate writes: the start token, the text, the end token, then anything
        written = tf.concat([tf.fill([batch, 1], START_ID), ids, tf.fill([batch, 1], END_ID), ids], axis=1)
        return ids, mask, target_texts(TOKENIZER, written)

    ids, mask, texts = round_trip(tf.constant(["abc", "j"]))
    np.testing.assert_array_equal(mask.numpy(), [[1, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(ids.numpy()[0], np.asarray(TOKENIZER.encode_text("abc")) + NUM_SPECIAL_IDS)
    # "j" padded: its padding (0) is dropped, and nothing after the end token is read
    assert [t.decode() for t in texts.numpy()] == ["abc", "j"]
