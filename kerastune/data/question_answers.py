"""Extractive question-answering examples (SQuAD v1.1 and v2.0), read from files or TFDS and validated.

An example is a question, a context and its gold answers: texts found in the context at their
character offsets (`answer_starts`). A question may have several gold answers (SQuAD's dev set has up
to three per question, repeats included; they are kept as given, since the metric takes the best match
over them) or none: SQuAD 2.0's unanswerable questions (Rajpurkar et al. 2018, "Know What You Don't
Know: Unanswerable Questions for SQuAD").

Formats read by `read_question_answers`:
- SQuAD JSON (`.json` holding one object with a `"data"` key, or `format="squad"`):
  `{"version", "data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question",
  "answers": [{"text", "answer_start"}], "is_impossible"?, "plausible_answers"?}]}]}]}`.
  `plausible_answers` (v2.0's candidate spans of an unanswerable question) are ignored.
- JSONL, or a `.json` array of objects: the Hugging Face `datasets` squad layout
  `{"id", "question", "context", "answers": {"text": [...], "answer_start": [...]}}`, a list of
  `{"text", "answer_start"}` objects as `answers`, or the flat form `{"question", "context", "answer":
  "...", "answer_start": 12}` (an empty or null answer: unanswerable).
- TSV (no quoting) or CSV (standard quoting) with a header: columns question, context, answer,
  answer_start (and optionally id), one question and at most one answer per row; an empty answer with
  an empty or -1 answer_start is unanswerable.

Every problem is a `QuestionAnswersError` (a `LabelledTextError`) raised before anything trains,
located by file and line (JSONL, TSV, CSV) or by file, JSON path and question id (SQuAD): an empty
question or context, an answer that is not the context's text at its offset (the message quotes what
the context holds there and where the answer text does occur), an unanswerable question with answers,
a missing column, a repeated id. Nothing is dropped or rewritten.
"""

import dataclasses
import json
import os

from kerastune.data.labelled_text import LabelledTextError, infer_format, read_records
from kerastune.export.versioned_directory import atomic_file

FORMATS = ("squad", "jsonl", "tsv", "csv")
SQUAD_VERSIONS = ("v1.1", "v2.0")
# Where a problem found by `_example_problem` lies in a TFDS squad example (feature names).
TFDS_COLUMNS = {"question": "question", "context": "context", "answers": "answers", "answer_start": "answers"}


class QuestionAnswersError(LabelledTextError):
    """A problem in question-answering data, located by file and line (JSONL, TSV, CSV) or by file and
    entry (a SQuAD JSON path with the question id, a TFDS example, an in-memory example)."""

    def __init__(self, message, path=None, line=None, column=None, entry=None):
        located = path if entry is None else entry if path is None else f"{path}, {entry}"
        super().__init__(message, located, line, column)
        self.path, self.entry = path, entry


