"""A character-level tokenizer layer (nanoGPT's Shakespeare-char vocabulary) that runs in tf.data and SavedModels."""

import keras
import numpy as np
import tensorflow as tf

from kerastune.api import register

_MAX_REPORTED = 10  # how many out-of-vocabulary characters an error message lists


@register
class CharacterTokenizer(keras.layers.Layer):
    """Maps each Unicode character of a string to its index in a fixed vocabulary, and back.

    The vocabulary is a list of distinct single characters; the id of a character is its index in
    that list. `CharacterTokenizer.from_corpus(text)` builds the sorted set of characters of a text,
    as nanoGPT's `shakespeare_char/prepare.py` does (65 characters for Tiny Shakespeare). The
    vocabulary is the layer's whole config, so it is saved with any `.keras` model that holds the
    layer. Tokenizing uses `tf.strings.unicode_split` and a `tf.lookup.StaticHashTable`, and
    detokenizing `tf.gather` + `tf.strings.reduce_join`, so both run inside `tf.data.Dataset.map`,
    `tf.function` and an exported SavedModel.

    A character outside the vocabulary is an error, never silently mapped: eagerly a `ValueError`
    quotes the characters and their positions; inside a graph a `tf.debugging.Assert` fails with an
    `InvalidArgumentError` whose message names the problem and lists the characters. Unless
    `unknown_character` is set: then such characters get its id. That suits Chinese, whose corpus
    never holds every character a prompt may bring (rare or traditional forms, emoji):
    `CharacterTokenizer.from_corpus(text, unknown_character="\ufffd")`. Characters outside the Basic
    Multilingual Plane (emoji) are one character each, as Python counts them.

    Args:
        vocabulary: list of distinct single-character strings; index `i` is the token id `i`.
        unknown_character: None (characters outside the vocabulary are an error), or one character of
            the vocabulary that stands for every character outside it.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, ...). `dtype` is the id dtype
            and defaults to `"int32"`.

    Call arguments:
        inputs: a string (scalar) or a batch of strings (`tf.Tensor`, numpy array or list).

    Returns:
        For a scalar string, an int32 `tf.Tensor` of shape `(num_characters,)`; for a batch, an
        int32 `tf.RaggedTensor` of shape `(batch, None)`.

    Example:

    >>> tokenizer = CharacterTokenizer.from_corpus("hello world")
    >>> tokenizer.get_vocabulary()
    [' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w']
    >>> tokenizer("hello").numpy().tolist()
    [3, 2, 4, 4, 5]
    >>> tokenizer.detokenize([3, 2, 4, 4, 5]).numpy().decode()
    'hello'
    """

    def __init__(self, vocabulary, unknown_character=None, **kwargs):
        kwargs.setdefault("dtype", "int32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.vocabulary = _validate_vocabulary(vocabulary)
        if unknown_character is not None and unknown_character not in self.vocabulary:
            raise ValueError(
                "unknown_character must be a character of the vocabulary; build the tokenizer with "
                "CharacterTokenizer.from_corpus(text, unknown_character=...) to add it. "
                f"Received: unknown_character={unknown_character!r}"
            )
        self.unknown_character = unknown_character
        # Strings in, ids out: keep inputs as tf tensors and accept python strings and lists.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self._token_to_id = {token: i for i, token in enumerate(self.vocabulary)}
        # Code point -> id lookup array (-1 outside the vocabulary) for the fast numpy `encode_text`.
        code_points = np.array([ord(c) for c in self.vocabulary], dtype=np.int64)
        self._code_point_ids = np.full(int(code_points.max()) + 2, -1, dtype=np.int32)
        self._code_point_ids[code_points] = np.arange(len(self.vocabulary), dtype=np.int32)
        with tf.init_scope():
            self._vocabulary_tensor = tf.constant(self.vocabulary, dtype=tf.string)
            self._table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    keys=self._vocabulary_tensor,
                    values=tf.range(len(self.vocabulary), dtype=tf.int32),
                ),
                default_value=-1,
            )
        self.built = True

    @classmethod
    def from_corpus(cls, text, unknown_character=None, **kwargs):
        """Returns a tokenizer over the sorted set of characters of `text` (nanoGPT's recipe), plus
        `unknown_character` when it is given (see the class docstring)."""
        if not isinstance(text, str):
            raise TypeError(f"from_corpus expects the corpus as a str; received {type(text).__name__}")
        if not text:
            raise ValueError(
                "from_corpus received an empty text; pass the training corpus to build the vocabulary from"
            )
        characters = set(text) | ({unknown_character} if unknown_character is not None else set())
        return cls(sorted(characters), unknown_character=unknown_character, **kwargs)

    def vocabulary_size(self):
        """The number of characters in the vocabulary (the ids are `0 .. size - 1`)."""
        return len(self.vocabulary)

    def get_vocabulary(self):
        """The vocabulary, a list of characters in id order."""
        return list(self.vocabulary)

    def id_to_token(self, id):
        """The character with token id `id`."""
        if isinstance(id, bool) or not isinstance(id, (int, np.integer)) or not 0 <= id < len(self.vocabulary):
            raise ValueError(f"id must be an integer in [0, {len(self.vocabulary)}); received {id!r}")
        return self.vocabulary[int(id)]

    def token_to_id(self, token):
        """The token id of the character `token`."""
        if token not in self._token_to_id:
            raise ValueError(
                f"token {token!r} is not in the vocabulary of {len(self.vocabulary)} characters; "
                "build the tokenizer from a corpus that contains it"
            )
        return self._token_to_id[token]

    def call(self, inputs):
        return self.tokenize(inputs)

    def tokenize(self, inputs):
        """Strings -> int32 ids: a 1-D tensor for a scalar string, a `tf.RaggedTensor` for a batch."""
        inputs = tf.convert_to_tensor(inputs, dtype=tf.string)
        characters = tf.strings.unicode_split(inputs, "UTF-8", errors="strict")
        if isinstance(characters, tf.RaggedTensor):
            flat_characters = characters.flat_values
            flat_ids = self._check_in_vocabulary(flat_characters, self._table.lookup(flat_characters), characters)
            return characters.with_flat_values(flat_ids)
        return self._check_in_vocabulary(characters, self._table.lookup(characters), characters)

    def detokenize(self, inputs):
        """Ids -> strings: a scalar string for 1-D ids, one string per row for a dense or ragged batch."""
        if not isinstance(inputs, tf.RaggedTensor):
            inputs = tf.convert_to_tensor(inputs)
        if not inputs.dtype.is_integer:
            raise ValueError(f"detokenize expects integer token ids; received dtype {inputs.dtype.name}")
        if inputs.shape.rank == 0:
            raise ValueError("detokenize expects a 1-D sequence or a batch of token ids; received a scalar")
        ids = inputs.flat_values if isinstance(inputs, tf.RaggedTensor) else inputs
        size = len(self.vocabulary)
        in_range = tf.logical_and(ids >= 0, ids < size)
        if tf.executing_eagerly():
            if not bool(tf.reduce_all(in_range)):
                bad = tf.boolean_mask(ids, tf.logical_not(in_range)).numpy()
                raise ValueError(
                    f"token ids must be in [0, {size}) for this vocabulary of {size} characters; "
                    f"received {bad[:_MAX_REPORTED].tolist()}"
                )
        else:
            check = tf.debugging.Assert(
                tf.reduce_all(in_range),
                [f"CharacterTokenizer.detokenize: token ids outside [0, {size}), the vocabulary size:",
                 tf.boolean_mask(ids, tf.logical_not(in_range))],
                summarize=_MAX_REPORTED,
            )
            with tf.control_dependencies([check]):
                ids = tf.identity(ids)
        if isinstance(inputs, tf.RaggedTensor):
            characters = inputs.with_flat_values(tf.gather(self._vocabulary_tensor, ids))
        else:
            characters = tf.gather(self._vocabulary_tensor, ids)
        return tf.strings.reduce_join(characters, axis=-1)

    def encode_text(self, text):
        """Eager, numpy fast path: a whole `str` -> int32 numpy ids (about 10 ms per MB of text)."""
        if not isinstance(text, str):
            raise TypeError(f"encode_text expects a str; received {type(text).__name__}")
        # UTF-32 gives one uint32 code point per character; unknown code points map to -1.
        code_points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        code_points = np.minimum(code_points, len(self._code_point_ids) - 1)
        ids = self._code_point_ids[code_points]
        if self.unknown_character is not None:
            return np.where(ids < 0, self._token_to_id[self.unknown_character], ids).astype(np.int32)
        unknown = np.flatnonzero(ids < 0)
        if unknown.size:
            raise ValueError(self._oov_message([(text[i], int(i)) for i in unknown[:_MAX_REPORTED]], unknown.size))
        return ids

    def decode_text(self, ids):
        """Eager helper: 1-D token ids -> a python `str` (the inverse of `encode_text`)."""
        return self.detokenize(np.asarray(ids).reshape(-1)).numpy().decode("utf-8")

    def _check_in_vocabulary(self, characters, ids, structure):
        """Returns `ids`, having raised (eager) or asserted (graph) that no id is -1 (unknown);
        with `unknown_character` set, the -1 ids become its id instead."""
        unknown = ids < 0
        if self.unknown_character is not None:
            return tf.where(unknown, self._token_to_id[self.unknown_character], ids)
        if tf.executing_eagerly():
            positions = np.flatnonzero(unknown.numpy())
            if positions.size:
                found = []
                for flat_index in positions[:_MAX_REPORTED]:
                    character = characters[int(flat_index)].numpy().decode("utf-8")
                    found.append((character, self._position(structure, int(flat_index))))
                raise ValueError(self._oov_message(found, positions.size))
            return ids
        check = tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(unknown)),
            [f"CharacterTokenizer: input contains characters outside the vocabulary of "
             f"{len(self.vocabulary)} characters (never mapped silently); the characters and "
             "their flat positions:",
             tf.boolean_mask(characters, unknown),
             tf.where(unknown)[:, 0]],
            summarize=_MAX_REPORTED,
        )
        with tf.control_dependencies([check]):
            return tf.identity(ids)

    @staticmethod
    def _position(structure, flat_index):
        """The position of a flat character index: `i` for one string, `(row, i)` for a batch."""
        if not isinstance(structure, tf.RaggedTensor):
            return flat_index
        row_starts = structure.nested_row_splits[-1].numpy()
        row = int(np.searchsorted(row_starts, flat_index, side="right") - 1)
        return (row, flat_index - int(row_starts[row]))

    def _oov_message(self, found, count):
        listed = ", ".join(f"{character!r} at position {position}" for character, position in found)
        more = f" (and {count - len(found)} more)" if count > len(found) else ""
        return (
            f"{count} character(s) are outside the vocabulary of {len(self.vocabulary)} characters: "
            f"{listed}{more}; build the tokenizer with CharacterTokenizer.from_corpus() on text that "
            "contains them, or clean the input"
        )

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(tuple(inputs.shape) + (None,), dtype="int32", ragged=len(inputs.shape) > 0)

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary": list(self.vocabulary), "unknown_character": self.unknown_character})
        return config


def _validate_vocabulary(vocabulary):
    if isinstance(vocabulary, str) or not isinstance(vocabulary, (list, tuple)):
        raise ValueError(
            "vocabulary must be a list of single-character strings, e.g. sorted(set(text)); "
            f"received {type(vocabulary).__name__} {vocabulary!r:.80}"
        )
    if not vocabulary:
        raise ValueError("vocabulary must hold at least one character; received an empty list")
    for index, token in enumerate(vocabulary):
        if not isinstance(token, str) or len(token) != 1:
            raise ValueError(
                f"vocabulary entries must be single characters; received {token!r} at index {index}"
            )
    if len(set(vocabulary)) != len(vocabulary):
        repeated = sorted({token for token in vocabulary if vocabulary.count(token) > 1})
        raise ValueError(f"vocabulary entries must be distinct; received repeated {repeated!r}")
    return list(vocabulary)
