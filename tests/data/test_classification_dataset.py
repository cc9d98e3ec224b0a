import collections

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.bert_inputs import tokenize_and_pack
from kerastune.data.classification_dataset import ClassificationDataset
from kerastune.data.labelled_text import LabelledText

WORDS = [f"w{i}" for i in range(40)]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS


@pytest.fixture
def tokenizer():
    return keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB)


def random_data(n=300, seed=1, pairs=False):
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, rng.integers(1, 30))) for _ in range(n)]
    labels = [int(t.count("w1 ") % 3) for t in texts]
    second = [" ".join(rng.choice(WORDS, rng.integers(1, 9))) for _ in range(n)] if pairs else None
    return LabelledText(texts, second, labels, ["a", "b", "c"], "random")


def expected_ids(text):
    return [2] + [VOCAB.index(w) for w in text.split()] + [3]


def examples(batches):
    out = []
    for features, labels in batches:
        for ids, mask, label in zip(features["token_ids"].numpy(), features["padding_mask"].numpy(), labels.numpy()):
            assert mask.sum() == (ids != 0).sum()
            out.append((tuple(ids[mask == 1]), int(label)))
    return out


def test_bucketing_never_truncates_or_misaligns_labels(tokenizer):
    data = random_data()
    built = ClassificationDataset.from_labelled_text(data, tokenizer, batch_size=16, training=True, drop_remainder=False)
    batches = list(built.dataset.take(built.steps_per_epoch))
    widths = {int(f["token_ids"].shape[1]) for f, _ in batches}
    assert all(w % 8 == 0 for w in widths) and len(widths) <= 5
    got = collections.Counter(examples(batches))
    want = collections.Counter((tuple(expected_ids(t)), y) for t, y in zip(data.texts, data.labels))
    assert got == want  # every example once, whole, with its own label
    assert built.num_truncated == 0


def test_each_bucket_batch_is_padded_only_to_its_width(tokenizer):
    built = ClassificationDataset.from_labelled_text(random_data(), tokenizer, batch_size=16, training=True)
    for features, _ in built.dataset.take(built.steps_per_epoch):
        longest = int(features["padding_mask"].numpy().sum(axis=1).max())
        assert features["token_ids"].shape[0] == 16  # drop_remainder: one batch size per bucket
        assert longest > features["token_ids"].shape[1] - 8


def test_shuffle_is_seeded_and_passes_differ(tokenizer):
    def order(seed):
        built = ClassificationDataset.from_labelled_text(random_data(), tokenizer, batch_size=16, training=True, seed=seed)
        return [x for x, _ in examples(built.dataset.take(2 * built.steps_per_epoch))]

    first = order(3)
    assert first == order(3)
    assert first != order(4)
    half = len(first) // 2
    assert first[:half] != first[half:]  # each pass is reshuffled


def test_evaluation_keeps_input_order(tokenizer):
    data = random_data(50)
    built = ClassificationDataset.from_labelled_text(data, tokenizer, batch_size=16, training=False)
    got = examples(built.dataset)
    assert [y for _, y in got] == data.labels
    assert [list(x) for x, _ in got] == [expected_ids(t) for t in data.texts]
    assert built.steps_per_epoch == 4


def test_too_long_examples_are_truncated_with_a_count(tokenizer):
    data = random_data(60)
    longer = sum(len(t.split()) + 2 > 16 for t in data.texts)
    with pytest.warns(UserWarning, match=f"{longer} of 60 examples are longer than the backbone's maximum of 16"):
        built = ClassificationDataset.from_labelled_text(data, tokenizer, sequence_length=16)
    assert built.num_truncated == longer
    for features, _ in built.dataset:
        assert features["token_ids"].shape[1] <= 16
        assert np.all(features["token_ids"].numpy()[features["padding_mask"].numpy().sum(1) == 16, 15] == 3)


def middle_cut(pieces, keep):
    """Python reference: the first keep // 4 pieces and the last keep - keep // 4."""
    head = keep // 4
    return pieces[:head] + pieces[len(pieces) - (keep - head):]


def test_middle_truncation_keeps_the_first_quarter_and_the_last_three_quarters(tokenizer):
    data = random_data(60)
    with pytest.warns(UserWarning, match="truncated"):
        built = ClassificationDataset.from_labelled_text(data, tokenizer, sequence_length=16, truncate="middle")
    want = []
    for text, label in zip(data.texts, data.labels):
        ids = expected_ids(text)
        want.append((tuple([2] + middle_cut(ids[1:-1], min(len(ids) - 2, 14)) + [3]), label))
    assert sorted(examples(built.dataset)) == sorted(want)
    assert any(len(t.split()) > 20 for t in data.texts)  # the cut is exercised past the head's end


def test_middle_truncation_of_pairs_cuts_each_text_by_its_round_robin_share(tokenizer):
    data = random_data(40, pairs=True)
    end_ids, _, _ = tokenize_and_pack(tokenizer, tf.constant(data.texts), tf.constant(data.text_pairs), 16)
    ids, segments, _ = tokenize_and_pack(
        tokenizer, tf.constant(data.texts), tf.constant(data.text_pairs), 16, truncate="middle")
    for row, end_row, segment_row, a, b in zip(ids.to_list(), end_ids.to_list(), segments.to_list(),
                                               data.texts, data.text_pairs):
        keep_a = end_row.index(3) - 1  # the round-robin share, as the "end" packing took it
        keep_b = len(end_row) - keep_a - 3
        want = [2] + middle_cut(expected_ids(a)[1:-1], keep_a) + [3] + middle_cut(expected_ids(b)[1:-1], keep_b) + [3]
        assert row == want
        assert segment_row == [0] * (keep_a + 2) + [1] * (keep_b + 1)


