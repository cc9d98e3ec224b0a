"""Labelled text from TSV/CSV/JSONL files and TFDS, validated before any training starts.

Every problem a long run would otherwise meet hours in (a missing column, an empty text, a label
outside the label set, mixed label types, bytes that are not UTF-8, a header with no rows) is raised
here as a `LabelledTextError` naming the file, the line and the column.

TSV files are read without quoting (GLUE / SST-2 / AG News conventions: a `"` is an ordinary
character); CSV files use the `csv` module's standard quoting; JSONL files hold one object per line.
`read_records` is the row reader the other text readers share; it also reads a `.json` file holding
one JSON array of objects (Alpaca's `alpaca_data.json`).
"""

import csv
import dataclasses
import json
import os
import re

FORMATS = ("tsv", "csv", "jsonl")
TABLE_SUFFIXES = (".jsonl", ".json", ".ndjson", ".tsv", ".csv")  # the files of rows `read_records` reads
TEXT_COLUMN_GUESSES = ("text", "sentence", "sentence1", "question", "premise", "review", "content")
PAIR_COLUMN_GUESSES = ("text_pair", "sentence2", "hypothesis", "question2")

# The text and label features of common TFDS text-classification data sets.
TFDS_FEATURES = {
    "glue/sst2": ("sentence", None, "label"),
    "glue/cola": ("sentence", None, "label"),
    "glue/mrpc": ("sentence1", "sentence2", "label"),
    "glue/qqp": ("question1", "question2", "label"),
    "glue/qnli": ("question", "sentence", "label"),
    "glue/rte": ("sentence1", "sentence2", "label"),
    "glue/mnli": ("premise", "hypothesis", "label"),
    "imdb_reviews": ("text", None, "label"),
    "ag_news_subset": ("description", None, "label"),
    "yelp_polarity_reviews": ("text", None, "label"),
}


class LabelledTextError(ValueError):
    """A problem in a labelled-text source, located by file, line (1-based) and column."""

    def __init__(self, message, path=None, line=None, column=None):
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.path, self.line, self.column = path, line, column


@dataclasses.dataclass
class LabelledText:
    """Validated examples: texts, optional second texts, label ids and the label names.

    Attributes:
        texts: list of str.
        text_pairs: list of str, or None for single-text tasks.
        labels: list of int label ids, indices into `label_names`.
        label_names: list of str; `label_names[i]` names label id `i`.
        source: str, where the examples came from (a path or `tfds:<name>:<split>`).
        label_values: list, the raw label value of each id as read (`[0, 1]`, `["neg", "pos"]`);
            pass it to the reader of a validation file so both files map values to the same ids.
        lines: list of int, the 1-based source line of each example (for error messages).
    """

    texts: list
    text_pairs: object
    labels: list
    label_names: list
    source: str = ""
    label_values: list = None
    lines: list = None

    def __len__(self):
        return len(self.texts)

    def check_classes(self, column="label"):
        """Raises `LabelledTextError` naming the source and `column` when fewer than two classes
        occur: a classifier trained on them has nothing to learn. Returns self."""
        present = sorted({self.label_names[i] for i in self.labels})
        if len(present) < 2:
            raise LabelledTextError(
                f"the training examples have {len(present)} class ({present}); a classifier needs at least two. "
                f"Check that the column holds the labels (pass label_column=...) and that a slice such as "
                f"max_train_examples keeps more than one class. Received: {len(self)} examples",
                path=self.source, column=column,
            )
        return self

    def head(self, n):
        """The first `n` examples (all of them when `n` is None), label names and values unchanged."""
        if n is None:
            return self
        pairs = self.text_pairs[:n] if self.text_pairs else None
        lines = self.lines[:n] if self.lines else None
        return dataclasses.replace(self, texts=self.texts[:n], text_pairs=pairs, labels=self.labels[:n], lines=lines)


def infer_format(path):
    """`"tsv"`, `"csv"` or `"jsonl"` from the file name (`.txt` is read as TSV)."""
    ext = os.path.splitext(str(path))[1].lower().lstrip(".")
    if ext in ("tsv", "txt", "tab"):
        return "tsv"
    if ext == "csv":
        return "csv"
    if ext in ("jsonl", "json", "ndjson"):
        return "jsonl"
    raise LabelledTextError(
        f"cannot tell the format from the extension {ext!r}; pass format= one of {FORMATS}", path
    )


