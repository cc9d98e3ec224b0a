"""Anchor/positive sentence pairs, optionally with a hard negative each, for contrastive training of embeddings.

The data conventions of sentence-transformers: each row holds an anchor (a query, a sentence), a
positive (a text that should embed close to it) and optionally a negative (one that should not);
the other rows' positives serve as in-batch negatives (Henderson et al. 2017, "Efficient Natural
Language Response Suggestion for Smart Reply"; sentence-transformers' `MultipleNegativesRankingLoss`).

Files are read with `labelled_text.read_records`, so every problem (a missing column, an empty text,
bytes that are not UTF-8, a header with no rows) is a `LabelledTextError` naming the file, the line and
the column before anything trains.
"""

import dataclasses

from kerastune.data.labelled_text import LabelledTextError, infer_format, read_records

# (anchor, positive) columns tried in turn when none are named: sentence-transformers' data sets
# (all-nli's anchor/positive/negative, MS MARCO's query/positive, query/document and query/passage
# retrieval sets, STS-style sentence1/sentence2, text1/text2).
COLUMN_GUESSES = (
    ("anchor", "positive"),
    ("query", "positive"),
    ("query", "document"),
    ("query", "passage"),
    ("sentence1", "sentence2"),
    ("text1", "text2"),
)
NEGATIVE_COLUMN = "negative"


@dataclasses.dataclass
class SentencePairs:
    """Anchor/positive text pairs, optionally with a hard negative each.

    Attributes:
        anchors: list of str.
        positives: list of str, `positives[i]` the text that should embed close to `anchors[i]`.
        negatives: list of str, `negatives[i]` a text that should embed far from `anchors[i]`, or None.
        source: str, where the pairs came from (a path).
        lines: list of int, each pair's 1-based line in `source` (for error messages), or None.

    Example:

    >>> pairs = SentencePairs(["a cat sleeps", "it rains"], ["a kitten naps", "wet weather"])
    >>> len(pairs), pairs.head(1).positives
    (2, ['a kitten naps'])
    """

    anchors: list
    positives: list
    negatives: list = None
    source: str = ""
    lines: list = None

    def __len__(self):
        return len(self.anchors)

    def head(self, n):
        """The first `n` pairs (all of them when `n` is None), with their negatives and lines."""
        if n is None:
            return self
        negatives = self.negatives[:n] if self.negatives is not None else None
        lines = self.lines[:n] if self.lines is not None else None
        return dataclasses.replace(self, anchors=self.anchors[:n], positives=self.positives[:n],
                                   negatives=negatives, lines=lines)


def read_sentence_pairs(path, anchor_column=None, positive_column=None, negative_column=None, format=None):
    """Reads anchor/positive (and negative) texts from a `.jsonl`, `.json` (one object per line, or one
    array of objects), `.tsv` (no quoting, header row) or `.csv` (standard quoting, header row) file.

    Without column names, the first (anchor, positive) pair of `COLUMN_GUESSES` present in the header
    (or the first object) is used: `anchor`/`positive`, `query`/`positive`, `query`/`document`,
    `query`/`passage`, `sentence1`/`sentence2`, `text1`/`text2`. The negative column is
    `negative_column`, else `negative` when present, else there are no negatives. Every text must be
    a non-empty string; texts are kept exactly as written (no stripping).

    Args:
        path: str, the file.
        anchor_column, positive_column: str, or both None to guess them as above.
        negative_column: str or None, a column of hard negatives.
        format: `"jsonl"`, `"tsv"`, `"csv"` or None to infer from the extension.

    Returns:
        `SentencePairs`, with `negatives` None when the file has no negative column.

    Example:

    >>> pairs = read_sentence_pairs("all-nli-triplets.jsonl")  # doctest: +SKIP
    >>> pairs.anchors[0], pairs.positives[0], pairs.negatives[0]  # doctest: +SKIP
    ('A person on a horse jumps over a broken down airplane.', 'A person is outdoors, on a horse.',
     'A person is at a diner, ordering an omelette.')
    """
    if (anchor_column is None) != (positive_column is None):
        raise ValueError("pass both anchor_column and positive_column, or neither to guess them. "
                         f"Received: anchor_column={anchor_column!r}, positive_column={positive_column!r}")
    named = [name for name in (anchor_column, positive_column, negative_column) if name is not None]
    if len(set(named)) != len(named):
        raise ValueError("anchor_column, positive_column and negative_column must name different columns. "
                         f"Received: anchor_column={anchor_column!r}, positive_column={positive_column!r}, "
                         f"negative_column={negative_column!r}")
    path = str(path)
    fmt = format or infer_format(path)
    anchors, positives, negatives, lines = [], [], [], []
    columns = None
    for number, row in read_records(path, fmt):
        if columns is None:
            available = row if fmt != "jsonl" else list(row)  # the header, or the first object's keys
            columns = _columns(available, anchor_column, positive_column, negative_column, path, number)
            if fmt != "jsonl":
                continue
        texts = [_text(row, name, path, number) for name in columns]
        anchors.append(texts[0])
        positives.append(texts[1])
        if len(texts) == 3:
            negatives.append(texts[2])
        lines.append(number)
    return SentencePairs(anchors, positives, negatives if len(columns) == 3 else None, path, lines)


def _columns(available, anchor_column, positive_column, negative_column, path, number):
    """The (anchor, positive) or (anchor, positive, negative) columns to read, checked against the header."""
    if anchor_column is None:
        found = next((pair for pair in COLUMN_GUESSES if all(name in available for name in pair)), None)
        if found is None:
            names = ", ".join("/".join(pair) for pair in COLUMN_GUESSES)
            raise LabelledTextError(f"no anchor/positive columns among {list(available)} (tried {names}); "
                                    "pass anchor_column= and positive_column=", path, number)
        anchor_column, positive_column = found
    # a `negative` column is read as the negatives unless it was named as the anchor or positive column
    if negative_column is None and NEGATIVE_COLUMN in available:
        negative_column = None if NEGATIVE_COLUMN in (anchor_column, positive_column) else NEGATIVE_COLUMN
    for name in (anchor_column, positive_column, negative_column):
        if name is not None and name not in available:
            raise LabelledTextError(f"missing column {name!r}; the file has columns {list(available)}: "
                                    "name one of them", path, number, name)
    if negative_column in (anchor_column, positive_column):
        raise ValueError(f"negative_column={negative_column!r} is also the guessed anchor or positive column "
                         f"({anchor_column!r}, {positive_column!r}); name all three columns")
    return tuple(name for name in (anchor_column, positive_column, negative_column) if name is not None)


def _text(row, column, path, number):
    if column not in row:
        raise LabelledTextError(f"missing key {column!r}; the object has {list(row)}", path, number, column)
    value = row[column]
    if not isinstance(value, str) or not value.strip():
        raise LabelledTextError(f"expected a non-empty string; received {value!r}: remove the row or fill it in",
                                path, number, column)
    return value
