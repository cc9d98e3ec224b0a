"""Batches of `[CLS] question [SEP] context [SEP]` windows with the answer's (start, end) positions.

Questions and contexts are packed by `kerastune.data.question_context.question_packer` (the function
the export's serving graph calls): a long context becomes several overlapping windows, none of it
cut. A window's label is the position of the answer's first and last token in it, or (0, 0), the
`[CLS]`, when the window does not hold the whole answer or the question has none (SQuAD 2.0). A
question with several gold answers is trained on its first, as BERT and Hugging Face do; evaluation
scores against all of them.
"""

import dataclasses
import math
import warnings

import numpy as np
import tensorflow as tf

from kerastune.arguments import check_positive_ints
from kerastune.data.bert_inputs import count_truncated, fill_padding, pad_id
from kerastune.data.length_buckets import batch_by_length, pad_batch_to_multiple
from kerastune.data.question_context import answer_token_spans, question_packer, window_labels

_PACK_CHUNK = 512


@dataclasses.dataclass
class QuestionAnsweringDataset:
    """A `tf.data.Dataset` of `({"token_ids", "segment_ids", "padding_mask"}, labels)` window batches.

    Build one with `QuestionAnsweringDataset.from_examples(...)`.

    Attributes:
        dataset: the `tf.data.Dataset`; features int32 (batch, seq), labels int32 (batch, 2), the answer's start
            and end positions. Training datasets repeat endlessly (each pass reshuffled): pass `steps_per_epoch`.
        steps_per_epoch: int, batches in one pass.
        num_examples: int, questions in the source.
        num_windows: int, windows they make (more than `num_examples` when contexts are longer than a window).
        num_truncated: int, questions longer than `max_question_length` tokens, which keep their first ones.
        num_answers_split: int, windows whose question's answer is only partly inside them (labelled `[CLS]`;
            answered questions no window holds whole are warned of).
        lengths: np.ndarray, every window's length in tokens.
    """

    dataset: tf.data.Dataset
    steps_per_epoch: int
    num_examples: int
    num_windows: int
    num_truncated: int
    num_answers_split: int
    lengths: np.ndarray

    @classmethod
    def from_examples(cls, examples, tokenizer, batch_size=32, sequence_length=384, training=False, seed=0,
                      pad_to_multiple_of=8, stride=128, max_question_length=64):
        """Packs `examples` into windows with labels and batches them.

        Args:
            examples: `kerastune.data.QuestionAnswers`.
            tokenizer: the backbone's KerasHub tokenizer.
            batch_size: int, windows per batch.
            sequence_length: int, the longest window (the backbone's maximum).
            training: bool; True shuffles (seeded), batches windows of similar length, drops each length
                bucket's last partial batch and repeats.
            seed: int, the shuffle seed.
            pad_to_multiple_of: int, batch widths are multiples of it.
            stride: int, context tokens from one window's start to the next's.
            max_question_length: int, question tokens kept (a longer question keeps its first ones, with a warning).

        Example:

        >>> data = QuestionAnsweringDataset.from_examples(examples, tokenizer, training=True)  # doctest: +SKIP
        >>> model.fit(data.dataset, steps_per_epoch=data.steps_per_epoch)  # doctest: +SKIP
        """
        check_positive_ints(batch_size=batch_size, pad_to_multiple_of=pad_to_multiple_of)
        pack = question_packer(tokenizer, sequence_length, stride, max_question_length)
        windows = pack_examples(pack, examples)
        num_truncated = count_truncated(windows["question_lengths"], max_question_length, examples.source, "end",
                                        noun="questions", limit="max_question_length")
        begins, ends = answer_bytes(examples)
        names = [f"{examples.source}, question {qid!r}" for qid in examples.ids]
        first, last = answer_token_spans(windows["token_begins"], windows["token_ends"], begins, ends, names)
        labels = window_labels(windows, first, last)
        split = _answers_split(windows, first, last)
        _warn_of_unread_answers(windows["example"], first, labels, examples.source)
        token_ids, segment_ids = windows["token_ids"], windows["segment_ids"]
        lengths = np.asarray(token_ids.row_lengths(), np.int64)
        ds = tf.data.Dataset.from_tensor_slices((token_ids, segment_ids, labels[:, 0], labels[:, 1]))

        def features(ids, segments, start, end):  # one window; start and end scalars, so batching pads no label
            return {"token_ids": ids, "segment_ids": segments, "padding_mask": tf.ones_like(ids)}, (start, end)

        ds = ds.map(features).cache()
        if training:
            if len(lengths) < batch_size:
                raise ValueError(f"{examples.source}: {len(examples)} questions make {len(lengths)} windows, fewer "
                                 f"than one batch of {batch_size}; pass a smaller batch_size or more data")
            ds = ds.shuffle(len(lengths), seed=seed, reshuffle_each_iteration=True)
            ds, steps = batch_by_length(ds, lengths, batch_size, pad_to_multiple_of, sequence_length, True)
            ds = ds.repeat()
        else:
            ds = ds.padded_batch(batch_size)
            if pad_to_multiple_of > 1:
                ds = ds.map(lambda f, y: (pad_batch_to_multiple(f, pad_to_multiple_of, sequence_length), y))
            steps = math.ceil(len(lengths) / batch_size)
            ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
        padding_id = pad_id(tokenizer)
        ds = ds.map(lambda f, y: (fill_padding(f, padding_id), tf.stack(y, axis=1)))  # labels (batch, 2)
        options = tf.data.Options()
        options.deterministic = True
        ds = ds.with_options(options).prefetch(tf.data.AUTOTUNE)
        return cls(ds, steps, len(examples), len(lengths), num_truncated, split, lengths)