def _decoded_lines(path):
    """Yields (line number, text) for each line, with a located error for non-UTF-8 bytes."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file (labelled text); check the path or data_dir")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                prefix = raw[: e.start].decode("utf-8", errors="replace")
                raise LabelledTextError(
                    f"byte 0x{raw[e.start]:02x} at character {len(prefix) + 1} is not valid UTF-8; "
                    f"re-encode the file as UTF-8 ({_reencoding_hint(raw)})",
                    path,
                    number,
                ) from None
            if number == 1:
                line = line.lstrip("\ufeff")
            yield number, line.rstrip("\r\n")


def _reencoding_hint(raw):
    """How to re-encode a line that is not UTF-8: from GB18030 (GBK's superset) when it decodes as Chinese."""
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        text = ""
    if any("\u4e00" <= character <= "\u9fff" for character in text):
        return f"the line reads as GBK / GB18030 Chinese ({text.strip()[:20]!r}): e.g. `iconv -f gb18030 -t utf-8`"
    return "e.g. `iconv -f latin1 -t utf-8`, with the file's encoding in place of latin1"


def _rows(path, fmt):
    """Yields (line number, {column: value}) for each data row; the first item is the header."""
    lines = _decoded_lines(path)
    if fmt == "jsonl":
        seen = False
        for number, line in lines:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise LabelledTextError(f"not valid JSON ({e.msg} at character {e.colno})", path, number) from None
            if not isinstance(row, dict):
                raise LabelledTextError(f"expected a JSON object per line; received {type(row).__name__}", path, number)
            seen = True
            yield number, row
        if not seen:
            raise LabelledTextError("the file has no examples", path)
        return
    records = _csv_records(lines, path) if fmt == "csv" else ((n, line.split("\t")) for n, line in lines)
    # blank lines (and lines of spaces) hold no example; GLUE's TSVs are read without quoting
    records = ((n, fields) for n, fields in records if len(fields) > 1 or fields and fields[0].strip())
    first = next(records, None)
    if first is None or first[0] != 1:
        raise LabelledTextError("the file is empty; expected a header row then examples", path, 1)
    header = first[1]
    yield 1, header
    seen = False
    for number, fields in records:
        if len(fields) != len(header):
            raise LabelledTextError(
                f"has {len(fields)} fields; the header has {len(header)} ({header}). "
                + ("TSV files are read without quoting: a tab inside a text splits it." if fmt == "tsv" else ""),
                path,
                number,
            )
        seen = True
        yield number, dict(zip(header, fields))
    if not seen:
        raise LabelledTextError("the file has a header row but no examples", path, 1)


def read_records(path, fmt):
    """The rows of a text file, each with its 1-based line, every problem a located `LabelledTextError`.

    TSV and CSV files yield `(1, header)` first, the header a list of column names, then
    `(line, {column: value})` per example; blank lines are skipped. JSONL files yield
    `(line, object)` per non-blank line, or, when the file holds one JSON array of objects (Alpaca's
    `alpaca_data.json`), `(line, object)` per element, `line` being where the object starts.
    A file with no examples is an error; a missing file is a `FileNotFoundError` naming the path.

    Args:
        path: str, the file.
        fmt: `"tsv"`, `"csv"` or `"jsonl"` (see `infer_format`).

    Returns:
        An iterator of `(line, row)` pairs; the file is read as it is consumed.

    Example:

    >>> rows = read_records("alpaca_data.json", "jsonl")  # doctest: +SKIP
    >>> next(rows)  # doctest: +SKIP
    (2, {'instruction': 'Give three tips for staying healthy.', 'input': '', 'output': '1. Eat a balanced diet ...'})
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}. Received: format={fmt!r}")
    path = str(path)
    if fmt == "jsonl" and _holds_json_array(path):
        return _json_array_rows(path)
    return _rows(path, fmt)


def _holds_json_array(path):
    """Whether the file's first non-blank character opens a JSON array (False for a missing file: the row
    reader says it is missing)."""
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                return line.lstrip().startswith((b"[", b"\xef\xbb\xbf["))
    return False


def _json_array_rows(path):
    """Yields (line number, object) for each element of a file holding one JSON array of objects."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as error:
        raise LabelledTextError(f"is not UTF-8 ({error.reason} at byte {error.start}); re-encode it as UTF-8",
                                path) from None
    decoder, skip = json.JSONDecoder(), re.compile(r"\s*")
    position, line, counted, seen = skip.match(text, text.index("[") + 1).end(), 1, 0, False
    while not text.startswith("]", position):
        line, counted = line + text.count("\n", counted, position), position
        try:
            row, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise LabelledTextError(f"not valid JSON ({error.msg} at character {error.colno})", path,
                                    error.lineno) from None
        if not isinstance(row, dict):
            raise LabelledTextError(f"expected an array of JSON objects; received {type(row).__name__}", path, line)
        seen = True
        yield line, row
        position = skip.match(text, end).end()
        if text.startswith(",", position):
            position = skip.match(text, position + 1).end()
        elif not text.startswith("]", position):
            raise LabelledTextError("not valid JSON (expected ',' or ']' after an object)", path,
                                    line + text.count("\n", counted, position))
    if not seen:
        raise LabelledTextError("the file has no examples (an empty JSON array)", path)


