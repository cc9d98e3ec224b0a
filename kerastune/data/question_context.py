"""Question + context -> BERT windows that remember where each context token came from, and back to answers.

Extractive question answering reads `[CLS] question [SEP] context [SEP]` and points at the context
tokens where the answer starts and ends. Two things make it more than `tokenize_and_pack`:

- **Offsets.** The answer must come back as the context's own text (its case, accents and spaces),
  so every context token carries the byte span, in the context, of the word it belongs to. Words are
  split where BERT's tokenizer splits them (spaces of every kind, control characters, punctuation, CJK
  ideographs) but on the original text, and each word is then tokenised alone, so a token's word span
  is known without undoing lower-casing or accent stripping. Answers therefore start and end on word
  boundaries, and punctuation is a word of its own: `"(Einstein),"` gives `Einstein`, not `(Einstein),`.
- **Windows.** A context longer than the window is never cut: it is read in overlapping windows, each
  `[CLS] question [SEP] part of the context [SEP]`, every window starting `stride` tokens after the
  one before (BERT's `doc_stride`; Hugging Face's `stride` is the overlap of two windows instead), the
  last one reaching the context's end.

`pack_question_context` is one graph function of strings, so training data and the exported serving
graph pack alike; `best_answers` turns per-window start/end logits into one answer per question.
"""

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from kerastune.arguments import check_positive_ints
from kerastune.data.bert_inputs import (_pieces_per_sentence, _special_id, _tokenize, ascii_spaces, tokenizer_function,
                                        valid_utf8)

# The logit of a position that can hold neither a start nor an end: far below any real one, finite so that
# differences of scores stay numbers. `SpanExtractor` writes it; `best_answers` reads spans scored with it as none.
MASKED_LOGIT = -1e9

# Where BERT's basic tokenizer splits words (google-research/bert `tokenization.py`: `_is_whitespace`,
# `_is_control`, `_is_punctuation`, `_is_chinese_char`), as RE2 patterns: spaces of every kind (the KerasHub
# tokenizer's `\s` alone misses U+00A0, U+2009, ...), control and format characters (dropped), punctuation (all
# non-alphanumeric ASCII and Unicode's P categories) and CJK ideographs (kept, each a word of its own).
_SPACES = r"\s|\p{Zs}|\p{Cc}|\p{Cf}"
_PUNCTUATION = r"[!-/]|[:-@]|[\[-`]|[{-~]|\p{P}"
_CJK = (r"[\x{4E00}-\x{9FFF}]|[\x{3400}-\x{4DBF}]|[\x{20000}-\x{2A6DF}]|[\x{2A700}-\x{2B73F}]|"
        r"[\x{2B740}-\x{2B81F}]|[\x{2B820}-\x{2CEAF}]|[\x{F900}-\x{FAFF}]|[\x{2F800}-\x{2FA1F}]")


def check_window_settings(sequence_length, stride, max_question_length):
    """Raises a clear error unless the three fit: each window holds the question, 3 special tokens and at least
    `stride` context tokens, so consecutive windows overlap or touch and every context token is read."""
    check_positive_ints(stride=stride, max_question_length=max_question_length)
    room = sequence_length - 3 - max_question_length
    if stride > room:
        raise ValueError(f"a window of {sequence_length} tokens holds [CLS], [SEP], [SEP], up to "
                         f"{max_question_length} question tokens and {room} context tokens, fewer than the stride of "
                         f"{stride}: some context would be skipped. Lower stride or max_question_length. Received: "
                         f"sequence_length={sequence_length}, stride={stride}, "
                         f"max_question_length={max_question_length}")


def context_words(tokenizer, context):
    """The words of each context, split where BERT's tokenizer splits text, with their byte spans.

    Args:
        tokenizer: a KerasHub WordPiece tokenizer (its `split_on_cjk` is followed).
        context: tf.string (batch,), valid UTF-8.

    Returns:
        `(words, begins, ends)`: ragged (batch, None) strings and int32 byte offsets (end exclusive).
    """
    kept = f"{_PUNCTUATION}|{_CJK}" if getattr(tokenizer, "split_on_cjk", True) else _PUNCTUATION
    words, begins, ends = tf_text.regex_split_with_offsets(context, f"{_SPACES}|{kept}", kept)
    return words, tf.cast(begins, tf.int32), tf.cast(ends, tf.int32)


