import numpy as np
import tensorflow as tf

from kerastune.data.length_buckets import batch_by_length, bucket_widths, pad_batch_to_multiple


def test_bucket_widths_merge_buckets_smaller_than_a_batch():
    lengths = np.array([4] * 20 + [12] * 20 + [20] * 3 + [40] * 2)
    assert bucket_widths(lengths, 8, 512) == [8, 16, 24, 40]
    assert bucket_widths(lengths, 8, 512, min_bucket_size=5) == [8, 16, 40]  # 24 and 40 -> one bucket
    # a tail (24 and 40: 5 examples) too small for a bucket widens the one before it
    assert bucket_widths(lengths, 8, 512, min_bucket_size=16) == [8, 40]
    assert bucket_widths(lengths, 8, 36, min_bucket_size=5) == [8, 16, 36]  # capped at the maximum
    assert bucket_widths(np.array([], int), 8, 512) == [8]


def _examples(lengths):
    def gen():
        for i, n in enumerate(lengths):
            yield {"ids": np.arange(1, n + 1, dtype=np.int32)}, np.int32(i)

    spec = ({"ids": tf.TensorSpec([None], tf.int32)}, tf.TensorSpec([], tf.int32))
    return tf.data.Dataset.from_generator(gen, output_signature=spec)


def test_batch_by_length_pads_to_the_bucket_width_and_counts_its_steps():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 30, size=200)
    for drop in (True, False):
        ds, steps = batch_by_length(_examples(lengths), lengths, 16, 8, 512, drop)
        batches = list(ds)
        assert len(batches) == steps
        widths = bucket_widths(lengths, 8, 512, 16 if drop else 1)
        seen = []
        for features, index in batches:
            ids = features["ids"].numpy()
            assert ids.shape[1] in widths and (not drop or ids.shape[0] == 16)
            longest = lengths[index.numpy()].max()
            assert widths[np.searchsorted(widths, longest)] == ids.shape[1]  # the narrowest width that fits
            for row, i in zip(ids, index.numpy()):
                np.testing.assert_array_equal(row[: lengths[i]], np.arange(1, lengths[i] + 1))
                assert not row[lengths[i]:].any()
            seen += list(index.numpy())
        if not drop:
            assert sorted(seen) == list(range(200))  # every example exactly once


def test_pad_batch_to_multiple_pads_sequences_only():
    batch = ({"ids": tf.ones([2, 5], tf.int32)}, tf.constant([1, 2]), tf.ones([2, 5]))
    ids, labels, weights = pad_batch_to_multiple(batch, 8)
    assert ids["ids"].shape == (2, 8) and weights.shape == (2, 8) and labels.shape == (2,)
    assert int(tf.reduce_sum(ids["ids"])) == 10
    assert pad_batch_to_multiple(batch, 8, limit=6)[0]["ids"].shape == (2, 6)
