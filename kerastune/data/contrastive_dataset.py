"""Batches of (anchor, positive[, negative]) texts for contrastive training of a sentence encoder.

Two sources make them:

- `SentencePairs` (a file of anchor/positive pairs, e.g. a question and the passage answering it,
  with an optional hard negative each): every pair once per epoch, in a seeded order, the pairs that
  share a positive text (one passage answering several questions) in one `group`;
- `LabelledText` (texts with labels, e.g. AG News topics): each epoch pairs every text with another
  text of the same label, drawn afresh, and the batch carries the labels as `group` ids so that
  `InBatchContrastive` does not count a same-label text as a negative.

Texts are tokenised once, by `kerastune.data.bert_inputs.packer` (the function the export's
serving graph calls), and each batch is padded only to its own longest text, rounded up to
`pad_to_multiple_of`; all its sides (anchors, positives, negatives) to the same width. Training
batches group pairs of similar length (`WINDOW_BATCHES`, Hugging Face's `group_by_length`): each
epoch's shuffled pairs are sorted by length within windows of 16 batches, cut into batches, and the
batches shuffled. Training batches are an endless stream in which batch `n` depends only on
`(seed, n)`: each epoch's order and pairing is drawn from the seed and the epoch number, so
crash-safe backups resume exactly.
"""

import dataclasses
import warnings

import numpy as np
import tensorflow as tf

from kerastune.arguments import check_positive_ints
from kerastune.data.bert_inputs import count_truncated, dense_inputs, packer, pad_id
from kerastune.data.labelled_text import LabelledText, LabelledTextError

_TOKENIZE_CHUNK = 1024
# Training batches are cut from windows of this many batches' worth of shuffled pairs, each window sorted by
# length: a batch's texts have similar lengths, so little of its compute goes to padding.
WINDOW_BATCHES = 16


