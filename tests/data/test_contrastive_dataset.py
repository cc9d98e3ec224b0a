import keras_hub
import numpy as np
import pytest

from kerastune.data.bert_inputs import packer
from kerastune.data.contrastive_dataset import ContrastiveDataset, validation_batch_sizes
from kerastune.data.labelled_text import LabelledText, LabelledTextError
from kerastune.data.sentence_pairs import SentencePairs

WORDS = [f"w{i}" for i in range(40)]
TOKENIZER = keras_hub.models.BertTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS)


def text(i, words=2):
    """A text whose token ids say which text it is: its first word is w<i>."""
    return " ".join(WORDS[(i + k * 13) % 40] for k in range(words))


def first_word(features):
    """The text index each row of a batch side holds (its first word piece after [CLS])."""
    return features["token_ids"].numpy()[:, 1] - 5


def pairs(n, negatives=False):
    return SentencePairs([text(i) for i in range(n)], [text(i, 3) for i in range(n)],
                         [text(i, 1) for i in range(n)] if negatives else None, source="pairs.tsv")


def test_pairs_stay_together_and_each_epoch_covers_them_in_a_new_order():
    data = ContrastiveDataset.from_examples(pairs(12, negatives=True), TOKENIZER, batch_size=4, sequence_length=16,
                                            training=True, seed=3)
    assert data.steps_per_epoch == 3
    epochs = []
    for epoch in np.array_split(list(data.dataset.take(6)), 2):
        order = []
        for batch in epoch:
            assert set(batch) == {"anchor", "positive", "negative", "group"}
            anchor = first_word(batch["anchor"])
            np.testing.assert_array_equal(first_word(batch["positive"]), anchor)
            np.testing.assert_array_equal(first_word(batch["negative"]), anchor)
            np.testing.assert_array_equal(batch["positive"]["padding_mask"].numpy().sum(1), 5)  # [CLS] 3 words [SEP]
            order.extend(anchor.tolist())
        assert sorted(order) == list(range(12))
        epochs.append(order)
    assert epochs[0] != epochs[1]
    again = ContrastiveDataset.from_examples(pairs(12, negatives=True), TOKENIZER, batch_size=4, sequence_length=16,
                                             training=True, seed=3)
    assert [first_word(b["anchor"]).tolist() for b in again.dataset.take(6)] == \
        [first_word(b["anchor"]).tolist() for b in data.dataset.take(6)]


def test_token_ids_are_the_packers_and_padding_is_rounded_up():
    data = ContrastiveDataset.from_examples(pairs(5), TOKENIZER, batch_size=5, sequence_length=16,
                                            pad_to_multiple_of=8)
    (batch,) = list(data.dataset)
    order = first_word(batch["anchor"])
    token_ids, _, _ = packer(TOKENIZER, 16)(np.asarray([text(i, 3) for i in order]))
    assert batch["positive"]["token_ids"].shape == batch["anchor"]["token_ids"].shape == (5, 8)  # one width
    np.testing.assert_array_equal(batch["anchor"]["padding_mask"].numpy().sum(1), 4)  # [CLS] 2 words [SEP]
    np.testing.assert_array_equal(batch["positive"]["token_ids"].numpy()[:, :5], token_ids.to_tensor().numpy())


def labelled(labels):
    return LabelledText([text(i) for i in range(len(labels))], None, list(labels), ["a", "b", "c", "d"],
                        source="labels.tsv")


def test_labelled_texts_pair_with_another_text_of_their_label_drawn_anew_each_epoch():
    labels = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 1, 1]
    data = ContrastiveDataset.from_examples(labelled(labels), TOKENIZER, batch_size=4, sequence_length=16,
                                            training=True, seed=0)
    assert data.steps_per_epoch == 4
    drawn = []
    for batch in data.dataset.take(200):  # 50 epochs
        anchor, positive = first_word(batch["anchor"]), first_word(batch["positive"])
        assert (anchor != positive).all()
        np.testing.assert_array_equal(np.take(labels, positive), np.take(labels, anchor))
        np.testing.assert_array_equal(batch["group"].numpy(), np.take(labels, anchor))
        drawn.extend(zip(anchor.tolist(), positive.tolist()))
    partners = {a: {p for b, p in drawn if b == a} for a in range(len(labels))}
    for a, label in enumerate(labels):  # over 50 epochs every other text of the label was drawn, none other
        assert partners[a] == {p for p, other in enumerate(labels) if other == label and p != a}, a


