"""Source/target pairs made from plain texts: each text, corrupted, is the source; the text itself is the target."""

import os

from kerastune.data.instruction_pairs import InstructionPairs
from kerastune.data.labelled_text import (TABLE_SUFFIXES, TEXT_COLUMN_GUESSES, LabelledTextError, infer_format,
                                          read_records)
from kerastune.data.text_corpus import read_text_corpus
from kerastune.evaluation.character_typos import character_typos

NOISE_KINDS = ("typos",)


def read_texts(path):
    """The texts of a file, one per example, with each one's 1-based line: the text column of a `.tsv`,
    `.csv`, `.jsonl` or `.json` file (the first of `TEXT_COLUMN_GUESSES` it has; any other column, a
    label too, is not read), or every non-blank line of a text file.

    Example:

    >>> texts, lines = read_texts("../shared/data/sst2/dev.tsv")  # doctest: +SKIP
    """
    path = os.fspath(path)
    if path.lower().endswith(TABLE_SUFFIXES):
        return _column_texts(path)
    numbered = [(line.removesuffix("\r"), number)
                for number, line in enumerate(read_text_corpus(path).split("\n"), 1) if line.strip()]
    return [text for text, _ in numbered], [number for _, number in numbered]


def _column_texts(path):
    texts, lines, column = [], [], None
    for number, row in read_records(path, infer_format(path)):
        if isinstance(row, list):  # a TSV / CSV header
            column = _text_column(row, path)
            continue
        column = column or _text_column(list(row), path)
        text = row.get(column)
        if not isinstance(text, str) or not text.strip():
            raise LabelledTextError(f"empty or missing text ({text!r}); remove the row or fill it in", path, number,
                                    column)
        texts.append(text)
        lines.append(number)
    return texts, lines


def _text_column(names, path):
    for name in TEXT_COLUMN_GUESSES:
        if name in names:
            return name
    raise LabelledTextError(f"no text column: it has {names}, and the text is read from the first of "
                            f"{list(TEXT_COLUMN_GUESSES)}; rename the column", path)


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
