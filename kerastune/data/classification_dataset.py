"""Tokenised, length-bucketed `tf.data` pipelines for text classification.

Stock preprocessing pads every example to one fixed length (128, 256, 512). Most sentences are far
shorter (SST-2 train: median 10 WordPieces), so almost all of that compute goes to padding. Here:

- tokenisation runs inside `tf.data` with the backbone's own tokenizer, once (then cached);
- training batches are drawn from length buckets (`group_by_window`, the mechanism behind
  `tf.data.Dataset.bucket_by_sequence_length`) and padded only to the bucket width, a multiple of
  `pad_to_multiple_of`, so XLA sees few distinct shapes and recompiles rarely;
- the shuffle before bucketing is seeded, so a run is reproducible; nothing is sorted;
- evaluation keeps the input order (predictions line up with the texts), each batch padded to
  its longest example rounded up to a multiple of `pad_to_multiple_of`.

`tokenize_and_pack` is the one place that turns strings into `token_ids`/`segment_ids`: training
and the exported serving graph both call it, so serving tokenises exactly as training did.
"""

import dataclasses
import math
import warnings

import numpy as np
import tensorflow as tf

from kerastune.data.length_buckets import batch_by_length, pad_batch_to_multiple


def _special_id(tokenizer, name):
    value = getattr(tokenizer, f"{name}_token_id", None)
    if value is None:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} has no {name}_token_id; a BERT-style tokenizer is expected")
    return int(value)


def _tokenize(tokenizer, text):
    ids = tokenizer(text)
    if isinstance(ids, list):  # KerasHub returns Python lists when called eagerly
        return tf.ragged.constant(ids, dtype=tf.int32, ragged_rank=1, inner_shape=())
    return tf.cast(ids, tf.int32)  # (batch, None)


