"""Source/target pairs made from plain texts: each text, corrupted, is the source; the text itself is the target."""

import os

from kerastune.data.instruction_pairs import InstructionPairs
from kerastune.data.labelled_text import read_labelled_text
from kerastune.data.text_corpus import read_text_corpus
from kerastune.evaluation.character_typos import character_typos

NOISE_KINDS = ("typos",)
LABELLED_SUFFIXES = (".tsv", ".csv", ".jsonl")


def read_texts(path):
    """The texts of a file, one per example, with each one's 1-based line: a `.tsv` / `.csv` / `.jsonl`
    labelled-text file's text column (`read_labelled_text`), or every non-blank line of a text file.

    Example:

    >>> texts, lines = read_texts("../shared/data/sst2/dev.tsv")  # doctest: +SKIP
    """
    path = os.fspath(path)
    if path.lower().endswith(LABELLED_SUFFIXES):
        examples = read_labelled_text(path)
        return list(examples.texts), list(examples.lines)
    numbered = [(text, number) for number, text in enumerate(read_text_corpus(path).splitlines(), 1) if text.strip()]
    return [text for text, _ in numbered], [number for _, number in numbered]


def noisy_pairs(path, noise="typos", rate=0.15, seed=0):
    """`InstructionPairs` whose targets are the texts of `path` (`read_texts`) and whose sources are the same
    texts with seeded noise: `"typos"`, one character deleted, inserted, substituted or swapped in about
    `rate` of the words (`character_typos`). A spelling corrector learns from them.

    Args:
        path: str, the texts.
        noise: one of `NOISE_KINDS`.
        rate: float in [0, 1], the share of words corrupted.
        seed: int; the same seed gives the same sources.

    Example:

    >>> pairs = noisy_pairs("../shared/data/sst2/dev.tsv", rate=0.15, seed=1)  # doctest: +SKIP
    >>> pairs.prompts[0], pairs.responses[0]  # doctest: +SKIP
    """
    if noise not in NOISE_KINDS:
        raise ValueError(f"noise must be one of {NOISE_KINDS}. Received: noise={noise!r}")
    texts, lines = read_texts(path)
    return InstructionPairs(character_typos(texts, rate=rate, seed=seed), texts, os.fspath(path), lines)