@dataclasses.dataclass
class QuestionAnswers:
    """Validated extractive question-answering examples.

    Every answer is the context's text at its offset: `contexts[i][s:s + len(t)] == t` for each
    `(t, s)` in `zip(answers[i], answer_starts[i])`. Equality compares the examples, not `source`.

    Attributes:
        questions: list of str.
        contexts: list of str, `contexts[i]` the text that answers `questions[i]`.
        answers: list of lists of str, the gold answer texts as given (repeats kept); `[]` for an
            unanswerable question (SQuAD 2.0).
        answer_starts: list of lists of int, each answer's character offset in its context.
        ids: list of str, unique question ids (SQuAD's, or the example's index when a file has none).
        source: str, where the examples came from (a path or `tfds:<name>:<split>`), for messages.

    Example:

    >>> qa = QuestionAnswers(["Who wrote it?", "When?"], ["Ann wrote it.", "Ann wrote it."],
    ...                      [["Ann"], []], [[0], []], ["q1", "q2"])
    >>> len(qa), qa.has_answer, qa.answer_spans(), qa.take(1).ids
    (2, [True, False], [[(0, 3)], []], ['q1'])
    """

    questions: list
    contexts: list
    answers: list
    answer_starts: list
    ids: list
    source: str = dataclasses.field(default="", compare=False)

    def __post_init__(self):
        lengths = {name: len(getattr(self, name)) for name in ("questions", "contexts", "answers", "answer_starts",
                                                                 "ids")}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"questions, contexts, answers, answer_starts and ids must have one entry per example. "
                             f"Received lengths: {lengths}")
        seen = {}
        for i, (question, context, texts, starts, qid) in enumerate(
                zip(self.questions, self.contexts, self.answers, self.answer_starts, self.ids)):
            where = {"path": self.source or None, "entry": f"example {i} (id {qid!r})"}
            problem = _example_problem(question, context, texts, starts)
            if problem:
                _fail(problem[0], where)
            if not isinstance(qid, str) or not qid:
                _fail(f"the id must be a non-empty string; received {qid!r}", where)
            if qid in seen:
                _fail(f"the id {qid!r} is also example {seen[qid]}'s; ids must be unique", where)
            seen[qid] = i

    def __len__(self):
        return len(self.questions)

    @property
    def has_answer(self):
        """list of bool: whether each question has a gold answer (False: unanswerable)."""
        return [bool(texts) for texts in self.answers]

    def answer_spans(self):
        """Each question's gold answers as `(start, end)` character spans, end exclusive (`context[start:end]`)."""
        return [[(s, s + len(t)) for t, s in zip(texts, starts)] for texts, starts in zip(self.answers,
                                                                                              self.answer_starts)]

    def subset(self, indices):
        """The examples at `indices` (distinct ints in `[0, len)`), in that order, as a new `QuestionAnswers`."""
        indices = [int(i) for i in indices]
        outside = [i for i in indices if not 0 <= i < len(self)]
        if outside:
            raise IndexError(f"indices must lie in [0, {len(self)}). Received: {outside[:5]}")
        return dataclasses.replace(
            self, questions=[self.questions[i] for i in indices], contexts=[self.contexts[i] for i in indices],
            answers=[list(self.answers[i]) for i in indices],
            answer_starts=[list(self.answer_starts[i]) for i in indices], ids=[self.ids[i] for i in indices],
        )

    def take(self, n):
        """The first `n` examples (all of them when `n` is None) as a new `QuestionAnswers`."""
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise ValueError(f"n must be a non-negative integer or None. Received: n={n!r}")
        return self.subset(range(len(self) if n is None else min(n, len(self))))


def _fail(message, where, column=None):
    raise QuestionAnswersError(message, where.get("path"), where.get("line"), column, where.get("entry"))


def _describe(where):
    return f"line {where['line']}" if where.get("line") is not None else where.get("entry")


def _occurrences(text, context):
    """Every character offset at which `text` occurs in `context` (overlaps included)."""
    found, start = [], context.find(text)
    while start >= 0:
        found.append(start)
        start = context.find(text, start + 1)
    return found


def _where_else(text, context):
    """How to fix an answer whose offset is wrong: where its text does occur, if anywhere."""
    found = _occurrences(text, context) if isinstance(text, str) and text else []
    if not found:
        return "the answer occurs nowhere in the context: check its spelling, case and spaces against the context"
    if len(found) == 1:
        return f"the answer occurs in the context at character {found[0]}: set answer_start to {found[0]}"
    more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
    return f"the answer occurs in the context at characters {found[:5]}{more}: set answer_start to the one meant"


