"""A tokenizer learned from a corpus: characters (nanoGPT) or SentencePiece subwords."""

from kerastune.data.character_tokenizer import CharacterTokenizer
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