@dataclasses.dataclass
class ContrastiveDataset:
    """A `tf.data.Dataset` of `{"anchor", "positive"[, "negative"][, "group"]}` batches.

    Build one with `ContrastiveDataset.from_examples(...)`.

    Attributes:
        dataset: the `tf.data.Dataset`. `anchor`, `positive` and `negative` are dicts of int32
            (batch, seq) `token_ids`, `segment_ids`, `padding_mask`; `group` is int32 (batch,).
            Training datasets repeat endlessly: pass `steps_per_epoch` to `fit`.
        steps_per_epoch: int, batches in one pass (training drops the last partial batch, a different
            one each epoch; validation keeps every pair: `validation_batch_sizes`).
        num_examples: int, pairs (or labelled texts) in the source.
        num_truncated: int, texts longer than `sequence_length` that were truncated.
    """

    dataset: tf.data.Dataset
    steps_per_epoch: int
    num_examples: int
    num_truncated: int

    @classmethod
    def from_examples(cls, examples, tokenizer, batch_size=32, sequence_length=512, training=False, seed=0,
                      pad_to_multiple_of=8, truncate="end"):
        """Tokenises `examples` and batches them.

        Args:
            examples: `kerastune.data.SentencePairs`, or `kerastune.data.LabelledText` (pairs of texts
                with the same label, drawn each epoch; a label with one text gives it no pair).
            tokenizer: the backbone's KerasHub tokenizer.
            batch_size: int, pairs per batch (each anchor's negatives are the batch's other candidates).
            sequence_length: int, the longest packed text; longer texts are truncated with a warning
                that counts them.
            training: bool; True shuffles (seeded), draws new same-label pairs each epoch and repeats.
            seed: int.
            pad_to_multiple_of: int, batch widths are rounded up to a multiple of it.
            truncate: `"end"` or `"middle"`, what a too-long text loses (`tokenize_and_pack`).

        Example:

        >>> data = ContrastiveDataset.from_examples(pairs, tokenizer, batch_size=16, training=True)  # doctest: +SKIP
        >>> model.fit(data.dataset, steps_per_epoch=data.steps_per_epoch)  # doctest: +SKIP
        """
        check_positive_ints(batch_size=batch_size, pad_to_multiple_of=pad_to_multiple_of)
        pack = packer(tokenizer, sequence_length, False, truncate)
        if isinstance(examples, LabelledText):
            tokens, full = _tokenized(pack, examples.texts)
            pairing = _SameLabelPairs(np.asarray(examples.labels, np.int32), examples.source, seed)
            columns = {"anchor": tokens, "positive": tokens}
        else:
            columns, fulls = {}, []
            for name, texts in (("anchor", examples.anchors), ("positive", examples.positives),
                                ("negative", examples.negatives)):
                if texts is not None:
                    columns[name], column_full = _tokenized(pack, texts)
                    fulls.append(column_full)
            full = np.concatenate(fulls)
            # pairs sharing a positive text share a group: one is not the other's negative
            _, positive_ids = np.unique(np.asarray(examples.positives, object), return_inverse=True)
            pairing = _OrderedPairs(positive_ids.astype(np.int32), seed)
        num_truncated = count_truncated(full, sequence_length, examples.source, truncate, noun="texts")
        pairs_per_epoch = pairing.size
        if training:
            steps = pairs_per_epoch // batch_size
            if steps == 0:
                raise ValueError(f"{examples.source}: {pairs_per_epoch} training pairs make no batch of "
                                 f"{batch_size}; pass a smaller batch_size or more data. Received: "
                                 f"batch_size={batch_size}")
            lengths = {name: tf.cast(tokens.row_lengths(), tf.int32) for name, tokens in columns.items()}
            indices = tf.data.Dataset.counter().flat_map(lambda epoch: tf.data.Dataset.from_tensor_slices(
                _grouped_by_length(pairing.epoch(epoch), lengths, batch_size, seed, epoch)))
        else:
            sizes = validation_batch_sizes(pairs_per_epoch, batch_size)
            steps = len(sizes)
            first_epoch = pairing.epoch(tf.constant(0, tf.int64))
            indices = tf.data.Dataset.from_tensor_slices(
                {key: tf.RaggedTensor.from_row_lengths(rows, sizes) for key, rows in first_epoch.items()})
        padding_id = pad_id(tokenizer)

        def features(batch):
            sides = [tf.gather(tokens, _side_rows(batch, name)) for name, tokens in columns.items()]
            # one block, so every side of a batch has the same width: XLA sees one shape per width, not one per
            # combination of the sides' widths
            block = dense_inputs(tf.concat(sides, axis=0), None, padding_id, pad_to_multiple_of, sequence_length)
            parts = {key: tf.split(value, len(sides)) for key, value in block.items()}
            out = {name: {key: parts[key][i] for key in parts} for i, name in enumerate(columns)}
            if "group" in batch:
                out["group"] = batch["group"]
            return out

        ds = indices.map(features, num_parallel_calls=tf.data.AUTOTUNE)
        if not training:
            ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
        options = tf.data.Options()
        options.deterministic = True
        return cls(ds.with_options(options).prefetch(tf.data.AUTOTUNE), steps, len(examples), num_truncated)


def validation_batch_sizes(count, batch_size):
    """The sizes of the batches `count` validation pairs make: full batches, and the rest as a last batch, or in
    the one before when it is at most half a batch. A pair's negatives are its batch's others, so a batch of a few
    pairs would score an easier search than the rest (and under a strategy leave replicas empty).

    Example:

    >>> validation_batch_sizes(10, 4), validation_batch_sizes(11, 4), validation_batch_sizes(3, 4)
    ([4, 6], [4, 4, 3], [3])
    """
    full, rest = divmod(count, batch_size)
    sizes = [batch_size] * full
    if rest and (rest * 2 > batch_size or not sizes):
        sizes.append(rest)
    elif rest:
        sizes[-1] += rest
    return sizes


def _tokenized(pack, texts):
    """`(token_ids, full_lengths)`: a ragged int32 (n, None) of packed `[CLS] ... [SEP]` ids and each
    text's length before truncation."""
    ids, full = [], []
    for start in range(0, len(texts), _TOKENIZE_CHUNK):
        token_ids, _, full_lengths = pack(tf.constant(texts[start:start + _TOKENIZE_CHUNK]))
        ids.append(token_ids)
        full.append(full_lengths.numpy())
    return tf.concat(ids, axis=0), np.concatenate(full)


def _side_rows(pairs, side):
    """The text rows of one side (`anchor`, `positive`, `negative`) of `pairs`: a negative is on its anchor's row."""
    return pairs["positive"] if side == "positive" else pairs["anchor"]


def _draw_seed(seed, epoch, stream):
    """The stateless seed of one of an epoch's random draws (0: the order of pairs, 1: same-label partners,
    2: the order of batches), from `(seed, epoch)` alone."""
    return tf.stack([tf.cast(seed, tf.int64), 3 * epoch + stream])


