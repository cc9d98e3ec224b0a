"""Seeded character typos: a robustness copy of an evaluation set (how a model reads noisy text)."""

import random
import string

TYPO_KINDS = ("delete", "insert", "substitute", "swap")


def character_typos(texts, rate=0.1, seed=0, min_word_length=3):
    """Returns `texts` with one character typo in about `rate` of the words of each text.

    A typo is a deletion, an insertion, a substitution (a lower-case letter) or a swap of two
    neighbouring characters, chosen uniformly, at a uniform position inside the word. Words shorter
    than `min_word_length` and non-alphabetic tokens are left alone; whitespace is kept as it is.
    The same `(texts, rate, seed)` always give the same copy.

    Args:
        texts: list of str.
        rate: float in [0, 1], the probability that a word gets a typo.
        seed: int.
        min_word_length: int, shorter words are never changed.

    Example:

    >>> character_typos(["a great film"], rate=1.0, seed=0) != ["a great film"]
    True
    >>> character_typos(["a great film"], rate=0.0)
    ['a great film']
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1]. Received: rate={rate!r}")
    rng = random.Random(seed)
    noisy = []
    for text in texts:
        words = text.split(" ")
        for i, word in enumerate(words):
            if len(word) >= min_word_length and word.isalpha() and rng.random() < rate:
                words[i] = _typo(word, rng)
        noisy.append(" ".join(words))
    return noisy


def _typo(word, rng):
    kind = rng.choice(TYPO_KINDS)
    position = rng.randrange(len(word) - 1)  # a swap needs a right neighbour
    letter = rng.choice(string.ascii_lowercase)
    if kind == "delete":
        return word[:position] + word[position + 1:]
    if kind == "insert":
        return word[:position] + letter + word[position:]
    if kind == "substitute":
        return word[:position] + letter + word[position + 1:]
    return word[:position] + word[position + 1] + word[position] + word[position + 2:]
