"""Token ids of Python strings, through whichever tokenizer layer a model holds."""

import numpy as np


def encode_texts(tokenizer, texts):
    """Token ids of each text, a list of 1-D int32 numpy arrays.

    Uses the tokenizer's fast numpy `encode_text` where it has one (`CharacterTokenizer`), else
    one batched `tokenize` call (KerasHub tokenizers).

    Args:
        tokenizer: a tokenizer layer.
        texts: a list of str.

    Example:

    >>> from kerastune.data.character_tokenizer import CharacterTokenizer
    >>> [ids.tolist() for ids in encode_texts(CharacterTokenizer.from_corpus("abc"), ["ab", "c"])]
    [[0, 1], [2]]
    """
    if hasattr(tokenizer, "encode_text"):
        return [tokenizer.encode_text(text) for text in texts]
    # KerasHub tokenizers return Python lists of ids outside a graph (a list per text)
    return [np.asarray(ids, np.int32) for ids in tokenizer.tokenize(list(texts))]