def _epoch_order(size, seed, epoch, stream=0):
    """A permutation of `range(size)` drawn from `(seed, epoch)` alone."""
    return tf.argsort(tf.random.stateless_uniform([size], _draw_seed(seed, epoch, stream)), stable=True)


def _grouped_by_length(pairs, lengths, batch_size, seed, epoch):
    """An epoch's shuffled pairs as batches of similar-length texts: sorted by length within windows of
    `WINDOW_BATCHES` batches, cut into whole batches (the last partial one dropped), the batches shuffled.

    Args:
        pairs: dict of int32 (n,) rows: `anchor`, `positive` (and `group`), in the epoch's order.
        lengths: dict side name -> int32 (texts,) packed lengths (`negative` rows are the anchor's).
        batch_size, seed, epoch: as the dataset's.

    Returns:
        dict of int32 (n // batch_size, batch_size).
    """
    count = (tf.size(pairs["anchor"]) // batch_size) * batch_size
    pairs = {key: rows[:count] for key, rows in pairs.items()}
    longest = tf.reduce_max(tf.stack([tf.gather(lengths[name], _side_rows(pairs, name)) for name in lengths]),
                            axis=0)  # (count,): the pair's longest side
    window = tf.range(count) // (batch_size * WINDOW_BATCHES)
    order = tf.argsort(window * (tf.reduce_max(longest) + 1) + longest, stable=True)
    batches = {key: tf.reshape(tf.gather(rows, order), [-1, batch_size]) for key, rows in pairs.items()}
    shuffled = _epoch_order(count // batch_size, seed, epoch, stream=2)
    return {key: tf.gather(rows, shuffled) for key, rows in batches.items()}


class _OrderedPairs:
    """Every pair of a file once per epoch: anchor row i with positive (and negative) row i; pairs whose
    positive is the same text carry the same `group`, so neither counts the other's positive as a negative."""

    def __init__(self, positive_ids, seed):
        self.groups, self.size, self.seed = positive_ids, len(positive_ids), seed

    def epoch(self, epoch):
        order = tf.cast(_epoch_order(self.size, self.seed, epoch), tf.int32)
        return {"anchor": order, "positive": order, "group": tf.gather(self.groups, order)}


class _SameLabelPairs:
    """Each epoch, every text whose label has another text is paired with one of them, drawn from `(seed, epoch)`."""

    def __init__(self, labels, source, seed):
        counts = np.bincount(labels) if len(labels) else np.zeros(0, int)
        paired = counts[labels] > 1 if len(labels) else np.zeros(0, bool)
        if paired.sum() < 2:
            raise LabelledTextError("no label has two texts, so no text can be paired with another of its label; "
                                    "contrastive training from labels needs several texts per label", source)
        if not paired.all():
            warnings.warn(f"{source}: {int((~paired).sum())} texts are the only one of their label and get no pair; "
                          "they are left out of the contrastive pairs", stacklevel=3)
        self.anchors = np.flatnonzero(paired).astype(np.int32)  # texts that can be paired
        members = np.argsort(labels, kind="stable").astype(np.int32)  # text ids grouped by label
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
        rank = np.empty(len(labels), np.int32)
        rank[members] = np.arange(len(labels), dtype=np.int32) - starts[labels[members]]
        self.labels, self.members, self.starts, self.counts, self.rank = labels, members, starts, counts, rank
        self.size, self.seed = len(self.anchors), seed

    def epoch(self, epoch):
        anchors = tf.gather(self.anchors, _epoch_order(self.size, self.seed, epoch))
        labels = tf.gather(self.labels, anchors)
        count = tf.gather(self.counts.astype(np.int32), labels)
        # another text of the label: 1 to count - 1 places on from the anchor among its label's texts
        draw = tf.random.stateless_uniform([self.size], _draw_seed(self.seed, epoch, 1))
        skip = 1 + tf.cast(tf.floor(draw * tf.cast(count - 1, tf.float32)), tf.int32)
        skip = tf.minimum(skip, count - 1)  # float rounding at the top of the draw
        position = tf.gather(self.starts, labels) + (tf.gather(self.rank, anchors) + skip) % count
        return {"anchor": anchors, "positive": tf.gather(self.members, position), "group": labels}