def _encodes(text):
    """Whether `text` can be written as UTF-8 (a str holding a lone surrogate cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _first_surrogate(text):
    """Where the first lone surrogate of `text` is, for a message."""
    at = next(i for i, c in enumerate(text) if 0xD800 <= ord(c) <= 0xDFFF)
    return f"U+{ord(text[at]):04X} at character {at}"


def _example_problem(question, context, texts, starts):
    """`(message, field)` for the first thing wrong with one example, or None; field is `"question"`,
    `"context"`, `"answers"` or `"answer_start"`."""
    if not isinstance(question, str) or not question.strip():
        return f"empty question ({question!r}); fill it in or remove the example", "question"
    if not isinstance(context, str) or not context.strip():
        return f"empty context ({context!r}); fill it in or remove the example", "context"
    for field, value in (("question", question), ("context", context)):
        if not _encodes(value):
            return (f"the {field} holds a lone surrogate ({_first_surrogate(value)}), which no UTF-8 text can: "
                    "the file was decoded or escaped wrongly (a JSON \\ud83d without its pair?); fix the text", field)
    if len(texts) != len(starts):
        return f"{len(texts)} answer texts but {len(starts)} answer starts; give one start per answer", "answers"
    for text, start in zip(texts, starts):
        if not isinstance(text, str) or not text.strip():
            return (f"empty answer text ({text!r}); an unanswerable question has no answers ([], or is_impossible: "
                    "true in SQuAD 2.0)", "answers")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            return (f"answer_start {start!r} of answer {text!r} is not a character offset (an integer >= 0); "
                    + _where_else(text, context), "answer_start")
        held = context[start:start + len(text)]
        if held != text:
            there = (f"the context holds {held!r} there" if start + len(text) <= len(context) else
                     f"the context ({len(context)} characters) ends first, holding {held!r} there")
            return (f"answer {text!r} is not the context's text at answer_start={start}: {there}; "
                    + _where_else(text, context), "answer_start")
    return None


class _Collector:
    """Gathers examples, checking each where it was read; `result` builds the `QuestionAnswers`."""

    def __init__(self, max_examples=None):
        self.max_examples, self.seen = max_examples, {}
        self.questions, self.contexts, self.answers, self.starts, self.ids = [], [], [], [], []

    @property
    def full(self):
        return self.max_examples is not None and len(self.ids) >= self.max_examples

    def add(self, id, question, context, answers, answer_starts, is_impossible, where, columns, duplicate_hint=""):
        if is_impossible is not None:
            if not isinstance(is_impossible, bool):
                _fail(f"is_impossible must be true or false; received {is_impossible!r}", where)
            if is_impossible and answers:
                _fail(f"is_impossible is true but the question has answers ({len(answers)}: {answers[:3]}); SQuAD 2.0 "
                      "keeps an unanswerable question's candidate spans in plausible_answers: move them there, or "
                      "set is_impossible to false", where)
            if not is_impossible and not answers:
                _fail("is_impossible is false but the question has no answers; add its answers or set is_impossible "
                      "to true", where)
        problem = _example_problem(question, context, answers, answer_starts)
        if problem:
            _fail(problem[0], where, columns.get(problem[1]))
        if isinstance(id, int) and not isinstance(id, bool):
            id = str(id)
        if not isinstance(id, str) or not id:
            _fail(f"the question id must be a non-empty string; received {id!r}", where, columns.get("id"))
        if id in self.seen:
            _fail(f"the question id {id!r} is also used at {self.seen[id]}; ids must be unique (predictions are "
                  f"keyed by them){duplicate_hint}", where, columns.get("id"))
        self.seen[id] = _describe(where)
        for values, value in ((self.questions, question), (self.contexts, context), (self.answers, list(answers)),
                              (self.starts, list(answer_starts)), (self.ids, id)):
            values.append(value)

    def result(self, source):
        if not self.ids:
            raise QuestionAnswersError("holds no questions", source)
        return QuestionAnswers(self.questions, self.contexts, self.answers, self.starts, self.ids, source)


def read_question_answers(path, format=None, question_column="question", context_column="context",
                          answer_column="answers", answer_start_column="answer_start", id_column="id",
                          max_examples=None):
    """Reads and validates extractive question-answering examples (formats: see the module doc).

    Args:
        path: str, a SQuAD `.json`, a `.jsonl` (or `.json` array of objects), `.tsv` or `.csv` file.
        format: `"squad"`, `"jsonl"`, `"tsv"`, `"csv"`, or None to infer it from the extension (a `.json`
            file holding one object with a `"data"` key is SQuAD).
        question_column, context_column: str, the question and context columns (JSONL, TSV, CSV).
        answer_column: str, the answers column: a Hugging Face `{"text": [...], "answer_start": [...]}`
            object, a list of `{"text", "answer_start"}` objects, or one answer text. When the file has
            no `"answers"` column (the default), its `"answer"` column is read (the flat form).
        answer_start_column: str, the answer's offset column of the flat form.
        id_column: str; when the file has no such column, ids are the examples' indices (`"0"`, `"1"`...).
        max_examples: int or None, keep only the first `max_examples` questions (the rest is not read).

    Returns:
        `QuestionAnswers`.

    Example:

    >>> qa = read_question_answers("dev-v2.0.json")  # doctest: +SKIP
    >>> len(qa), sum(qa.has_answer)  # doctest: +SKIP
    (11873, 5928)
    """
    if max_examples is not None and (isinstance(max_examples, bool) or not isinstance(max_examples, int)
                                     or max_examples < 1):
        raise ValueError(f"max_examples must be a positive integer or None. Received: max_examples={max_examples!r}")
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS} or None. Received: format={format!r}")
    path = str(path)
    collected, document = _Collector(max_examples), None
    fmt = format or infer_format(path)
    if format == "squad" or format is None and fmt == "jsonl" and path.lower().endswith(".json"):
        document = _squad_document(path, required=format == "squad")
    if document is not None:
        _read_squad(document, path, collected)
    else:
        names = (question_column, context_column, answer_column, answer_start_column, id_column)
        _read_rows(path, fmt, names, collected)
    return collected.result(path)


def _squad_document(path, required):
    """The SQuAD object a `.json` file holds, or None when it holds JSONL or a JSON array (unless `required`)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file (question answers); check the path")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise QuestionAnswersError(f"byte 0x{raw[error.start]:02x} is not valid UTF-8; re-encode the file as UTF-8",
                                   path, raw.count(b"\n", 0, error.start) + 1) from None
    if not text.lstrip().startswith("{"):
        if required:
            raise QuestionAnswersError("is not a SQuAD file: expected one JSON object {\"version\": ..., \"data\": "
                                       "[...]}", path, 1)
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data" and not required:
            return None  # one object per line: JSONL
        raise QuestionAnswersError(f"not valid JSON ({error.msg} at character {error.colno})", path,
                                   error.lineno) from None
    if "data" in document:
        return document
    if required or "\n" in text.strip():
        raise QuestionAnswersError(f"is a JSON object without a 'data' key (its keys: {list(document)[:10]}); a "
                                   "SQuAD file holds {\"version\": ..., \"data\": [articles]}; a file of one example "
                                   "per line is JSONL (name it .jsonl or pass format='jsonl')", path, 1)
    return None  # a one-line JSONL file