def pack_question_context(tokenizer, question, context, sequence_length=384, stride=128, max_question_length=64):
    """Tokenises questions and contexts into overlapping `[CLS] question [SEP] context part [SEP]` windows.

    A question longer than `max_question_length` tokens keeps its first ones (`question_lengths` tells
    who lost some); a context of any length is read whole, in windows.

    Args:
        tokenizer: a KerasHub WordPiece tokenizer (`cls_token_id`, `sep_token_id`, `oov_token`).
        question, context: tf.string (batch,).
        sequence_length: int, the longest window (the backbone's maximum).
        stride: int, context tokens from one window's start to the next one's.
        max_question_length: int, question tokens kept.

    Returns:
        dict:
        - `token_ids`, `segment_ids`: int32 ragged (windows, None); a question's windows are consecutive,
          questions in order; segment 1 is the context part and its closing `[SEP]`;
        - `example`: int32 (windows,), the question each window reads;
        - `context_offset`: int32 (windows,), the position of the window's first context token;
        - `window_start`: int32 (windows,), the index, among its context's tokens, of that token;
        - `window_length`: int32 (windows,), context tokens in the window;
        - `token_begins`, `token_ends`: int32 ragged (batch, None), each context token's word's byte span;
        - `question_lengths`: int32 (batch,), question tokens before truncation;
        - `context`: tf.string (batch,), the context as read (bytes that are not UTF-8 became U+FFFD).

    Example:

    >>> question, context = tf.constant(["Who?"]), tf.constant(["Ada wrote it."])
    >>> packed = pack_question_context(tokenizer, question, context)  # doctest: +SKIP
    >>> packed["token_ids"].shape  # doctest: +SKIP
    TensorShape([1, None])
    """
    check_window_settings(sequence_length, stride, max_question_length)
    question, context = ascii_spaces(valid_utf8(question)), valid_utf8(context)  # the context's bytes stay in place
    cls_id, sep_id = _special_id(tokenizer, "cls"), _special_id(tokenizer, "sep")
    questions = _tokenize(tokenizer, question)  # (batch, None)
    question_lengths = tf.cast(questions.row_lengths(), tf.int32)
    questions = questions[:, :max_question_length]
    words, begins, ends = context_words(tokenizer, context)
    pieces = _tokenize(tokenizer, words.flat_values)  # (total words, None); a word of combining marks has none
    per_word = pieces.row_lengths()
    token_counts = tf.cast(_pieces_per_sentence(per_word, words.row_lengths()), tf.int32)  # (batch,)
    per_word = tf.cast(per_word, tf.int32)
    tokens = tf.RaggedTensor.from_row_lengths(pieces.flat_values, token_counts)  # (batch, None) context ids
    token_begins = tokens.with_flat_values(tf.repeat(begins.flat_values, per_word))
    token_ends = tokens.with_flat_values(tf.repeat(ends.flat_values, per_word))

    kept_question = tf.cast(questions.row_lengths(), tf.int32)
    width = sequence_length - 3 - kept_question  # context tokens a window of each question holds (>= stride)
    count = 1 + tf.maximum(0, (token_counts - width + stride - 1) // stride)  # windows per example
    example = tf.repeat(tf.range(tf.size(count)), count)  # (windows,)
    window_start = tf.ragged.range(count).flat_values * stride
    window_length = tf.minimum(tf.gather(width, example), tf.gather(token_counts, example) - window_start)
    first = tf.gather(tf.cast(tokens.row_starts(), tf.int32), example) + window_start  # flat index of its first token
    context_ids = tf.gather(tokens.flat_values, tf.ragged.range(first, first + window_length))  # (windows, None)
    window_questions = tf.gather(questions, example)
    windows = tf.shape(example)[0]
    cls, sep = tf.fill([windows, 1], cls_id), tf.fill([windows, 1], sep_id)
    head = tf.concat([cls, window_questions, sep], axis=1)
    tail = tf.concat([context_ids, sep], axis=1)
    return {
        "token_ids": tf.concat([head, tail], axis=1),
        "segment_ids": tf.concat([tf.zeros_like(head), tf.ones_like(tail)], axis=1),
        "example": example,
        "context_offset": tf.cast(head.row_lengths(), tf.int32),
        "window_start": window_start,
        "window_length": window_length,
        "token_begins": token_begins,
        "token_ends": token_ends,
        "question_lengths": question_lengths,
        "context": context,
    }


QUESTION_CONTEXT_SPECS = [tf.TensorSpec([None], tf.string, name="question"),
                          tf.TensorSpec([None], tf.string, name="context")]


def question_packer(tokenizer, sequence_length=384, stride=128, max_question_length=64):
    """`pack_question_context` with `tokenizer` and these settings as one `tf.function` over (batch,) `question`
    and `context` strings, built once per tokenizer and settings: the training windows and the export's
    serving graph call the same function.

    Example:

    >>> pack = question_packer(tokenizer, 384)  # doctest: +SKIP
    >>> packed = pack(tf.constant(["Who wrote it?"]), tf.constant(["Ada wrote it."]))  # doctest: +SKIP
    """
    check_window_settings(sequence_length, stride, max_question_length)

    def make(owner):
        def pack(question, context):
            return pack_question_context(owner(), question, context, sequence_length, stride, max_question_length)

        return tf.function(pack, input_signature=QUESTION_CONTEXT_SPECS)

    key = ("question_context", int(sequence_length), int(stride), int(max_question_length))
    return tokenizer_function(tokenizer, key, make)


def answer_token_spans(token_begins, token_ends, answer_begins, answer_ends, names=None):
    """The first and last context token of each answer: the tokens whose words overlap its bytes.

    Args:
        token_begins, token_ends: ragged (batch, None) from `pack_question_context` (numpy-convertible).
        answer_begins, answer_ends: int arrays (batch,), the answer's byte span in the context, -1 for none.
        names: list of str or None, how an error names each example (e.g. its file and question id).

    Returns:
        `(first, last)`: int32 arrays (batch,), -1 where there is no answer.
    """
    first = np.full(len(answer_begins), -1, np.int32)
    last = np.full(len(answer_begins), -1, np.int32)
    for i, (begins, ends) in enumerate(zip(token_begins, token_ends)):
        if answer_begins[i] < 0:
            continue
        overlap = np.flatnonzero((np.asarray(ends) > answer_begins[i]) & (np.asarray(begins) < answer_ends[i]))
        if not len(overlap):
            name = names[i] if names is not None else f"example {i}"
            raise ValueError(f"{name}: the answer at bytes {answer_begins[i]}-{answer_ends[i]} of its context covers "
                             "no token: it holds only spaces, control or format characters (a zero-width space, "
                             "say), which the tokenizer drops; give the answer a span of the context's words")
        first[i], last[i] = overlap[0], overlap[-1]
    return first, last


def window_labels(packed, first, last):
    """`(start, end)` label positions for every window: the answer's tokens in it, or (0, 0), the `[CLS]`, when
    its question has no answer or the answer is not wholly inside the window.

    Args:
        packed: `pack_question_context`'s output, as numpy (`example`, `context_offset`, `window_start`,
            `window_length`).
        first, last: `answer_token_spans`'s output.

    Returns:
        int32 array (windows, 2).
    """
    example, start = np.asarray(packed["example"]), np.asarray(packed["window_start"])
    offset, length = np.asarray(packed["context_offset"]), np.asarray(packed["window_length"])
    first, last = first[example], last[example]
    inside = (first >= 0) & (first >= start) & (last < start + length)
    labels = np.stack([offset + first - start, offset + last - start], axis=1)
    return np.where(inside[:, None], labels, 0).astype(np.int32)


def best_answers(logits, packed, max_answer_length=30):
    """The best answer of each question from its windows' start/end logits.

    Within a window a span's score is `start_logit + end_logit` over context tokens, start <= end,
    at most `max_answer_length` tokens; a question's answer is its best span over all its windows.
    Its no-answer score is the lowest `[CLS]` score (start and end at position 0) of its windows, as in
    BERT's SQuAD 2.0 code.

    Args:
        logits: float (windows, 2, width), start and end logits of each window.
        packed: `pack_question_context`'s output for the same windows.
        max_answer_length: int, the longest answer, in tokens.

    Returns:
        dict of (batch,) tensors: `answer` (tf.string, the context's own text from the start token's word
        to the end token's word; "" when the context has no token), `begin` and `end` (int32 byte offsets,
        -1 with no answer), `score` (float32), `no_answer_score` (float32, the `[CLS]` score minus `score`:
        above a threshold, SQuAD 2.0 answers "").
    """
    check_positive_ints(max_answer_length=max_answer_length)
    logits = tf.cast(logits, tf.float32)
    start_logits, end_logits = logits[:, 0], logits[:, 1]  # (windows, width)
    width = tf.shape(start_logits)[1]
    positions = tf.range(width)[None, :]
    offset = packed["context_offset"][:, None]
    in_context = (positions >= offset) & (positions < offset + packed["window_length"][:, None])
    start_logits = tf.where(in_context, start_logits, MASKED_LOGIT)
    end_logits = tf.where(in_context, end_logits, MASKED_LOGIT)
    # span scores by length: [w, d, s] = start s, end s + d
    lengths = []
    for d in range(max_answer_length):
        shifted = tf.concat([end_logits[:, d:], tf.fill([tf.shape(end_logits)[0], tf.minimum(d, width)], MASKED_LOGIT)],
                            axis=1)[:, :width]
        lengths.append(start_logits + shifted)
    scores = tf.stack(lengths, axis=1)  # (windows, max_answer_length, width)
    flat = tf.reshape(scores, [tf.shape(scores)[0], -1])
    best_flat = tf.argmax(flat, axis=1, output_type=tf.int32)
    window_score = tf.reduce_max(flat, axis=1)
    window_begin_token = best_flat % width  # positions in the window
    window_end_token = window_begin_token + best_flat // width

    example = packed["example"]
    batch = tf.shape(packed["question_lengths"])[0]
    best_score = tf.math.unsorted_segment_max(window_score, example, batch)
    # the first window reaching its question's best score
    is_best = tf.equal(window_score, tf.gather(best_score, example))
    window_ids = tf.range(tf.shape(example)[0])
    best_window = tf.math.unsorted_segment_min(tf.where(is_best, window_ids, tf.int32.max), example, batch)
    cls_score = tf.reduce_sum(logits[:, :, :1], axis=[1, 2])  # start and end at [CLS] (a slice: batches may be empty)
    null = tf.math.unsorted_segment_min(cls_score, example, batch)

    def context_token(position):  # window position -> index among the context's tokens
        at = tf.gather(position, best_window)
        return at - tf.gather(packed["context_offset"], best_window) + tf.gather(packed["window_start"], best_window)

    has_token = best_score > MASKED_LOGIT / 2
    rows = tf.range(batch)
    first = tf.stack([rows, tf.maximum(context_token(window_begin_token), 0)], axis=1)
    last = tf.stack([rows, tf.maximum(context_token(window_end_token), 0)], axis=1)
    begins = _gather_or(packed["token_begins"], first, has_token)
    ends = _gather_or(packed["token_ends"], last, has_token)
    answer = tf.where(has_token, tf.strings.substr(packed["context"], tf.maximum(begins, 0),
                                                   tf.maximum(ends - begins, 0)), "")
    score = tf.where(has_token, best_score, MASKED_LOGIT)
    return {"answer": answer, "begin": begins, "end": ends, "score": score, "no_answer_score": null - score}


def _gather_or(ragged, indices, found):
    """`ragged[i, j]` for each `(i, j)` in `indices` where `found`, -1 elsewhere (rows may be empty)."""
    starts = tf.cast(ragged.row_starts(), tf.int32)
    flat = tf.gather(starts, indices[:, 0]) + indices[:, 1]
    values = tf.concat([ragged.flat_values, [-1]], axis=0)
    return tf.where(found, tf.gather(values, tf.where(found, flat, tf.size(ragged.flat_values))), -1)