def test_an_unknown_truncate_mode_is_a_clear_error(tokenizer):
    with pytest.raises(ValueError, match="truncate must be one of .*Received: truncate='start'"):
        tokenize_and_pack(tokenizer, tf.constant(["w1"]), None, 16, truncate="start")


def test_pair_packing_matches_keras_hub_round_robin_packer(tokenizer):
    data = random_data(40, pairs=True)
    packer = keras_hub.layers.MultiSegmentPacker(16, start_value=2, end_value=3, truncate="round_robin")
    a = tokenizer(tf.constant(data.texts))
    b = tokenizer(tf.constant(data.text_pairs))
    a = tf.ragged.constant(a) if isinstance(a, list) else a
    b = tf.ragged.constant(b) if isinstance(b, list) else b
    want_ids, want_segments = packer((a, b))
    ids, segments, full = tokenize_and_pack(tokenizer, tf.constant(data.texts), tf.constant(data.text_pairs), 16)
    np.testing.assert_array_equal(ids.to_tensor(shape=[40, 16]).numpy(), np.asarray(want_ids))
    mask = ids.to_tensor(shape=[40, 16], default_value=0).numpy() != 0
    np.testing.assert_array_equal(segments.to_tensor(shape=[40, 16]).numpy()[mask], np.asarray(want_segments)[mask])
    assert list(full.numpy()) == [len(x.split()) + len(y.split()) + 3 for x, y in zip(data.texts, data.text_pairs)]


def test_bucket_widths_never_exceed_the_backbone_maximum(tokenizer):
    with pytest.warns(UserWarning, match="truncated"):
        built = ClassificationDataset.from_labelled_text(random_data(), tokenizer, batch_size=8, training=True, sequence_length=12)
    widths = {int(f["token_ids"].shape[1]) for f, _ in built.dataset.take(built.steps_per_epoch)}
    assert widths == {8, 12}


def test_rare_long_examples_share_a_bucket_and_are_trained(tokenizer):
    # 40 short examples and 3 long ones: alone, the long ones would never fill a batch of 8 and
    # drop_remainder would skip them in every epoch.
    short = [" ".join(WORDS[i % 7 : i % 7 + 3]) for i in range(40)]
    long = [" ".join(WORDS[i : i + 25]) for i in range(3)]
    data = LabelledText(short + long, None, [0] * 40 + [1] * 3, ["a", "b"], "outliers")
    built = ClassificationDataset.from_labelled_text(data, tokenizer, batch_size=8, training=True)
    batches = list(built.dataset.take(10 * built.steps_per_epoch))
    assert {f["token_ids"].shape for f, _ in batches} == {(8, 32)}  # one width: 3 + 40 -> one bucket
    seen = collections.Counter(x for x, _ in examples(batches))
    assert all(seen[tuple(expected_ids(t))] > 0 for t in long)
    assert built.steps_per_epoch == 43 // 8


def test_evaluation_data_has_a_known_length(tokenizer):
    built = ClassificationDataset.from_labelled_text(random_data(50), tokenizer, batch_size=16, training=False)
    assert int(built.dataset.cardinality()) == built.steps_per_epoch == 4


def test_explicit_shards_report_their_own_steps(tokenizer):
    data = random_data(100)
    parts = [
        ClassificationDataset.from_labelled_text(data, tokenizer, batch_size=8, num_shards=2, shard_index=i)
        for i in range(2)
    ]
    for part in parts:
        assert part.steps_per_epoch == len(list(part.dataset)) == 7  # 50 examples in batches of 8
    assert sorted(x for p in parts for x, _ in examples(p.dataset)) == sorted(
        tuple(expected_ids(t)) for t in data.texts
    )


def test_the_batches_and_the_export_share_one_tokenizer_function_kept_while_the_tokenizer_lives(tokenizer, tmp_path):
    import gc
    import weakref

    import keras

    from kerastune.data.bert_inputs import _PACKERS, packer
    from kerastune.export.text_classifier_export import export_text_classifier
    from kerastune.models.text_classifier import TextClassifier

    data = random_data(40)
    for training in (True, False):
        ClassificationDataset.from_labelled_text(data, tokenizer, batch_size=8, sequence_length=16, training=training)
    pack = packer(tokenizer, 16)
    assert pack is packer(tokenizer, 16) and pack is not packer(tokenizer, 16, truncate="middle")
    assert pack.experimental_get_tracing_count() == 1  # the training and the validation batches: one trace
    backbone = keras_hub.models.BertBackbone(len(VOCAB), 1, 2, 8, 16, max_sequence_length=16)
    export_text_classifier(TextClassifier(backbone, 3), tokenizer, ["a", "b", "c"], export_dir=str(tmp_path))
    assert pack.experimental_get_tracing_count() == 2  # one more (tf.data's graphs are another context) for 3 signatures
    short = next(t for t in data.texts if len(t.split()) < 10)
    served = tf.saved_model.load(str(tmp_path / "text_classifier" / "1")).signatures["tokenize"]
    assert served(text=tf.constant([short]))["token_ids"].numpy()[0].tolist() == expected_ids(short)
    # the cache holds no tokenizer alive: a tokenizer nothing else refers to leaves it
    other = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB)
    packer(other, 16)
    assert other in _PACKERS
    alive = weakref.ref(other)
    del other, backbone
    keras.utils.clear_session(free_memory=True)
    gc.collect()
    assert alive() is None