def _read_squad(document, path, collected):
    data = document["data"]
    if not isinstance(data, list):
        _fail(f"'data' is a {type(data).__name__}; expected a list of articles {{\"title\", \"paragraphs\"}}",
              {"path": path})
    for i, article in enumerate(data):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            _fail("expected an article object with a 'paragraphs' list; received "
                  f"{list(article) if isinstance(article, dict) else type(article).__name__}",
                  {"path": path, "entry": f"data[{i}]"})
        for j, paragraph in enumerate(paragraphs):
            at = f"data[{i}].paragraphs[{j}]"
            if not isinstance(paragraph, dict) or "context" not in paragraph or not isinstance(
                    paragraph.get("qas"), list):
                keys = list(paragraph) if isinstance(paragraph, dict) else type(paragraph).__name__
                _fail(f"expected a paragraph object with a 'context' and a 'qas' list; received {keys}",
                      {"path": path, "entry": at})
            for k, qa in enumerate(paragraph["qas"]):
                if collected.full:
                    return
                where = {"path": path, "entry": f"{at}.qas[{k}]"}
                missing = [key for key in ("id", "question", "answers") if key not in qa] if isinstance(
                    qa, dict) else ["id", "question", "answers"]
                if missing:
                    _fail(f"missing {missing}; a SQuAD question is an object {{\"id\", \"question\", \"answers\"}}; "
                          f"received {list(qa) if isinstance(qa, dict) else qa!r}", where)
                where["entry"] += f" (id {qa['id']!r})"
                texts, starts = _answer_objects(qa["answers"], where, "answers")
                columns = {"question": "question", "answers": "answers", "answer_start": "answers", "id": "id"}
                collected.add(qa["id"], qa["question"], paragraph["context"], texts, starts,
                              qa.get("is_impossible"), where, columns)
    if not collected.ids:
        _fail("holds no questions (every paragraph's 'qas' is empty)", {"path": path})


def _answer_objects(answers, where, column):
    """(texts, starts) from a list of `{"text", "answer_start"}` objects."""
    if not isinstance(answers, list):
        _fail(f"answers must be a list of {{\"text\", \"answer_start\"}} objects; received {answers!r}", where, column)
    for answer in answers:
        if not isinstance(answer, dict) or "text" not in answer or "answer_start" not in answer:
            _fail(f"each answer must be an object {{\"text\", \"answer_start\"}}; received {answer!r}", where, column)
    return [a["text"] for a in answers], [a["answer_start"] for a in answers]


