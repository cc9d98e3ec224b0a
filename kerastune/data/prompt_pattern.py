"""PET's pattern and verbaliser: a classification text rewritten as a cloze, and label words at the mask.

Pattern-Exploiting Training (Schick & Schuetze, 2021, "Exploiting Cloze Questions for Few Shot Text
Classification and Natural Language Inference", EACL) turns an input `x` into a cloze `P(x)` with
one mask, e.g. `"<text> It was [MASK]."`, and maps each label `y` to a word `v(y)` ("great",
"terrible"). The label's score is the masked-LM head's log-probability of `v(y)` at the mask.

- `PromptPattern("<text> It was [MASK].")`: validates the pattern (exactly one `<text>` and one
  `[MASK]`) and `tokenizer(pattern)` wraps a BERT tokenizer so that it returns the pattern's word
  pieces around the text's, the text truncated (never the pattern) so the mask always survives.
  The wrapped tokenizer goes wherever the backbone's tokenizer goes (`ClassificationDataset`, the
  string-in export), so training and serving build the cloze the same way.
- `verbalizer_token_ids(verbalizer, tokenizer)`: label words -> word-piece ids. Every word must
  be a single word piece in the vocabulary (a word split into several pieces, or unknown, is an
  error naming it and its pieces). A label may have several words: its score is then
  `log sum_w P(w)`, the log-probability that the mask is any of them.
"""

import tensorflow as tf

TEXT = "<text>"
MASK = "[MASK]"
DEFAULT_PATTERN = "<text> It was [MASK]."


class PromptPattern:
    """A cloze pattern with one `<text>` slot and one `[MASK]`.

    Args:
        pattern: str, e.g. `"<text> It was [MASK]."` or `"[MASK] news: <text>"`.

    Example:

    >>> PromptPattern("<text> All in all, it was [MASK].").pieces
    ('', ' All in all, it was ', '.')
    """

    def __init__(self, pattern=DEFAULT_PATTERN):
        if not isinstance(pattern, str):
            raise ValueError(f"pattern must be a str with one {TEXT!r} and one {MASK!r}. Received: pattern={pattern!r}")
        for slot in (TEXT, MASK):
            count = pattern.count(slot)
            if count != 1:
                raise ValueError(
                    f"pattern must hold exactly one {slot!r} (found {count}); e.g. {DEFAULT_PATTERN!r}. "
                    f"Received: pattern={pattern!r}"
                )
        self.pattern = pattern
        self.mask_first = pattern.index(MASK) < pattern.index(TEXT)
        # three literal pieces around the two slots, in order of appearance
        first, second = (MASK, TEXT) if self.mask_first else (TEXT, MASK)
        head, rest = pattern.split(first)
        middle, tail = rest.split(second)
        self.pieces = (head, middle, tail)

    def tokenizer(self, tokenizer, sequence_length):
        """The BERT `tokenizer` wrapped to return this pattern's pieces around each text (`PromptTokenizer`)."""
        return PromptTokenizer(tokenizer, self, sequence_length)

    def __repr__(self):
        return f"PromptPattern({self.pattern!r})"


def _piece_ids(tokenizer, text):
    if not text.strip():
        return []
    ids = tokenizer(tf.constant([text]))
    ids = ids.to_list() if hasattr(ids, "to_list") else ids
    return [int(i) for i in (ids[0] if ids and isinstance(ids[0], (list, tuple)) else ids)]


