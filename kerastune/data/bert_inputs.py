"""BERT inputs, one module for training and serving: tokenize and pack, word alignment, padding.

Every path that turns text into a BERT-style backbone's inputs goes through here: the training
batches (`ClassificationDataset`, `TokenClassificationDataset`, `MaskedLMDataset`) and the exported
string-in serving graphs. So serving tokenises, truncates, aligns and pads exactly as training did.

- `tokenize_and_pack`: strings (and optional pairs) -> ragged `[CLS] a [SEP] (b [SEP])` ids and
  segment ids, truncated to the backbone's maximum (round robin for pairs), cutting each text's
  end or its middle (`truncate`); `packer` makes it one `tf.function` per tokenizer, which the
  training batches and the exports call.
- `align_words`: words -> windows of sub-words with first-sub-word labels (token tagging).
- `pad_id` and `dense_inputs`: the padding id (the tokenizer's `[PAD]`), and ragged ids -> the
  dense `{"token_ids", "segment_ids", "padding_mask"}` dict; `fill_padding` writes the padding id
  into batches that `tf.data` padded with zeros.
"""

import warnings
import weakref

import tensorflow as tf

from kerastune.data.length_buckets import pad_batch_to_multiple

IGNORE = -1  # label of [CLS], [SEP], padding and non-first sub-words


def pad_id(tokenizer):
    """The id padding positions hold: the tokenizer's `pad_token_id` (0 when it has none)."""
    value = getattr(tokenizer, "pad_token_id", None)
    return 0 if value is None else int(value)


def fill_padding(features, padding_id):
    """`features` with `token_ids` set to `padding_id` wherever `padding_mask` is 0 (dense batches)."""
    if not padding_id:
        return features
    mask = tf.cast(features["padding_mask"], tf.bool)
    token_ids = features["token_ids"]
    return {**features, "token_ids": tf.where(mask, token_ids, tf.cast(padding_id, token_ids.dtype))}


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


TRUNCATE_MODES = ("end", "middle")


def check_truncate(truncate):
    """Raises a clear error unless `truncate` is one of `TRUNCATE_MODES`."""
    if truncate not in TRUNCATE_MODES:
        raise ValueError(f"truncate must be one of {TRUNCATE_MODES}: 'end' keeps a long text's start, 'middle' "
                         f"its first quarter and last three quarters. Received: truncate={truncate!r}")