def _row_columns(available, names, fmt, path, line):
    """The columns to read, checked against the header (or the first JSONL object's keys)."""
    question, context, answer, start, qid = names
    if answer not in available and answer == "answers" and "answer" in available:
        answer = "answer"  # the flat form
    for name, argument in ((question, "question_column"), (context, "context_column"), (answer, "answer_column")):
        if name not in available:
            also = " (nor 'answer')" if name == "answers" else ""
            raise QuestionAnswersError(f"missing column {name!r}{also}; the file has columns {list(available)}: "
                                       f"pass {argument}= naming one of them", path, line, name)
    if fmt != "jsonl" and start not in available:
        raise QuestionAnswersError(f"missing column {start!r} (each answer's character offset in the context); the "
                                   f"file has columns {list(available)}: pass answer_start_column=", path, line, start)
    return {"question": question, "context": context, "answers": answer, "answer_start": start,
            "id": qid if qid in available else None}


def _read_rows(path, fmt, names, collected):
    columns = None
    hint = "" if fmt == "jsonl" else ("; a row of a TSV/CSV file is one question with at most one answer: give a "
                                      "question several answers in JSONL ({\"answers\": {\"text\": [...], "
                                      "\"answer_start\": [...]}})")
    for number, row in read_records(path, fmt):
        if columns is None:
            columns = _row_columns(row if fmt != "jsonl" else list(row), names, fmt, path, number)
            if fmt != "jsonl":
                continue  # the header
        if collected.full:
            break
        where = {"path": path, "line": number}
        for name in (columns["question"], columns["context"], columns["answers"], columns["id"]):
            if name is not None and name not in row:
                _fail(f"missing key {name!r}; the object has {list(row)}", where, name)
        texts, starts = _row_answers(row, columns, fmt, where)
        qid = row[columns["id"]] if columns["id"] else str(len(collected.ids))
        is_impossible = row.get("is_impossible") if fmt == "jsonl" else None
        collected.add(qid, row[columns["question"]], row[columns["context"]], texts, starts, is_impossible, where,
                      columns, hint)


def _row_answers(row, columns, fmt, where):
    """(texts, starts) of one JSONL object or TSV/CSV row."""
    column, start_column = columns["answers"], columns["answer_start"]
    value = row[column]
    if isinstance(value, dict):  # Hugging Face datasets: {"text": [...], "answer_start": [...]}
        if not isinstance(value.get("text"), list) or not isinstance(value.get("answer_start"), list):
            _fail(f"expected answers {{\"text\": [...], \"answer_start\": [...]}} (the Hugging Face squad layout, "
                  f"lists); received {value!r}", where, column)
        return value["text"], value["answer_start"]
    if isinstance(value, list):
        return _answer_objects(value, where, column)
    if value is not None and not isinstance(value, str):
        _fail(f"expected an answer text, a list of answers or {{\"text\": [...], \"answer_start\": [...]}}; "
              f"received {value!r}", where, column)
    start = row.get(start_column)
    if value is None or value == "":  # unanswerable
        if start not in (None, "", -1, "-1"):
            _fail(f"the answer is empty but {start_column} is {start!r}; for an unanswerable question leave "
                  f"{start_column} empty (or -1), otherwise fill in the answer", where, column)
        return [], []
    if start_column not in row:
        _fail(f"missing key {start_column!r} (the answer's character offset); the object has {list(row)}",
              where, start_column)
    if fmt != "jsonl" and start.strip().lstrip("-").isdigit():
        start = int(start)
    if start in (None, "", -1):
        context = row[columns["context"]]
        _fail(f"{start_column} is {start!r} but the answer {value!r} needs its character offset in the context; "
              + (_where_else(value, context) if isinstance(context, str) else ""), where, start_column)
    return [value], [start]


def question_answer_from_tfds(example):
    """One TFDS squad example (numpy values: bytes texts, arrays of answers) as the keyword arguments
    of one question: `id`, `question`, `context`, `answers`, `answer_starts`, `is_impossible` (None
    for `squad/v1.1`, which has no such feature)."""
    def text(value):
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)

    answers, is_impossible = example["answers"], example.get("is_impossible")
    return {"id": text(example["id"]), "question": text(example["question"]), "context": text(example["context"]),
            "answers": [text(t) for t in answers["text"]], "answer_starts": [int(s) for s in answers["answer_start"]],
            "is_impossible": None if is_impossible is None else bool(is_impossible)}


