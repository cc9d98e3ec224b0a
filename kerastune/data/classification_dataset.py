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

Strings become `token_ids`/`segment_ids` in `kerastune.data.bert_inputs.packer` (`tokenize_and_pack`
as a `tf.function`), the function the exported serving graph calls too, so serving tokenises exactly
as training did.
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from kerastune.data.bert_inputs import count_truncated, fill_padding, packer, pad_id
from kerastune.data.length_buckets import batch_by_length, pad_batch_to_multiple


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
        truncate="end",
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
            truncate: `"end"` or `"middle"`, the part of a too-long text that is cut (see
                `kerastune.data.bert_inputs.tokenize_and_pack`).
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

        pack = packer(tokenizer, sequence_length, pair, truncate)  # the function the export calls too

        def tokenize(batch):
            texts = (batch["text"], batch["text_pair"]) if pair else (batch["text"],)
            token_ids, segment_ids, full = pack(*texts)
            return {"token_ids": token_ids, "segment_ids": segment_ids, "full_length": full}, batch["label"]

        tokenized = examples.batch(1024).map(tokenize, num_parallel_calls=tf.data.AUTOTUNE)
        # Validation pass (in tf.data too): lengths before and after truncation, before training.
        full = np.concatenate([f["full_length"].numpy() for f, _ in tokenized]) if len(data) else np.zeros(0, int)
        lengths = np.minimum(full, sequence_length)
        num_truncated = count_truncated(full, sequence_length, data.source, truncate)

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
            ds = ds.map(lambda f, y: (pad_batch_to_multiple(f, multiple, sequence_length), y)) if multiple > 1 else ds
            n = len(lengths)  # this shard's examples: `lengths` was measured after sharding
            steps = n // batch_size if drop_remainder else math.ceil(n / batch_size)
            # A known length: Keras's predict/evaluate then show a total and do not warn that the
            # input "ran out of data" at its end.
            ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
        padding_id = pad_id(tokenizer)
        if padding_id:
            ds = ds.map(lambda f, y: (fill_padding(f, padding_id), y))
        options = tf.data.Options()
        options.deterministic = True
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.OFF if num_shards > 1 else tf.data.experimental.AutoShardPolicy.DATA
        )
        ds = ds.with_options(options).prefetch(tf.data.AUTOTUNE)
        return cls(ds, steps, len(data), num_truncated, lengths, list(data.label_names))