def _kept(pieces, keep, truncate):
    """The `keep` (batch,) pieces each row of ragged `pieces` keeps: its first ones (`"end"`), or its
    first quarter and last three quarters of them, the middle cut (`"middle"`)."""
    positions = tf.ragged.range(keep).flat_values  # (kept,) position within its row
    if truncate == "middle":
        head = tf.repeat(keep // 4, keep)
        cut = tf.repeat(tf.cast(pieces.row_lengths(), tf.int32) - keep, keep)  # pieces dropped, per row
        positions = tf.where(positions < head, positions, positions + cut)
    starts = tf.repeat(tf.cast(pieces.row_starts(), tf.int32), keep)
    values = tf.gather(pieces.flat_values, starts + positions)
    # flat indices, not a batched ragged gather: the same result, traced without its shape asserts
    return tf.RaggedTensor.from_row_lengths(values, tf.cast(keep, pieces.row_splits.dtype), validate=False)


def tokenize_and_pack(tokenizer, text, text_pair=None, sequence_length=512, truncate="end"):
    """Tokenises a batch of strings into ragged BERT inputs: `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`.

    Truncation keeps at most `sequence_length` tokens; for pairs it is round robin (each segment
    keeps at least half the budget when it needs it, the longer one gives up the rest), as in
    `keras_hub.layers.MultiSegmentPacker(truncate="round_robin")`. A text that must lose pieces
    loses its end (`truncate="end"`), or its middle (`"middle"`: it keeps its first quarter and
    last three quarters, the head + tail truncation of Sun et al. 2019, "How to Fine-Tune BERT for
    Text Classification?", for reviews whose verdict comes last).

    Args:
        tokenizer: a KerasHub WordPiece tokenizer (has `cls_token_id`, `sep_token_id`).
        text: tf.string, shape (batch,).
        text_pair: tf.string, shape (batch,), or None.
        sequence_length: int, the longest packed sequence (the backbone's maximum).
        truncate: `"end"` or `"middle"`, the part of a long text that is cut.

    Returns:
        (token_ids, segment_ids, full_lengths): two int32 `tf.RaggedTensor`s (batch, None) and the
        int32 length each example would have had without truncation, shape (batch,).

    Example:

    >>> ids, segments, full = tokenize_and_pack(tokenizer, tf.constant(["a long review"]), None, 128, "middle")  # doctest: +SKIP
    """
    check_truncate(truncate)
    cls_id, sep_id = _special_id(tokenizer, "cls"), _special_id(tokenizer, "sep")
    a = _tokenize(tokenizer, text)  # (batch, None)
    batch = tf.shape(a.row_lengths())[0]
    cls = tf.fill([batch, 1], cls_id)
    sep = tf.fill([batch, 1], sep_id)
    len_a = tf.cast(a.row_lengths(), tf.int32)
    if text_pair is None:
        full = len_a + 2
        a = _kept(a, tf.minimum(len_a, sequence_length - 2), truncate)
        token_ids = tf.concat([cls, a, sep], axis=1)
        segment_ids = tf.zeros_like(token_ids)
        return token_ids, segment_ids, full
    b = _tokenize(tokenizer, text_pair)
    len_b = tf.cast(b.row_lengths(), tf.int32)
    full = len_a + len_b + 3
    budget = sequence_length - 3
    keep_a = tf.minimum(len_a, tf.maximum((budget + 1) // 2, budget - len_b))  # (batch,)
    keep_b = tf.minimum(len_b, budget - keep_a)
    a, b = _kept(a, keep_a, truncate), _kept(b, keep_b, truncate)
    token_ids = tf.concat([cls, a, sep, b, sep], axis=1)
    segment_ids = tf.concat(
        [tf.zeros_like(tf.concat([cls, a, sep], axis=1)), tf.ones_like(tf.concat([b, sep], axis=1))], axis=1
    )
    return token_ids, segment_ids, full


def count_truncated(full_lengths, sequence_length, source, truncate, noun="examples", limit="the backbone's maximum"):
    """How many of `full_lengths` (packed lengths before truncation) exceed `sequence_length`, with a warning
    that counts them, names `source`, the `limit` they pass and which part of them is cut. A data set calls it
    once, before training."""
    num_truncated = int((full_lengths > sequence_length).sum())
    if num_truncated:
        warnings.warn(f"{source}: {num_truncated} of {len(full_lengths)} {noun} are longer than {limit} of "
                      f"{sequence_length} tokens (longest {int(full_lengths.max())}) and are truncated to it (their "
                      f"{truncate} cut)", stacklevel=3)
    return num_truncated


def valid_utf8(text):
    """`text` with every byte sequence that is not UTF-8 replaced by U+FFFD, so the tokenizer never fails, and every
    NUL byte by a space (TensorFlow Text's splitting stops at a NUL: the rest of the text would go unread). Byte
    offsets into valid UTF-8 text stay where they were."""
    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
    return tf.strings.regex_replace(text, "\\x00", " ")


def ascii_spaces(text):
    """`text` with every Unicode space (category Zs: no-break, thin, ideographic, ...) written as " ". The KerasHub
    tokenizer splits words at ASCII whitespace only (RE2's `\\s`); BERT's and Hugging Face's split at all of them,
    so "1843\\u2009AD" is two words there, and is here too."""
    return tf.strings.regex_replace(text, "\\p{Zs}", " ")


_PACKERS = weakref.WeakKeyDictionary()  # tokenizer -> {key: tf.function}


def packer(tokenizer, sequence_length=512, pair=False, truncate="end"):
    """`tokenize_and_pack` with `tokenizer` as one `tf.function` over (batch,) strings (`text`, and
    `text_pair` when `pair`), bytes that are not UTF-8 read as U+FFFD (`valid_utf8`), Unicode spaces as spaces
    (`ascii_spaces`).

    One per tokenizer and settings, kept while the tokenizer lives: a run's training and validation
    batches and its export's signatures call the same function, so the tokenizer is traced once for
    the batches and once for the export (`tf.data`'s graphs are another tracing context), not once
    per dataset and signature.

    Example:

    >>> pack = packer(tokenizer, 128)  # doctest: +SKIP
    >>> token_ids, segment_ids, full_lengths = pack(tf.constant(["a great film"]))  # doctest: +SKIP
    """
    check_truncate(truncate)

    def make(owner):
        def pack(text, text_pair=None):
            text_pair = None if text_pair is None else ascii_spaces(valid_utf8(text_pair))
            return tokenize_and_pack(owner(), ascii_spaces(valid_utf8(text)), text_pair, sequence_length, truncate)

        return tf.function(pack, input_signature=text_specs(pair))

    return tokenizer_function(tokenizer, ("pack", int(sequence_length), bool(pair), truncate), make)


def tokenizer_function(tokenizer, key, make):
    """The `tf.function` `make(owner)` builds for `tokenizer` and `key`, built once and kept while the tokenizer
    lives (`owner()` returns the tokenizer: the cache must not keep its own key alive). Every string-in graph
    that tokenises (`packer`, `kerastune.data.question_context.question_packer`) is cached here."""
    functions = _PACKERS.setdefault(tokenizer, {})
    if key not in functions:
        functions[key] = make(weakref.ref(tokenizer))
    return functions[key]


def text_specs(pair=False):
    """The input signature of a function over strings: `text` (batch,), and `text_pair` when `pair`."""
    specs = [tf.TensorSpec([None], tf.string, name="text")]
    return specs + [tf.TensorSpec([None], tf.string, name="text_pair")] if pair else specs


def dense_inputs(token_ids, segment_ids=None, padding_id=0, multiple=1, limit=None):
    """Ragged packed ids -> the backbone's dense input dict, padded to a multiple of `multiple`.

    Args:
        token_ids: int32 `tf.RaggedTensor` (batch, None).
        segment_ids: the same shape, or None for all zeros (single segments, token tagging).
        padding_id: int, written at padding positions (`pad_id(tokenizer)`).
        multiple: int, right-pad the width to a multiple of it.
        limit: int or None, the widest the padding may make a batch.
    """
    if segment_ids is None:
        segment_ids = tf.zeros_like(token_ids)
    features = {
        "token_ids": token_ids.to_tensor(),
        "segment_ids": segment_ids.to_tensor(),
        "padding_mask": tf.ones_like(token_ids).to_tensor(),
    }
    if multiple > 1:
        features = pad_batch_to_multiple(features, multiple, limit)
    return fill_padding(features, padding_id)


def _tokenize_words(tokenizer, words):
    """(n,) tf.string words -> ragged (n, None) int32 sub-word ids, at least one per word."""
    ids = tokenizer(words)
    if isinstance(ids, list):  # KerasHub returns Python lists when called eagerly
        ids = tf.ragged.constant(ids, dtype=tf.int32, ragged_rank=1, inner_shape=())
    ids = tf.cast(ids, tf.int32)
    if not isinstance(ids, tf.RaggedTensor):
        ids = tf.RaggedTensor.from_tensor(ids)
    counts = tf.cast(ids.row_lengths(), tf.int32)
    unk = tf.fill([tf.shape(counts)[0], 1], tf.constant(tokenizer.token_to_id(tokenizer.oov_token), tf.int32))
    padded = tf.concat([ids, unk], axis=1)  # a word with no piece keeps [UNK]
    return tf.gather(padded, tf.ragged.range(tf.maximum(counts, 1)), batch_dims=1)


def align_words(tokenizer, words, sequence_length, word_labels=None):
    """Tokenises ragged words into BERT windows with first-sub-word alignment.

    Args:
        tokenizer: a KerasHub WordPiece tokenizer (`cls_token_id`, `sep_token_id`, `oov_token`).
        words: tf.string `tf.RaggedTensor` (batch, None words).
        sequence_length: int, the longest window including `[CLS]` and `[SEP]` (>= 3).
        word_labels: int32 `tf.RaggedTensor` (batch, None) aligned with `words`, or None.

    Returns:
        dict:
        - `token_ids`: int32 ragged (windows, None) `[CLS] pieces [SEP]`, windows of a sentence
          consecutive, sentences in order;
        - `windows_per_sentence`: int32 (batch,);
        - `is_first`: bool (total sub-words,), in window order without [CLS]/[SEP]: whether the
          sub-word is its word's first; `boolean_mask` of per-sub-word predictions with it gives one
          prediction per word, in order;
        - `words_per_sentence`: int32 (batch,);
        - `labels` (when `word_labels` given): int32 ragged like `token_ids`, the word's label on
          its first sub-word and `IGNORE` elsewhere.
    """
    if sequence_length < 3:
        raise ValueError(f"sequence_length must be at least 3 ([CLS] piece [SEP]); received {sequence_length!r}")
    width = sequence_length - 2
    pieces = _tokenize_words(tokenizer, words.flat_values)  # (total words, None pieces)
    piece_counts = pieces.row_lengths()
    is_first = tf.equal(tf.ragged.range(piece_counts), 0).flat_values  # (total pieces,)
    per_sentence = tf.RaggedTensor.from_row_lengths(
        pieces.flat_values, _pieces_per_sentence(piece_counts, words.row_lengths())
    )  # (batch, None pieces)
    n = tf.cast(per_sentence.row_lengths(), tf.int32)  # (batch,)
    num_windows = tf.maximum((n + width - 1) // width, 1)  # an empty sentence still gets [CLS] [SEP]
    window_lengths = tf.minimum(width, tf.expand_dims(n, 1) - tf.ragged.range(num_windows) * width).flat_values
    windows = tf.RaggedTensor.from_row_lengths(per_sentence.flat_values, window_lengths)  # (windows, None)
    count = tf.shape(window_lengths)[0]
    cls = tf.fill([count, 1], tf.constant(int(tokenizer.cls_token_id), tf.int32))
    sep = tf.fill([count, 1], tf.constant(int(tokenizer.sep_token_id), tf.int32))
    out = {
        "token_ids": tf.concat([cls, windows, sep], axis=1),
        "windows_per_sentence": num_windows,
        "is_first": is_first,
        "words_per_sentence": tf.cast(words.row_lengths(), tf.int32),
    }
    if word_labels is not None:
        labels = tf.repeat(tf.cast(word_labels.flat_values, tf.int32), piece_counts)  # (total pieces,)
        labels = tf.where(is_first, labels, IGNORE)
        ignore = tf.fill([count, 1], IGNORE)
        out["labels"] = tf.concat([ignore, windows.with_flat_values(labels), ignore], axis=1)
    return out


def _pieces_per_sentence(piece_counts, words_per_sentence):
    """Sub-words per sentence: the sum of its words' piece counts. (batch,) int64."""
    sentence_of_word = tf.repeat(tf.range(tf.shape(words_per_sentence)[0], dtype=tf.int64), words_per_sentence)
    return tf.math.unsorted_segment_sum(piece_counts, sentence_of_word, tf.shape(words_per_sentence)[0])


def first_subword_predictions(predictions, token_ids, is_first):
    """Per-window predictions (windows, width) -> one per word (flat, in order), via `is_first`.

    Args:
        predictions: (windows, width) array or tensor, one value per position (padded windows ok).
        token_ids: ragged (windows, None) `[CLS] ... [SEP]` (gives each window's length).
        is_first: bool (total sub-words,), from `align_words`.
    """
    lengths = token_ids.row_lengths()
    ragged = tf.RaggedTensor.from_tensor(predictions, lengths=lengths)[:, 1:-1]  # drop [CLS], [SEP]
    return tf.boolean_mask(ragged.flat_values, is_first)