def tokenize_and_pack(tokenizer, text, text_pair=None, sequence_length=512):
    """Tokenises a batch of strings into ragged BERT inputs: `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`.

    Truncation keeps at most `sequence_length` tokens; for pairs it is round robin (each segment
    keeps at least half the budget when it needs it, the longer one gives up the rest), as in
    `keras_hub.layers.MultiSegmentPacker(truncate="round_robin")`.

    Args:
        tokenizer: a KerasHub WordPiece tokenizer (has `cls_token_id`, `sep_token_id`).
        text: tf.string, shape (batch,).
        text_pair: tf.string, shape (batch,), or None.
        sequence_length: int, the longest packed sequence (the backbone's maximum).

    Returns:
        (token_ids, segment_ids, full_lengths): two int32 `tf.RaggedTensor`s (batch, None) and the
        int32 length each example would have had without truncation, shape (batch,).
    """
    cls_id, sep_id = _special_id(tokenizer, "cls"), _special_id(tokenizer, "sep")
    a = _tokenize(tokenizer, text)  # (batch, None)
    batch = tf.shape(a.row_lengths())[0]
    cls = tf.fill([batch, 1], cls_id)
    sep = tf.fill([batch, 1], sep_id)
    if text_pair is None:
        full = tf.cast(a.row_lengths(), tf.int32) + 2
        a = a[:, : sequence_length - 2]
        token_ids = tf.concat([cls, a, sep], axis=1)
        segment_ids = tf.zeros_like(token_ids)
        return token_ids, segment_ids, full
    b = _tokenize(tokenizer, text_pair)
    len_a, len_b = tf.cast(a.row_lengths(), tf.int32), tf.cast(b.row_lengths(), tf.int32)
    full = len_a + len_b + 3
    budget = sequence_length - 3
    keep_a = tf.minimum(len_a, tf.maximum((budget + 1) // 2, budget - len_b))  # (batch,)
    keep_b = tf.minimum(len_b, budget - keep_a)
    a = tf.gather(a, tf.ragged.range(keep_a), batch_dims=1)
    b = tf.gather(b, tf.ragged.range(keep_b), batch_dims=1)
    token_ids = tf.concat([cls, a, sep, b, sep], axis=1)
    segment_ids = tf.concat(
        [tf.zeros_like(tf.concat([cls, a, sep], axis=1)), tf.ones_like(tf.concat([b, sep], axis=1))], axis=1
    )
    return token_ids, segment_ids, full


def pad_to_multiple(features, multiple, limit=None):
    """Pads dense (batch, seq) features on the right to a multiple of `multiple` (at most `limit`)."""
    return pad_batch_to_multiple(features, multiple, limit)


def dense_inputs(token_ids, segment_ids, multiple=1, pad_id=0, limit=None):
    """Ragged packed ids -> the backbone's dense input dict, padded to a multiple of `multiple`."""
    features = {
        "token_ids": token_ids.to_tensor(default_value=pad_id),
        "segment_ids": segment_ids.to_tensor(),
        "padding_mask": tf.ones_like(token_ids).to_tensor(),
    }
    return pad_to_multiple(features, multiple, limit) if multiple > 1 else features


@dataclasses.dataclass
class ClassificationDataset:
    """A `tf.data.Dataset` of `({"token_ids", "segment_ids", "padding_mask"}, label)` batches.

    Build one with `ClassificationDataset.from_labelled_text(...)`.

    Attributes:
        dataset: the `tf.data.Dataset` (int32 features of shape (batch, seq), int32 labels).
            Training datasets repeat endlessly (each pass reshuffled): pass `steps_per_epoch`
            to `fit`.
        steps_per_epoch: int, exact number of batches one pass over the data (this shard's part
            of it, with `num_shards`) yields.
        num_examples: int, examples in the source (before sharding).
        num_truncated: int, examples longer than `sequence_length` that were truncated.
        lengths: np.ndarray, packed length of every example after truncation (source order).
        label_names: list of str.
    """

    dataset: tf.data.Dataset
    steps_per_epoch: int
    num_examples: int
    num_truncated: int
    lengths: np.ndarray
    label_names: list

    @classmethod
    def from_labelled_text(
        cls,
        data,
        tokenizer,
        batch_size=32,
        sequence_length=512,
        training=False,
        seed=0,
        pad_to_multiple_of=8,
        drop_remainder=None,
        shuffle_buffer_size=None,
        num_shards=1,
        shard_index=0,
    ):
        """Tokenises `data` (a `LabelledText`) in `tf.data` and batches it.

        Args:
            data: `kerastune.data.LabelledText`.
            tokenizer: the backbone's KerasHub tokenizer.
            batch_size: int, global batch size.
            sequence_length: int, the backbone's maximum; longer examples are truncated with a
                warning that counts them.
            training: bool; True shuffles (seeded) and batches by length bucket.
            seed: int, the shuffle seed.
            pad_to_multiple_of: int, bucket width and padding granularity (8 keeps XLA's distinct
                shapes few while wasting at most 7 positions).
            drop_remainder: bool, or None for "when training" (every training batch then has the
                same batch size, so XLA compiles once per bucket width; each epoch drops at most
                `batch_size - 1` examples per bucket, different ones every epoch: buckets that
                would hold less than one batch are merged into a wider one, see `bucket_widths`).
            shuffle_buffer_size: int or None for the whole data set.
            num_shards, shard_index: explicit sharding for multi-worker input pipelines
                (otherwise `tf.distribute` auto-shards by data).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; received {batch_size!r}")
        if pad_to_multiple_of < 1:
            raise ValueError(f"pad_to_multiple_of must be a positive integer; received {pad_to_multiple_of!r}")
        if drop_remainder is None:
            drop_remainder = training
        pair = data.text_pairs is not None
        columns = {"text": data.texts, "label": np.asarray(data.labels, np.int32)}
        if pair:
            columns["text_pair"] = data.text_pairs
        examples = tf.data.Dataset.from_tensor_slices(columns)
        if num_shards > 1:
            examples = examples.shard(num_shards, shard_index)

        def tokenize(batch):
            token_ids, segment_ids, full = tokenize_and_pack(
                tokenizer, batch["text"], batch.get("text_pair"), sequence_length
            )
            return {"token_ids": token_ids, "segment_ids": segment_ids, "full_length": full}, batch["label"]

        tokenized = examples.batch(1024).map(tokenize, num_parallel_calls=tf.data.AUTOTUNE)
        # Validation pass (in tf.data too): lengths before and after truncation, before training.
        full = np.concatenate([f["full_length"].numpy() for f, _ in tokenized]) if len(data) else np.zeros(0, int)
        lengths = np.minimum(full, sequence_length)
        num_truncated = int((full > sequence_length).sum())
        if num_truncated:
            warnings.warn(
                f"{data.source}: {num_truncated} of {len(full)} examples are longer than the backbone's "
                f"maximum of {sequence_length} tokens (longest {int(full.max())}) and are truncated to it",
                stacklevel=2,
            )

        def to_dense(features, label):
            length = tf.cast(features["token_ids"].row_lengths(), tf.int32)
            return (features["token_ids"].to_tensor(), features["segment_ids"].to_tensor(), length), label

        def unpad(packed, label):  # one example: (None,) features
            token_ids, segment_ids, length = packed
            features = {
                "token_ids": token_ids[:length],
                "segment_ids": segment_ids[:length],
                "padding_mask": tf.ones([length], tf.int32),
            }
            return features, label

        ds = tokenized.map(to_dense).unbatch().map(unpad).cache()
        multiple = pad_to_multiple_of
        if training:
            ds = ds.shuffle(shuffle_buffer_size or max(len(lengths), 1), seed=seed, reshuffle_each_iteration=True)

            ds, steps = batch_by_length(ds, lengths, batch_size, multiple, sequence_length, drop_remainder)
            # Endless passes (each reshuffled): `fit(steps_per_epoch=self.steps_per_epoch)` then knows
            # its epoch length, which group_by_window hides (unknown cardinality).
            ds = ds.repeat()
        else:
            ds = ds.padded_batch(batch_size, drop_remainder=drop_remainder)
            ds = ds.map(lambda f, y: (pad_to_multiple(f, multiple, sequence_length), y)) if multiple > 1 else ds
            n = len(lengths)  # this shard's examples: `lengths` was measured after sharding
            steps = n // batch_size if drop_remainder else math.ceil(n / batch_size)
            # A known length: Keras's predict/evaluate then show a total and do not warn that the
            # input "ran out of data" at its end.
            ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
        options = tf.data.Options()
        options.deterministic = True
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.OFF if num_shards > 1 else tf.data.experimental.AutoShardPolicy.DATA
        )
        ds = ds.with_options(options).prefetch(tf.data.AUTOTUNE)
        return cls(ds, steps, len(data), num_truncated, lengths, list(data.label_names))