def _csv_records(lines, path):
    """Yields (first line number, fields) per CSV record: a quoted field may hold newlines and span lines."""
    numbers = []

    def feed():
        for number, line in lines:
            numbers.append(number)
            yield line + "\n"

    reader = csv.reader(feed(), strict=True)
    consumed = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise LabelledTextError(f"is not valid CSV ({error}); check its quotes", path,
                                    numbers[consumed] if consumed < len(numbers) else None) from None
        start, consumed = numbers[consumed], reader.line_num
        yield start, fields


def _guess(columns, guesses, path, what):
    for name in guesses:
        if name in columns:
            return name
    raise LabelledTextError(f"no {what} column found among {list(columns)}; pass {what}_column=", path, 1)


def read_labelled_text(
    path,
    text_column=None,
    text_pair_column=None,
    label_column="label",
    label_names=None,
    label_name_column=None,
    format=None,
    label_values=None,
):
    """Reads and validates a labelled-text file.

    Label names: with `label_values` given (the training set's), every label must be one of them
    and its id is its index there. With `label_names` given, every label must be a name or an
    integer id in range. Otherwise they are inferred: integer labels give
    `[str(v) for v in sorted(distinct values)]` (or the names in `label_name_column`, which must agree
    with the ids), string labels give their sorted distinct values. Label ids index `label_names`.

    Args:
        path: str, a `.tsv`, `.csv` or `.jsonl` file.
        text_column: str, or None to pick the first of `text`, `sentence`, `sentence1`, ...
        text_pair_column: str or None, a second text column for sentence-pair tasks.
        label_column: str.
        label_names: list of str or None.
        label_name_column: str or None, a column holding each integer label's name (AG News's
            `label_name`).
        format: `"tsv"`, `"csv"`, `"jsonl"`, or None to infer from the extension.
        label_values: list or None, the raw value of each label id (a training set's
            `LabelledText.label_values`); requires `label_names` too.

    Returns:
        `LabelledText`.

    Example:

    >>> data = read_labelled_text("../shared/data/sst2/dev.tsv")  # doctest: +SKIP
    >>> data.label_names, len(data)  # doctest: +SKIP
    (['0', '1'], 872)
    """
    path = str(path)
    fmt = format or infer_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}; received {fmt!r}")
    rows = read_records(path, fmt)  # a .json array of objects too
    texts, pairs, raw_labels, names_by_label, line_numbers = [], [], [], {}, []
    columns = None
    for number, row in rows:
        if columns is None and fmt != "jsonl":
            columns = row  # the header
            text_column = text_column or _guess(columns, TEXT_COLUMN_GUESSES, path, "text")
            for name in (text_column, text_pair_column, label_column, label_name_column):
                if name is not None and name not in columns:
                    raise LabelledTextError(
                        f"missing column {name!r}; the header has {columns}", path, 1, name
                    )
            continue
        if fmt == "jsonl":
            text_column = text_column or _guess(row, TEXT_COLUMN_GUESSES, path, "text")
        for name in (text_column, text_pair_column, label_column, label_name_column):
            if name is not None and name not in row:
                raise LabelledTextError(f"missing key {name!r}; the object has {list(row)}", path, number, name)
        text = row[text_column]
        if not isinstance(text, str) or not text.strip():
            raise LabelledTextError(f"empty text ({text!r}); remove the row or fill it in", path, number, text_column)
        texts.append(text)
        if text_pair_column is not None:
            pair = row[text_pair_column]
            if not isinstance(pair, str) or not pair.strip():
                raise LabelledTextError(f"empty text ({pair!r})", path, number, text_pair_column)
            pairs.append(pair)
        label = _parse_label(row[label_column], fmt, path, number, label_column)
        raw_labels.append(label)
        line_numbers.append(number)
        if label_name_column is not None:
            name = str(row[label_name_column])
            if names_by_label.setdefault(label, name) != name:
                raise LabelledTextError(
                    f"label {label!r} is named {name!r} here and {names_by_label[label]!r} earlier",
                    path, number, label_name_column,
                )
    _check_label_types(raw_labels, line_numbers, path, label_column)
    ids, label_names, label_values = _label_ids(
        raw_labels, line_numbers, label_names, label_values, names_by_label, path, label_column
    )
    return LabelledText(
        texts, pairs if text_pair_column else None, ids, label_names, path, label_values, line_numbers
    )