def pack_examples(pack, examples):
    """`pack` (a `question_packer`) over all of `examples`, in chunks: one dict of windows for them all, `example`
    indexing `examples`; ragged values as `tf.RaggedTensor` (windows) or lists of arrays (per question)."""
    chunks = []
    for start in range(0, len(examples), _PACK_CHUNK):
        stop = start + _PACK_CHUNK
        packed = pack(tf.constant(list(examples.questions[start:stop]), tf.string),
                      tf.constant(list(examples.contexts[start:stop]), tf.string))
        chunks.append((start, packed))
    out = {
        "token_ids": tf.concat([p["token_ids"] for _, p in chunks], axis=0),
        "segment_ids": tf.concat([p["segment_ids"] for _, p in chunks], axis=0),
        "example": np.concatenate([p["example"].numpy() + start for start, p in chunks]),
    }
    for key in ("context_offset", "window_start", "window_length", "question_lengths"):
        out[key] = np.concatenate([p[key].numpy() for _, p in chunks])
    for key in ("token_begins", "token_ends"):
        out[key] = [row for _, p in chunks for row in p[key].numpy()]  # one array per question
    return out


def answer_bytes(examples):
    """Each question's first gold answer as a byte span of its context (UTF-8), `(begins, ends)`, -1 for none."""
    begins = np.full(len(examples), -1, np.int64)
    ends = np.full(len(examples), -1, np.int64)
    for i, (context, answers, starts) in enumerate(zip(examples.contexts, examples.answers, examples.answer_starts)):
        if answers:
            begins[i] = len(context[:starts[0]].encode("utf-8"))
            ends[i] = begins[i] + len(answers[0].encode("utf-8"))
    return begins, ends


def _answers_split(windows, first, last):
    """Windows that hold part of their question's answer but not all of it (so they are labelled `[CLS]`)."""
    example = windows["example"]
    start, stop = windows["window_start"], windows["window_start"] + windows["window_length"]
    f, l = first[example], last[example]
    overlaps = (f >= 0) & (l >= start) & (f < stop)
    inside = (f >= start) & (l < stop)
    return int((overlaps & ~inside).sum())


def _warn_of_unread_answers(example, first, labels, source):
    """Warns, counting them, of answered questions none of whose windows holds the whole answer: they train as
    "no answer" everywhere (an answer longer than a window's context part, or cut by every window)."""
    answered = np.flatnonzero(first >= 0)
    held = np.zeros(len(first), bool)
    held[example[labels[:, 0] > 0]] = True
    unread = int((~held[answered]).sum())
    if unread:
        warnings.warn(f"{source}: {unread} of {len(answered)} answered questions have no window holding their whole "
                      "answer, so they train as unanswerable; lower stride (windows start closer) or raise "
                      "max_sequence_length (wider windows)", stacklevel=3)
