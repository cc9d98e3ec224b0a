"""Prompt/response pairs for instruction tuning, read from JSONL/TSV/CSV files or made from labelled text.

Files are read with `labelled_text.read_records`, so every problem (a missing key, an empty
response, bytes that are not UTF-8) is a `LabelledTextError` naming the file, the line and the
column before anything trains.
"""

import dataclasses

from kerastune.data.labelled_text import LabelledTextError, infer_format, read_records

# Columns tried in turn: (prompt, response), then Alpaca's (instruction, input, output), whose
# non-empty `input` is appended to the instruction after a blank line.
PAIR_COLUMNS = (("prompt", "response"), ("prompt", "completion"), ("question", "answer"), ("source", "target"))
ALPACA_COLUMNS = ("instruction", "input", "output")


@dataclasses.dataclass
class InstructionPairs:
    """Validated prompt/response pairs.

    Attributes:
        prompts: list of str.
        responses: list of str.
        source: str, where they came from (a path).
        lines: list of int, each pair's 1-based line in `source` (for error messages), or None.
    """

    prompts: list
    responses: list
    source: str = ""
    lines: list = None

    def __len__(self):
        return len(self.prompts)

    def split(self, validation_fraction):
        """`(train, validation)`: the first pairs and the last `validation_fraction` of them, in order."""
        if isinstance(validation_fraction, bool) or not 0 <= validation_fraction < 1:
            raise ValueError(f"validation_fraction must be a number in [0, 1). Received: {validation_fraction!r}")
        boundary = len(self) - int(round(len(self) * validation_fraction))
        return self._slice(0, boundary), self._slice(boundary, len(self))

    def first(self, count):
        """The first `count` pairs (all of them when there are fewer)."""
        return self._slice(0, count)

    def _slice(self, start, stop):
        lines = self.lines[start:stop] if self.lines else None
        return InstructionPairs(self.prompts[start:stop], self.responses[start:stop], self.source, lines)


def read_instruction_pairs(path, prompt_column=None, response_column=None, format=None):
    """Reads prompt/response pairs from a `.jsonl`, `.json` (one object per line, or one array of objects,
    as Alpaca's `alpaca_data.json`), `.tsv` or `.csv` file.

    Without column names, the first of `prompt`/`response`, `prompt`/`completion`, `question`/`answer`,
    `source`/`target` present is used, or Alpaca's `instruction`/`input`/`output` (a non-empty
    `input` follows the instruction after a blank line). Prompts and responses must be non-empty
    strings; leading and trailing spaces are kept (they are part of what the model learns).

    Args:
        path: str, the file.
        prompt_column, response_column: str or None (then guessed as above).
        format: `"jsonl"`, `"tsv"`, `"csv"` or None to infer from the extension.

    Returns:
        `InstructionPairs`.

    Example:

    >>> pairs = read_instruction_pairs("pairs.jsonl")  # doctest: +SKIP
    >>> pairs.prompts[0], pairs.responses[0]  # doctest: +SKIP
    ('Translate to French: cat', 'chat')
    """
    path = str(path)
    fmt = format or infer_format(path)
    prompts, responses, lines = [], [], []
    columns = None
    for number, row in read_records(path, fmt):
        if fmt != "jsonl" and columns is None:
            columns = _columns(row, prompt_column, response_column, path, number)
            continue
        if fmt == "jsonl":
            columns = columns or _columns(list(row), prompt_column, response_column, path, number)
        prompt, response = _pair(row, columns, path, number)
        prompts.append(prompt)
        responses.append(response)
        lines.append(number)
    return InstructionPairs(prompts, responses, path, lines)


def pairs_from_labelled_text(labelled, label_words=None):
    """Prompt/response pairs from labelled text: the text (and its pair, after a newline) answered by the label's word.

    How a classifier's data becomes instructions (FLAN's recipe): put the question in the chat
    template (`"Review: {prompt}\\nSentiment: "`) and the label as a word the model writes.

    Args:
        labelled: a `kerastune.data.LabelledText`.
        label_words: list of str, the response of each label id; default `labelled.label_names`.

    Returns:
        `InstructionPairs` in the same order, with the same source and lines.
    """
    words = list(labelled.label_names if label_words is None else label_words)
    if len(words) != len(labelled.label_names) or not all(isinstance(w, str) and w for w in words):
        raise ValueError(f"label_words must be one non-empty str per label ({labelled.label_names}). "
                         f"Received: label_words={label_words!r}")
    prompts = labelled.texts if labelled.text_pairs is None else [
        f"{text}\n{pair}" for text, pair in zip(labelled.texts, labelled.text_pairs)]
    return InstructionPairs(list(prompts), [words[label] for label in labelled.labels], labelled.source,
                            labelled.lines)


def _columns(available, prompt_column, response_column, path, number):
    """The (prompt, response) or Alpaca column tuple to read, checked against the header / first object."""
    if prompt_column or response_column:
        if not (prompt_column and response_column):
            raise ValueError("pass both prompt_column and response_column, or neither to guess them. "
                             f"Received: prompt_column={prompt_column!r}, response_column={response_column!r}")
        candidates = [(prompt_column, response_column)]
    else:
        candidates = list(PAIR_COLUMNS) + [ALPACA_COLUMNS]
    for columns in candidates:
        needed = columns[::2] if columns == ALPACA_COLUMNS else columns  # Alpaca's `input` may be absent
        if all(name in available for name in needed):
            return columns
    names = " or ".join("/".join(c) for c in candidates)
    raise LabelledTextError(f"no {names} columns among {list(available)}; pass prompt_column= and response_column=",
                            path, number)


def _pair(row, columns, path, number):
    if columns == ALPACA_COLUMNS:
        for name in columns[::2]:  # `input` may be absent
            if name not in row:
                raise LabelledTextError(f"missing key {name!r}; the object has {list(row)}", path, number, name)
        instruction, extra, output = (row.get(name, "") for name in columns)
        prompt = _text(instruction, "instruction", path, number)
        if extra not in ("", None):
            prompt = f"{prompt}\n\n{_text(extra, 'input', path, number)}"
        return prompt, _text(output, "output", path, number)
    prompt_column, response_column = columns
    for name in columns:
        if name not in row:
            raise LabelledTextError(f"missing key {name!r}; the object has {list(row)}", path, number, name)
    return _text(row[prompt_column], prompt_column, path, number), _text(row[response_column], response_column,
                                                                         path, number)


def _text(value, column, path, number):
    if not isinstance(value, str) or not value.strip():
        raise LabelledTextError(f"expected a non-empty string; received {value!r}: remove the row or fill it in",
                                path, number, column)
    return value