def _parse_label(value, fmt, path, line, column):
    """Integers stay integers (`"1"` in a TSV too); other strings stay strings."""
    if isinstance(value, bool) or value is None or isinstance(value, (float, list, dict)):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise LabelledTextError(f"label {value!r} is not an integer or a string", path, line, column)
    if isinstance(value, int):
        return value
    value = value.strip()
    if not value:
        raise LabelledTextError("empty label", path, line, column)
    if fmt != "jsonl" and value.lstrip("-").isdigit():
        return int(value)
    return value


def _check_label_types(labels, lines, path, column):
    kinds = [isinstance(v, int) for v in labels]
    if kinds and any(k != kinds[0] for k in kinds):
        first = next(i for i, k in enumerate(kinds) if k != kinds[0])
        raise LabelledTextError(
            f"label {labels[first]!r} is a {'integer' if kinds[first] else 'string'} but line "
            f"{lines[0]} has {'integer' if kinds[0] else 'string'} label {labels[0]!r}; use one type "
            "for every label",
            path, lines[first], column,
        )


def _label_ids(labels, lines, label_names, label_values, names_by_label, path, column):
    if label_names is None:
        distinct = sorted(set(labels))
        if names_by_label:
            label_names = [names_by_label[v] for v in distinct]
        else:
            label_names = [str(v) for v in distinct]
        index = {v: i for i, v in enumerate(distinct)}
        return [index[v] for v in labels], list(label_names), distinct
    label_names = [str(n) for n in label_names]
    if label_values is not None:
        index = {v: i for i, v in enumerate(label_values)}
        ids = []
        for value, line in zip(labels, lines):
            if value not in index:
                raise LabelledTextError(
                    f"label {value!r} is outside the label set {list(label_values)} "
                    f"(names {label_names})",
                    path, line, column,
                )
            ids.append(index[value])
        return ids, label_names, list(label_values)
    by_name = {n: i for i, n in enumerate(label_names)}
    ids = []
    for value, line in zip(labels, lines):
        if isinstance(value, int) and str(value) not in by_name:
            if not 0 <= value < len(label_names):
                raise LabelledTextError(
                    f"label {value} is outside the label set; expected an integer in "
                    f"[0, {len(label_names)}) or one of {label_names}",
                    path, line, column,
                )
            ids.append(value)
        elif str(value) in by_name:
            ids.append(by_name[str(value)])
        else:
            raise LabelledTextError(f"label {value!r} is outside the label set {label_names}", path, line, column)
    return ids, label_names, list(range(len(label_names)))


def read_tfds(name, split, data_dir=None, text_column=None, text_pair_column=None, label_column=None, download=True):
    """Reads a TFDS text-classification split into `LabelledText` (label names from its `ClassLabel`).

    Args:
        name: str, e.g. `"glue/sst2"`, `"imdb_reviews"`, `"ag_news_subset"`.
        split: str, e.g. `"train"`, `"validation"`, `"test[:10%]"`.
        data_dir: str or None, TFDS's data directory (honoured for reading and downloading).
        text_column, text_pair_column, label_column: feature names; defaults from `TFDS_FEATURES`.
        download: bool, passed to `tfds.load`.
    """
    import tensorflow_datasets as tfds

    default = TFDS_FEATURES.get(name, ("text", None, "label"))
    text_column = text_column or default[0]
    text_pair_column = text_pair_column if text_pair_column is not None else default[1]
    label_column = label_column or default[2]
    dataset, info = tfds.load(name, split=split, data_dir=data_dir, with_info=True, download=download)
    source = f"tfds:{name}:{split}"
    for column in (text_column, text_pair_column, label_column):
        if column is not None and column not in info.features:
            raise LabelledTextError(f"missing feature {column!r}; it has {list(info.features)}", source, None, column)
    label_names = list(info.features[label_column].names)
    texts, pairs, labels = [], [], []
    for i, example in enumerate(dataset.as_numpy_iterator(), start=1):
        text = example[text_column].decode("utf-8")
        if not text.strip():
            raise LabelledTextError("empty text", source, i, text_column)
        texts.append(text)
        if text_pair_column:
            pairs.append(example[text_pair_column].decode("utf-8"))
        label = int(example[label_column])
        if not 0 <= label < len(label_names):  # GLUE test splits carry label -1
            raise LabelledTextError(
                f"label {label} is outside [0, {len(label_names)}); test splits of GLUE have no labels",
                source, i, label_column,
            )
        labels.append(label)
    if not texts:
        raise LabelledTextError("the split has no examples", source)
    return LabelledText(
        texts, pairs if text_pair_column else None, labels, label_names, source,
        list(range(len(label_names))), list(range(1, len(texts) + 1)),
    )