def read_tfds_question_answers(name="squad/v1.1", split="validation", data_dir=None):
    """Reads a prepared TFDS SQuAD-style split (features id, question, context, answers {text,
    answer_start}) into `QuestionAnswers`, with the file readers' checks. Nothing is downloaded.

    Args:
        name: str, e.g. `"squad/v1.1"` or `"squad/v2.0"`.
        split: str, e.g. `"train"`, `"validation"`, `"validation[:100]"`.
        data_dir: str or None, TFDS's data directory holding the prepared copy (None: TFDS's default).

    Returns:
        `QuestionAnswers`, in TFDS's order, `source` `"tfds:<name>:<split>"`.

    Example:

    >>> qa = read_tfds_question_answers("squad/v1.1", "validation", data_dir="~/tensorflow_datasets")  # doctest: +SKIP
    >>> len(qa)  # doctest: +SKIP
    10570
    """
    import tensorflow_datasets as tfds

    source = f"tfds:{name}:{split}"
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        raise QuestionAnswersError(
            f"reads TFDS's prepared copy, and there is none under {builder.data_dir!r}; nothing is downloaded here. "
            f"Prepare it once on a machine with network access (`tfds build {name} --data_dir=DIR`) and pass "
            f"data_dir=DIR. Received: data_dir={data_dir!r}", source)
    missing = [f for f in ("id", "question", "context", "answers") if f not in builder.info.features]
    if missing:
        raise QuestionAnswersError(f"has no feature {missing}: not a SQuAD-style data set; its features are "
                                   f"{list(builder.info.features)}", source)
    collected = _Collector()
    for i, example in enumerate(tfds.as_numpy(builder.as_dataset(split=split))):
        fields = question_answer_from_tfds(example)
        collected.add(**fields, where={"path": source, "entry": f"example {i} (id {fields['id']!r})"},
                      columns=TFDS_COLUMNS)
    return collected.result(source)


def write_squad_json(question_answers, path, version="v2.0"):
    """Writes examples as a SQuAD JSON file, whole or not at all (a temporary file renamed into place).

    Consecutive questions sharing a context form one paragraph; all are in one article titled with
    `question_answers.source`. `read_question_answers` on the file gives equal `QuestionAnswers`.

    Args:
        question_answers: `QuestionAnswers`.
        path: str, the `.json` file to write.
        version: `"v2.0"` (each question with `is_impossible`) or `"v1.1"` (every question answerable).

    Returns:
        str, the path.

    Example:

    >>> write_squad_json(read_question_answers("qa.jsonl"), "qa.json")  # doctest: +SKIP
    'qa.json'
    """
    if version not in SQUAD_VERSIONS:
        raise ValueError(f"version must be one of {SQUAD_VERSIONS}. Received: version={version!r}")
    qa = question_answers
    if not len(qa):
        raise ValueError(f"no questions to write to {path}; a SQuAD file with none reads back as an error")
    unanswerable = [qid for qid, has in zip(qa.ids, qa.has_answer) if not has]
    if version == "v1.1" and unanswerable:
        raise ValueError(f"SQuAD v1.1 has no unanswerable questions, and {len(unanswerable)} of these have no answer "
                         f"(ids {unanswerable[:3]}); write version='v2.0', or keep the answerable ones: "
                         "question_answers.subset([i for i, a in enumerate(question_answers.has_answer) if a])")
    paragraphs = []
    for qid, question, context, texts, starts in zip(qa.ids, qa.questions, qa.contexts, qa.answers,
                                                     qa.answer_starts):
        entry = {"id": qid, "question": question,
                 "answers": [{"text": t, "answer_start": s} for t, s in zip(texts, starts)]}
        if version == "v2.0":
            entry["is_impossible"] = not texts
        if paragraphs and paragraphs[-1]["context"] == context:
            paragraphs[-1]["qas"].append(entry)
        else:
            paragraphs.append({"context": context, "qas": [entry]})
    document = {"version": version, "data": [{"title": qa.source or "kerastune", "paragraphs": paragraphs}]}
    with atomic_file(str(path), suffix=".json") as temporary:
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(document, f, ensure_ascii=False)
    return str(path)
