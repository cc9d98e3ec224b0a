"""Length bucketing for variable-length examples: few padded shapes, little padding, nothing lost.

Training batches are drawn from length buckets (`tf.data.Dataset.group_by_window`, the mechanism
behind `bucket_by_sequence_length`) and padded to the bucket's width, a multiple of
`pad_to_multiple_of`, so XLA compiles once per width; evaluation batches keep the input order and
are padded to their longest example rounded up the same way. Both the text- and the
token-classification pipelines batch through here.
"""

import math

import numpy as np
import tensorflow as tf


def padded_width(length, multiple, limit=None):
    """`length` rounded up to a multiple of `multiple`, at most `limit` (when given).

    Example:

    >>> padded_width(10, 16), padded_width(1022, 48, limit=1024)
    (16, 1024)
    """
    width = -(-int(length) // multiple) * multiple
    return width if limit is None else min(width, limit)


def bucket_widths(lengths, multiple, sequence_length, min_bucket_size=1):
    """Ascending padded widths of the length buckets: multiples of `multiple`, capped at `sequence_length`.

    A width that would hold fewer than `min_bucket_size` examples is merged into the next wider
    one, and a short tail of the longest examples into the widest bucket before it. With
    `drop_remainder` batching `min_bucket_size` is the batch size, so no bucket is smaller than one
    batch: otherwise a handful of unusually long examples would sit in a bucket that never fills a
    batch and would never be trained on.

    Example:

    >>> bucket_widths(np.array([3, 5, 9, 12, 30]), 8, 512)
    [8, 16, 32]
    >>> bucket_widths(np.array([3, 5, 9, 12, 30]), 8, 512, min_bucket_size=2)
    [8, 32]
    """
    lengths = np.asarray(lengths)
    if not len(lengths):
        return [min(multiple, sequence_length)]
    counts = np.bincount((lengths - 1) // multiple)
    widths, held = [], 0
    for key, count in enumerate(counts):
        held += count
        if held and held >= min_bucket_size:
            widths.append(min((key + 1) * multiple, sequence_length))
            held = 0
    if held:  # the longest examples did not fill a bucket: widen the last one to take them
        widths = widths[:-1] + [min(len(counts) * multiple, sequence_length)]
    return widths


def _sequences(structure, rank):
    """The sequence tensors of one example (`rank` 1) or of a batch (`rank` 2)."""
    return [t for t in tf.nest.flatten(structure) if t.shape.rank == rank]


def batch_by_length(ds, lengths, batch_size, multiple, sequence_length, drop_remainder):
    """Batches `ds` (one example per element, sequences of rank 1) by length bucket.

    Args:
        ds: `tf.data.Dataset` of single examples; every rank-1 component of unknown static length is a
            sequence of the example's length (the first one is measured), padded to its bucket's width;
            a rank-1 component of a known static length (e.g. an encoder-decoder's decoder side, padded to
            one width beforehand) keeps it; scalars (labels) stay scalars.
        lengths: np.ndarray, every example's length (to size the buckets and count the steps).
        batch_size, multiple, sequence_length: batch size, padding granularity, longest width.
        drop_remainder: bool; True gives one batch size per bucket (one XLA shape per width).

    Returns:
        (dataset of padded batches for one pass, exact number of batches in that pass).
    """
    widths = bucket_widths(lengths, multiple, sequence_length, batch_size if drop_remainder else 1)
    widths_tensor = tf.constant(widths, tf.int64)

    def bucket(*element):
        variable = [t for t in _sequences(element, 1) if t.shape[0] is None]
        length = tf.shape(variable[0])[:1]
        return tf.searchsorted(widths_tensor, tf.cast(length, tf.int64), side="left", out_type=tf.int64)[0]

    def padded_shape(spec, width):
        if spec.shape.rank != 1:
            return []
        return width if spec.shape[0] is None else spec.shape

    def batch_bucket(key, window):
        width = tf.stack([tf.gather(widths_tensor, key)])
        shapes = tf.nest.map_structure(lambda spec: padded_shape(spec, width), window.element_spec)
        return window.padded_batch(batch_size, padded_shapes=shapes, drop_remainder=drop_remainder)

    counts = np.bincount(np.searchsorted(widths, lengths, side="left"), minlength=len(widths))
    steps = int(sum(c // batch_size if drop_remainder else math.ceil(c / batch_size) for c in counts))
    return ds.group_by_window(bucket, batch_bucket, window_size=batch_size), steps


def pad_batch_to_multiple(batch, multiple, limit=None):
    """Right-pads every (batch, seq) tensor of a batch structure to a multiple of `multiple` (at most `limit`)."""
    width = tf.shape(_sequences(batch, 2)[0])[1]
    extra = (-width) % multiple
    if limit is not None:
        extra = tf.minimum(extra, tf.maximum(limit - width, 0))
    return tf.nest.map_structure(lambda t: tf.pad(t, [[0, 0], [0, extra]]) if t.shape.rank == 2 else t, batch)
