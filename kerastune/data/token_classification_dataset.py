"""Word -> sub-word alignment, windows and dynamically padded `tf.data` batches for token tagging.

Alignment (as BERT's NER fine-tuning, Devlin et al. 2019, section 5.3): each word is tokenised on
its own; its *first* sub-word carries the word's tag, the other sub-words get the ignore label
`IGNORE` (-1) and sample weight 0, so loss and metrics see exactly one position per word. A word
the tokenizer turns into no sub-word at all (e.g. a lone control character) becomes `[UNK]`, so no
word and no label is ever dropped.

Windows: a sentence of more than `sequence_length - 2` sub-words is cut into consecutive windows of
`sequence_length - 2` sub-words (each gets its own `[CLS]` ... `[SEP]`). Every sub-word is in
exactly one window, so every word's first sub-word -- its label -- is in exactly one window; a
word may straddle two windows (its continuation pieces then open the next one). The number of
split sentences is counted and warned about, never silent.

Words become windows in `kerastune.data.bert_inputs.align_words`, the function the exported
serving graph calls too, so serving tokenises exactly as training did.
"""

import dataclasses
import math
import warnings

import numpy as np
import tensorflow as tf

from kerastune.data.bert_inputs import IGNORE, align_words, fill_padding, pad_id
from kerastune.data.length_buckets import batch_by_length, pad_batch_to_multiple


@dataclasses.dataclass
class TokenClassificationDataset:
    """A `tf.data.Dataset` of `({"token_ids", "segment_ids", "padding_mask"}, labels, sample_weight)`.

    Labels are int32 (batch, seq) tag ids (0 where ignored); `sample_weight` is float32 (batch, seq),
    1 on each word's first sub-word and 0 on [CLS], [SEP], padding and continuation pieces, so
    Keras losses (`reduction="mean_with_sample_weight"`) and `weighted_metrics` count one position
    per word. Build one with `TokenClassificationDataset.from_sentences(...)`.

    Attributes:
        dataset: the batches. Training datasets repeat endlessly (reshuffled each pass): pass
            `steps_per_epoch` to `fit`.
        steps_per_epoch: int.
        num_sentences, num_windows, num_split: int; `num_split` sentences needed more than one window.
        token_ids: ragged (windows, None), every window in source order.
        is_first: np.ndarray bool (total sub-words,), see `align_words`.
        words_per_sentence, windows_per_sentence: np.ndarray int (num_sentences,).
        tag_names: list of str.
    """

    dataset: tf.data.Dataset
    steps_per_epoch: int
    num_sentences: int
    num_windows: int
    num_split: int
    token_ids: object
    is_first: np.ndarray
    words_per_sentence: np.ndarray
    windows_per_sentence: np.ndarray
    tag_names: list

    @classmethod
    def from_sentences(
        cls, data, tokenizer, batch_size=32, sequence_length=512, training=False, seed=0, pad_to_multiple_of=8,
        drop_remainder=None,
    ):
        """Aligns `data` (`TaggedSentences`) once and batches it.

        Args:
            data: `kerastune.data.TaggedSentences`.
            tokenizer: the backbone's KerasHub WordPiece tokenizer.
            batch_size: int.
            sequence_length: int, the backbone's maximum window (longer sentences are split).
            training: bool; True shuffles (seeded) and batches by length bucket; False keeps order.
            seed: int, the shuffle seed.
            pad_to_multiple_of: int, bucket width and padding granularity.
            drop_remainder: bool or None for "when training".
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; received {batch_size!r}")
        if drop_remainder is None:
            drop_remainder = training
        words = tf.ragged.constant(data.words, dtype=tf.string)
        labels = tf.ragged.constant(data.tags, dtype=tf.int32, ragged_rank=1)
        aligned = align_words(tokenizer, words, sequence_length, labels)
        token_ids, window_labels = aligned["token_ids"], aligned["labels"]
        windows_per_sentence = aligned["windows_per_sentence"].numpy()
        num_split = int((windows_per_sentence > 1).sum())
        if num_split:
            warnings.warn(
                f"{data.source}: {num_split} of {len(data)} sentences are longer than {sequence_length - 2} "
                f"sub-words and are split into windows ({int(windows_per_sentence.sum())} windows); no label is dropped",
                stacklevel=2,
            )
        lengths = token_ids.row_lengths().numpy()
        examples = tf.data.Dataset.from_tensor_slices((token_ids, window_labels))

        def features(ids, y):  # one window: (None,)
            inputs = {"token_ids": ids, "segment_ids": tf.zeros_like(ids), "padding_mask": tf.ones_like(ids)}
            return inputs, tf.maximum(y, 0), tf.cast(y != IGNORE, tf.float32)

        ds = examples.map(features).cache()
        multiple = max(int(pad_to_multiple_of), 1)
        if training:
            ds = ds.shuffle(max(len(lengths), 1), seed=seed, reshuffle_each_iteration=True)

            ds, steps = batch_by_length(ds, lengths, batch_size, multiple, sequence_length, drop_remainder)
            ds = ds.repeat()
        else:
            ds = ds.padded_batch(batch_size, drop_remainder=drop_remainder)
            if multiple > 1:
                ds = ds.map(lambda x, y, w: pad_batch_to_multiple((x, y, w), multiple, sequence_length))
            steps = len(lengths) // batch_size if drop_remainder else math.ceil(len(lengths) / batch_size)
            ds = ds.apply(tf.data.experimental.assert_cardinality(steps))  # Keras then knows the length
        padding_id = pad_id(tokenizer)
        if padding_id:
            ds = ds.map(lambda x, y, w: (fill_padding(x, padding_id), y, w))
        options = tf.data.Options()
        options.deterministic = True
        ds = ds.with_options(options).prefetch(tf.data.AUTOTUNE)
        return cls(
            ds, max(steps, 1), len(data), len(lengths), num_split, token_ids, aligned["is_first"].numpy(),
            aligned["words_per_sentence"].numpy(), windows_per_sentence, list(data.tag_names),
        )