class PromptTokenizer:
    """A BERT tokenizer that returns `pattern(text)`'s word pieces, with the `[MASK]` id at the slot.

    Everything else (`cls_token_id`, `sep_token_id`, `pad_token_id`, `get_vocabulary`,
    `token_to_id`, ...) is the wrapped tokenizer's, so `tokenize_and_pack`, `ClassificationDataset`
    and `export_text_classifier` take it in place of the tokenizer. The text is cut to
    `sequence_length - 2 - (pattern pieces)` word pieces, so `[CLS] cloze [SEP]` always fits and
    the mask is never truncated away.

    Args:
        tokenizer: a KerasHub BERT tokenizer (with a `[MASK]` token).
        pattern: a `PromptPattern`.
        sequence_length: int, the packed length the backbone takes.
    """

    def __init__(self, tokenizer, pattern, sequence_length):
        if isinstance(pattern, str):
            pattern = PromptPattern(pattern)
        self.tokenizer = tokenizer
        self.pattern = pattern
        self.mask_token_id = mask_token_id(tokenizer)
        head, middle, tail = (_piece_ids(tokenizer, piece) for piece in pattern.pieces)
        if pattern.mask_first:
            self.before, self.after = head + [self.mask_token_id] + middle, tail
        else:
            self.before, self.after = head, middle + [self.mask_token_id] + tail
        self.text_budget = int(sequence_length) - 2 - len(self.before) - len(self.after)
        if self.text_budget < 1:
            raise ValueError(
                f"the pattern {pattern.pattern!r} takes {len(self.before) + len(self.after)} word pieces, which "
                f"leaves no room for the text in sequence_length={sequence_length}; use a shorter pattern or a "
                "longer sequence_length"
            )

    def __getattr__(self, name):  # the wrapped tokenizer's attributes (only called for missing ones)
        if name == "tokenizer":
            raise AttributeError(name)
        return getattr(self.tokenizer, name)

    def __call__(self, text):
        ids = self.tokenizer(text)
        if isinstance(ids, list):  # KerasHub returns Python lists when called eagerly
            ids = tf.ragged.constant(ids, dtype=tf.int32, ragged_rank=1, inner_shape=())
        ids = tf.cast(ids, tf.int32)[:, : self.text_budget]  # (batch, None)
        batch = tf.shape(ids.row_lengths())[0]
        parts = [ids]
        if self.before:
            parts.insert(0, tf.tile(tf.constant([self.before], tf.int32), [batch, 1]))
        if self.after:
            parts.append(tf.tile(tf.constant([self.after], tf.int32), [batch, 1]))
        return tf.concat(parts, axis=1)  # (batch, None) ragged: before + text + after


def mask_token_id(tokenizer):
    """The tokenizer's `[MASK]` id (an error when it has none)."""
    value = getattr(tokenizer, "mask_token_id", None)
    if value is None:
        try:
            value = tokenizer.token_to_id(MASK)
        except Exception:  # noqa: BLE001 (KerasHub raises KeyError or ValueError by version)
            value = None
    if value is None:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} has no {MASK} token; PET needs a masked-LM vocabulary")
    return int(value)


def verbalizer_token_ids(verbalizer, tokenizer):
    """Label words -> word-piece ids, one list per label, each word checked to be a single word piece.

    Args:
        verbalizer: a list (label id -> word or list of words) or a dict `{label id or name: word(s)}`
            with every label once; e.g. `["terrible", "great"]` or `[["bad", "awful"], ["good"]]`.
        tokenizer: the backbone's BERT tokenizer.

    Returns:
        list (num_labels) of lists of int word-piece ids.
    """
    if isinstance(verbalizer, dict):
        verbalizer = list(verbalizer.values())
    if not isinstance(verbalizer, (list, tuple)) or len(verbalizer) < 2:
        raise ValueError(f"verbalizer must list the words of at least 2 labels. Received: verbalizer={verbalizer!r}")
    oov = getattr(tokenizer, "oov_token", "[UNK]")
    result = []
    for label, words in enumerate(verbalizer):
        words = [words] if isinstance(words, str) else list(words)
        if not words or not all(isinstance(w, str) and w.strip() for w in words):
            raise ValueError(f"verbalizer label {label} needs one or more non-empty words. Received: {words!r}")
        ids = []
        for word in words:
            pieces = _piece_ids(tokenizer, word.strip())
            names = [tokenizer.id_to_token(i) for i in pieces]
            if len(pieces) != 1 or names[0] == oov:
                raise ValueError(
                    f"verbalizer word {word!r} (label {label}) is {len(pieces)} word pieces {names} in this vocabulary; "
                    "each label word must be exactly one known word piece (the mask predicts one token). "
                    "Choose another word, or list several single-piece words for the label."
                )
            ids.append(pieces[0])
        result.append(ids)
    return result