def test_a_label_with_one_text_is_left_out_with_a_warning_and_no_pairs_is_an_error():
    with pytest.warns(UserWarning, match="1 texts are the only one of their label"):
        data = ContrastiveDataset.from_examples(labelled([0, 0, 1, 1, 2]), TOKENIZER, batch_size=2, training=True)
    anchors = np.concatenate([first_word(b["anchor"]) for b in data.dataset.take(2)])
    assert sorted(anchors) == [0, 1, 2, 3]
    with pytest.raises(LabelledTextError, match="labels.tsv: no label has two texts"):
        ContrastiveDataset.from_examples(labelled([0, 1, 2]), TOKENIZER, batch_size=2)


def test_validation_keeps_every_pair_and_training_needs_one_batch():
    data = ContrastiveDataset.from_examples(pairs(10), TOKENIZER, batch_size=4, sequence_length=16)
    sizes = [len(first_word(b["anchor"])) for b in data.dataset]
    assert data.steps_per_epoch == 2 and sizes == [4, 6]  # the last 2 pairs, half a batch, join the one before
    assert sorted(np.concatenate([first_word(b["anchor"]) for b in data.dataset])) == list(range(10))
    assert validation_batch_sizes(11, 4) == [4, 4, 3] and validation_batch_sizes(3, 4) == [3]
    with pytest.raises(ValueError, match="pairs.tsv: 10 training pairs make no batch of 16"):
        ContrastiveDataset.from_examples(pairs(10), TOKENIZER, batch_size=16, training=True)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        ContrastiveDataset.from_examples(pairs(10), TOKENIZER, batch_size=0)


def test_long_texts_are_truncated_with_a_count():
    long = SentencePairs([text(0, 20), text(1)], [text(2), text(3, 30)], source="long.tsv")
    with pytest.warns(UserWarning, match="long.tsv: 2 of 4 texts are longer than the backbone's maximum of 8"):
        data = ContrastiveDataset.from_examples(long, TOKENIZER, batch_size=2, sequence_length=8)
    assert data.num_truncated == 2
    (batch,) = list(data.dataset)
    assert batch["anchor"]["token_ids"].shape[1] == 8


def test_pairs_sharing_a_positive_text_share_a_group():
    shared = SentencePairs([text(i) for i in range(6)], [text(7), text(8), text(7), text(9), text(8), text(7)],
                           source="shared.tsv")
    (batch,) = list(ContrastiveDataset.from_examples(shared, TOKENIZER, batch_size=6, sequence_length=16).dataset)
    positive, group = first_word(batch["positive"]), batch["group"].numpy()
    for i in range(6):
        for j in range(6):
            assert (group[i] == group[j]) == (positive[i] == positive[j])


def test_training_batches_group_pairs_of_similar_length():
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 9, 32)  # words per positive, 1 to 8
    varied = SentencePairs([text(i, 1) for i in range(32)], [text(i, int(n)) for i, n in enumerate(sizes)],
                           source="varied.tsv")
    data = ContrastiveDataset.from_examples(varied, TOKENIZER, batch_size=4, sequence_length=16, training=True,
                                            pad_to_multiple_of=1)
    spans = []
    for batch in data.dataset.take(8):  # one epoch: 8 batches, one window of 16 batches' worth
        anchor = first_word(batch["anchor"])
        longest = sizes[anchor] + 2  # the positive ([CLS] words [SEP]) is each pair's longer side
        assert batch["positive"]["token_ids"].shape[1] == longest.max()
        spans.append((longest.min(), longest.max()))
    spans.sort()
    assert all(high <= next_low for (_, high), (next_low, _) in zip(spans, spans[1:]))  # sorted: no interleaving
    random_widths = [sizes[rng.permutation(32)[:4]].max() + 2 for _ in range(200)]
    assert np.mean([high for _, high in spans]) < np.mean(random_widths)
