"""A tokenizer learned from a corpus: characters (nanoGPT) or SentencePiece subwords; saved beside its data."""

import json
import os

import keras
import keras_hub

from kerastune.data.character_tokenizer import CharacterTokenizer
from kerastune.data.subword_tokenizer import load_subword_tokenizer, save_subword_tokenizer
from kerastune.data.subword_tokenizer import train_sentencepiece_tokenizer

TOKENIZER_KINDS = ("character", "sentencepiece")


def build_tokenizer(kind, text, vocabulary_size=1000, seed=0):
    """A tokenizer learned from `text`: `"character"` (one id per distinct character, as nanoGPT) or
    `"sentencepiece"` (`vocabulary_size` subword pieces, lossless: unknown text falls back to bytes).

    Example:

    >>> build_tokenizer("character", "abca").vocabulary_size()
    3
    """
    if kind == "character":
        return CharacterTokenizer.from_corpus(text)
    if kind == "sentencepiece":
        return train_sentencepiece_tokenizer([text], vocabulary_size=vocabulary_size)
    raise ValueError(f"tokenizer must be one of {TOKENIZER_KINDS}. Received: tokenizer={kind!r}")


def save_tokenizer(tokenizer, directory):
    """Writes a `CharacterTokenizer` or a KerasHub tokenizer to `directory` (`tokenizer.json`, and KerasHub's
    `assets/tokenizer/` vocabulary file); `load_tokenizer` reads it back, offline.

    Example:

    >>> save_tokenizer(build_tokenizer("character", "abc"), "/tmp/demo_tokenizer")  # doctest: +SKIP
    """
    if isinstance(tokenizer, keras_hub.tokenizers.Tokenizer):
        save_subword_tokenizer(tokenizer, directory)
        return
    if not isinstance(tokenizer, CharacterTokenizer):
        raise ValueError("tokenizer must be a kerastune CharacterTokenizer or a keras_hub.tokenizers.Tokenizer; "
                         f"received {type(tokenizer).__name__}")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(keras.saving.serialize_keras_object(tokenizer), f, ensure_ascii=False)


def load_tokenizer(directory):
    """The tokenizer `save_tokenizer` wrote to `directory`."""
    return load_subword_tokenizer(directory)
