import json
import os

import numpy as np
import pytest

from kerastune.data import question_answers as qa_module
from kerastune.data.labelled_text import LabelledTextError
from kerastune.data.question_answers import (
    QuestionAnswers,
    QuestionAnswersError,
    question_answer_from_tfds,
    read_question_answers,
    read_tfds_question_answers,
    write_squad_json,
)
from tests.data.test_labelled_text import write

# The opening of SQuAD v1.1 dev's first paragraph (answer_start 177 as in dev-v1.1.json); its gold answers repeat.
BOWL = ("Super Bowl 50 was an American football game to determine the champion of the National Football League "
        "(NFL) for the 2015 season. The American Football Conference (AFC) champion Denver Broncos defeated the "
        "National Football Conference (NFC) champion Carolina Panthers 24\u201310 to earn their third Super Bowl "
        "title.")
PARIS = "Paris is the capital of France. Paris has 2.1 million people."
V11 = {"version": "1.1", "data": [
    {"title": "Super_Bowl_50", "paragraphs": [{"context": BOWL, "qas": [
        {"id": "56be4db0acb8001400a502ec", "question": "Which NFL team represented the AFC at Super Bowl 50?",
         "answers": [{"answer_start": 177, "text": "Denver Broncos"}] * 3},
        {"id": "56be4db0acb8001400a502ed", "question": "Which NFL team represented the NFC at Super Bowl 50?",
         "answers": [{"answer_start": 249, "text": "Carolina Panthers"}, {"answer_start": 249, "text": "Carolina"}]},
    ]}]},
    {"title": "Paris", "paragraphs": [{"context": PARIS, "qas": [
        {"id": "p1", "question": "What is the capital of France?", "answers": [{"answer_start": 0, "text": "Paris"}]},
    ]}]},
]}
V20 = {"version": "v2.0", "data": [{"title": "Paris", "paragraphs": [{"context": PARIS, "qas": [
    {"id": "a", "question": "What is the capital of France?", "is_impossible": False,
     "answers": [{"answer_start": 0, "text": "Paris"}, {"answer_start": 32, "text": "Paris"}]},
    {"id": "b", "question": "What is the capital of Spain?", "is_impossible": True, "answers": [],
     "plausible_answers": [{"answer_start": 0, "text": "Paris"}]},
]}, {"context": "Rome is old.", "qas": [
    {"id": "c", "question": "Which city is old?", "is_impossible": False, "answers": [{"answer_start": 0,
                                                                                         "text": "Rome"}]},
]}]}]}
# One answer or none per question, so every format can hold them: (id, question, context, answer, answer_start)
FLAT = [("q1", "What is the capital of France?", PARIS, "Paris", 32),
        ("q2", "What is the capital of Spain?", PARIS, "", None),
        ("q3", 'Who said "yes, please"?', 'Ann said "yes, please", twice.', "Ann", 0)]
EXPECTED = QuestionAnswers([q for _, q, _, _, _ in FLAT], [c for _, _, c, _, _ in FLAT],
                           [[a] if a else [] for *_, a, _ in FLAT], [[s] if a else [] for *_, a, s in FLAT],
                           [i for i, *_ in FLAT])


def jsonl(rows):
    return "".join(json.dumps(row) + "\n" for row in rows)


def flat_files():
    """FLAT written in each row format: name -> content."""
    hf = [{"id": i, "question": q, "context": c,
           "answers": {"text": [a] if a else [], "answer_start": [s] if a else []}} for i, q, c, a, s in FLAT]
    flat = [{"id": i, "question": q, "context": c, "answer": a or None, "answer_start": s} for i, q, c, a, s in FLAT]
    objects = [dict(row, answers=[{"text": a, "answer_start": s}] if a else []) for row, (*_, a, s) in zip(hf, FLAT)]
    tsv = "id\tquestion\tcontext\tanswer\tanswer_start\n" + "".join(
        f"{i}\t{q}\t{c}\t{a}\t{'' if s is None else s}\n" for i, q, c, a, s in FLAT)
    csv_rows = [",".join('"' + str(v).replace('"', '""') + '"' for v in (i, q, c, a, -1 if s is None else s))
                for i, q, c, a, s in FLAT]
    return {"hf.jsonl": jsonl(hf), "flat.jsonl": jsonl(flat), "objects.jsonl": jsonl(objects),
            "array.json": json.dumps(hf, indent=1), "qa.tsv": tsv,
            "qa.csv": "id,question,context,answer,answer_start\n" + "\n".join(csv_rows) + "\n"}


def test_squad_v11_keeps_every_gold_answer_as_given(tmp_path):
    path = write(tmp_path, "dev-v1.1.json", json.dumps(V11))
    qa = read_question_answers(path)
    assert qa.ids == ["56be4db0acb8001400a502ec", "56be4db0acb8001400a502ed", "p1"] and qa.source == path
    assert qa.contexts == [BOWL, BOWL, PARIS] and qa.questions[2] == "What is the capital of France?"
    assert qa.answers == [["Denver Broncos"] * 3, ["Carolina Panthers", "Carolina"], ["Paris"]]
    assert qa.answer_starts == [[177] * 3, [249, 249], [0]] and qa.has_answer == [True] * 3
    assert qa.answer_spans()[1] == [(249, 266), (249, 257)]
    for context, texts, spans in zip(qa.contexts, qa.answers, qa.answer_spans()):
        assert [context[start:end] for start, end in spans] == texts


def test_squad_v20_unanswerable_questions_have_no_answers(tmp_path):
    qa = read_question_answers(write(tmp_path, "dev-v2.0.json", json.dumps(V20, indent=2)))
    assert qa.ids == ["a", "b", "c"] and qa.has_answer == [True, False, True]
    assert qa.answers == [["Paris", "Paris"], [], ["Rome"]] and qa.answer_starts == [[0, 32], [], [0]]
    assert qa.contexts == [PARIS, PARIS, "Rome is old."]
    # format="squad" reads any extension; max_examples keeps the first questions, across paragraphs
    path = write(tmp_path, "squad.txt", json.dumps(V20))
    assert read_question_answers(path, format="squad", max_examples=2).ids == ["a", "b"]
    assert read_question_answers(path, format="squad", max_examples=3).ids == ["a", "b", "c"]


@pytest.mark.parametrize("name", list(flat_files()))
def test_every_row_format_reads_the_same_examples(tmp_path, name):
    path = write(tmp_path, name, flat_files()[name])
    qa = read_question_answers(path)
    assert qa == EXPECTED and qa.source == path
    assert read_question_answers(path, max_examples=2) == EXPECTED.take(2)


def test_named_columns_and_ids_from_the_example_index(tmp_path):
    path = write(tmp_path, "named.tsv", "q\tpassage\tspan\toffset\nWhere?\tin Rome\tRome\t3\nWho?\tnobody\t\t-1\n")
    qa = read_question_answers(path, question_column="q", context_column="passage", answer_column="span",
                               answer_start_column="offset", id_column="key")
    assert (qa.ids, qa.answers, qa.answer_starts) == (["0", "1"], [["Rome"], []], [[3], []])
    objects = jsonl([{"uid": 7, "question": "Where?", "context": "in Rome", "answer": "Rome", "answer_start": 3}])
    assert read_question_answers(write(tmp_path, "ids.jsonl", objects), id_column="uid").ids == ["7"]


def test_max_examples_stops_reading(tmp_path):
    path = write(tmp_path, "stop.tsv", "question\tcontext\tanswer\tanswer_start\nWhere?\tin Rome\tRome\t3\n"
                                       "\tbroken row\tx\t0\n")
    assert read_question_answers(path, max_examples=1).questions == ["Where?"]
    with pytest.raises(QuestionAnswersError, match="line 3, column 'question': empty question"):
        read_question_answers(path)


def squad(qas, context=PARIS):
    return json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]})


def question(**fields):
    return dict({"id": "x1", "question": "What is the capital?", "answers": [{"text": "Paris", "answer_start": 0}]},
                **fields)


BAD_INPUTS = [
    # name, content, kwargs, fragments expected in the message (which always starts with the path)
    ("empty_question.tsv", "question\tcontext\tanswer\tanswer_start\nWhere?\tin Rome\tRome\t3\n \tin Rome\tRome\t3\n",
     {}, ["line 3", "column 'question'", "empty question (' ')"]),
    ("empty_context.json", squad([question()], context=""), {},
     ["data[0].paragraphs[0].qas[0] (id 'x1')", "empty context ('')"]),
    ("moved.jsonl", jsonl([{"question": "q?", "context": PARIS, "answer": "capital", "answer_start": 10}]), {},
     ["line 1", "column 'answer_start'", "answer 'capital' is not the context's text at answer_start=10",
      "the context holds 'he capi' there", "occurs in the context at character 13: set answer_start to 13"]),
    ("nowhere.json", squad([question(answers=[{"text": "Lyon", "answer_start": 0}])]), {},
     ["qas[0] (id 'x1')", "holds 'Pari' there", "occurs nowhere in the context"]),
    ("twice.json", squad([question(answers=[{"text": "Paris", "answer_start": 5}])]), {},
     ["holds ' is t' there", "at characters [0, 32]: set answer_start to the one meant"]),
    ("past_end.json", squad([question(answers=[{"text": "people.!", "answer_start": 54}])]), {},
     ["the context (61 characters) ends first, holding 'people.' there"]),
    ("possible.json", squad([question(is_impossible=True)]), {},
     ["(id 'x1')", "is_impossible is true but the question has answers (1: ['Paris'])", "plausible_answers"]),
    ("impossible.json", squad([question(is_impossible=False, answers=[])]), {},
     ["is_impossible is false but the question has no answers"]),
    ("impossible.jsonl", jsonl([{"question": "q", "context": "in Rome", "is_impossible": True,
                                 "answers": {"text": ["Rome"], "answer_start": [3]}}]), {},
     ["line 1", "is_impossible is true but the question has answers (1: ['Rome'])"]),
    ("columns.tsv", "query\tcontext\tanswer\tanswer_start\nq\tc\t\t\n", {},
     ["line 1", "missing column 'question'", "['query', 'context', 'answer', 'answer_start']", "question_column="]),
    ("no_answer.csv", "question,context,span\nq,c,x\n", {},
     ["line 1", "missing column 'answers' (nor 'answer')", "['question', 'context', 'span']", "answer_column="]),
    ("no_start.tsv", "question\tcontext\tanswer\nq\tin Rome\tRome\n", {},
     ["line 1", "missing column 'answer_start'", "['question', 'context', 'answer']"]),
    ("later_key.jsonl", jsonl([{"question": "q", "context": "c", "answers": {"text": [], "answer_start": []}},
                               {"question": "q", "answers": {"text": [], "answer_start": []}}]), {},
     ["line 2", "missing key 'context'", "['question', 'answers']"]),
    ("no_offset.tsv", "question\tcontext\tanswer\tanswer_start\nWhere?\tin Rome\tRome\t\n", {},
     ["line 2", "column 'answer_start'", "answer_start is '' but the answer 'Rome' needs its character offset",
      "set answer_start to 3"]),
    ("offset_only.csv", "question,context,answer,answer_start\nWhere?,in Rome,,3\n", {},
     ["line 2", "column 'answer'", "the answer is empty but answer_start is '3'", "leave answer_start empty (or -1)"]),
    ("negative.tsv", "question\tcontext\tanswer\tanswer_start\nWhere?\tin Rome\tRome\t-3\n", {},
     ["line 2", "answer_start -3 of answer 'Rome' is not a character offset"]),
    ("string_offset.jsonl", jsonl([{"question": "q", "context": "in Rome", "answer": "Rome", "answer_start": "3"}]),
     {}, ["line 1", "answer_start '3' of answer 'Rome' is not a character offset (an integer >= 0)"]),
    ("repeated_id.tsv", "id\tquestion\tcontext\tanswer\tanswer_start\n7\tq\tin Rome\tRome\t3\n7\tq\tin Rome\tin\t0\n",
     {}, ["line 3", "column 'id'", "the question id '7' is also used at line 2", "several answers in JSONL"]),
    ("repeated_id.json", squad([question(), question()]), {},
     ["data[0].paragraphs[0].qas[1] (id 'x1')", "also used at data[0].paragraphs[0].qas[0] (id 'x1')"]),
    ("uneven.jsonl", jsonl([{"question": "q", "context": "in Rome", "answers": {"text": ["Rome"],
                                                                              "answer_start": [3, 3]}}]), {},
     ["line 1", "column 'answers'", "1 answer texts but 2 answer starts"]),
    ("hf_keys.jsonl", jsonl([{"question": "q", "context": "in Rome", "answers": {"texts": ["Rome"]}}]), {},
     ["line 1", "the Hugging Face squad layout"]),
    ("empty_text.json", squad([question(answers=[{"text": "", "answer_start": 0}])]), {},
     ["(id 'x1')", "empty answer text ('')"]),
    ("qa_keys.json", squad([{"id": "x1", "query": "q?", "answers": []}]), {},
     ["data[0].paragraphs[0].qas[0]", "missing ['question']"]),
    ("paragraph.json", json.dumps({"data": [{"paragraphs": [{"text": "c", "qas": []}]}]}), {},
     ["data[0].paragraphs[0]", "a 'context' and a 'qas' list", "['text', 'qas']"]),
    ("no_questions.json", squad([]), {}, ["holds no questions"]),
    ("no_data.json", '{"version": "v2.0",\n "articles": []}', {}, ["line 1", "without a 'data' key",
                                                                   "['version', 'articles']"]),
    ("syntax.json", '{"version": "v2.0",\n "data": [\n {"title": "t",}]}', {}, ["line 3", "not valid JSON"]),
    ("latin1.json", b'{"version": "v2.0",\n "data": [{"title": "caf\xe9"}]}', {}, ["line 2", "0xe9", "UTF-8"]),
    ("lines.jsonl", jsonl([{"question": "q"}]), {"format": "squad"}, ["line 1", "without a 'data' key"]),
]


@pytest.mark.parametrize("name,content,kwargs,fragments", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_located(tmp_path, name, content, kwargs, fragments):
    path = write(tmp_path, name, content)
    with pytest.raises(QuestionAnswersError) as info:
        read_question_answers(path, **kwargs)
    message = str(info.value)
    assert message.startswith(path) and isinstance(info.value, LabelledTextError), message
    for fragment in fragments:
        assert fragment in message, message


def test_bad_arguments_and_a_missing_file(tmp_path):
    path = write(tmp_path, "qa.tsv", flat_files()["qa.tsv"])
    with pytest.raises(ValueError, match=r"max_examples must be a positive integer or None. Received: max_examples=0"):
        read_question_answers(path, max_examples=0)
    with pytest.raises(ValueError, match="format must be one of"):
        read_question_answers(path, format="xml")
    with pytest.raises(FileNotFoundError, match=r"missing.json: no such file"):
        read_question_answers(str(tmp_path / "missing.json"))
    with pytest.raises(FileNotFoundError, match=r"missing.tsv: no such file"):
        read_question_answers(str(tmp_path / "missing.tsv"))


def test_question_answers_checks_itself_and_subsets():
    assert EXPECTED.has_answer == [True, False, True]
    assert EXPECTED.answer_spans() == [[(32, 37)], [], [(0, 3)]]
    assert EXPECTED.subset([2, 0]).ids == ["q3", "q1"] and EXPECTED.subset([2, 0]).answers == [["Ann"], ["Paris"]]
    assert EXPECTED.take(1).ids == ["q1"] and EXPECTED.take(None) == EXPECTED and len(EXPECTED.take(9)) == 3
    assert EXPECTED.take(0).ids == [] and EXPECTED == EXPECTED.subset(range(3))
    with pytest.raises(IndexError, match=r"indices must lie in \[0, 3\). Received: \[3\]"):
        EXPECTED.subset([0, 3])
    with pytest.raises(ValueError, match="n must be a non-negative integer"):
        EXPECTED.take(-1)
    with pytest.raises(ValueError, match=r"Received lengths: .*'ids': 1"):
        QuestionAnswers(["q", "q"], ["c d", "c d"], [[], []], [[], []], ["1"])
    with pytest.raises(QuestionAnswersError, match=r"^mem.json, example 1 \(id '2'\): answer 'd' is not the context's"
                                                   r" text at answer_start=0: the context holds 'c' there; the answer "
                                                   r"occurs in the context at character 2"):
        QuestionAnswers(["q", "q"], ["c d", "c d"], [[], ["d"]], [[], [0]], ["1", "2"], source="mem.json")
    with pytest.raises(QuestionAnswersError, match=r"example 1 \(id '1'\): the id '1' is also example 0's"):
        QuestionAnswers(["q", "q"], ["c", "c"], [[], []], [[], []], ["1", "1"])


def test_written_squad_json_reads_back_equal(tmp_path):
    for name, content in (("v11.json", json.dumps(V11)), ("v20.json", json.dumps(V20))):
        qa = read_question_answers(write(tmp_path, name, content))
        path = write_squad_json(qa, str(tmp_path / "out" / name))
        assert read_question_answers(path) == qa
        written = json.load(open(path, encoding="utf-8"))
        # consecutive questions on one context share a paragraph, as in the source
        assert [len(p["qas"]) for p in written["data"][0]["paragraphs"]] == [2, 1]
        assert written["version"] == "v2.0" and all("is_impossible" in q for p in written["data"][0]["paragraphs"]
                                                    for q in p["qas"])
    v11 = write_squad_json(EXPECTED.subset([0, 2]), str(tmp_path / "v1.json"), version="v1.1")
    assert read_question_answers(v11) == EXPECTED.subset([0, 2])
    assert "is_impossible" not in open(v11, encoding="utf-8").read() and "\u2013" in open(
        write_squad_json(read_question_answers(write(tmp_path, "b.json", json.dumps(V11))), str(tmp_path / "c.json")),
        encoding="utf-8").read()  # non-ASCII written as itself
    with pytest.raises(ValueError, match=r"SQuAD v1.1 has no unanswerable questions, and 1 of these .*\['q2'\]"):
        write_squad_json(EXPECTED, str(tmp_path / "v1.json"), version="v1.1")
    with pytest.raises(ValueError, match=r"version must be one of \('v1.1', 'v2.0'\). Received: version='2.0'"):
        write_squad_json(EXPECTED, str(tmp_path / "x.json"), version="2.0")
    with pytest.raises(ValueError, match="no questions to write"):
        write_squad_json(EXPECTED.take(0), str(tmp_path / "x.json"))


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = write_squad_json(EXPECTED, str(tmp_path / "qa.json"))
    before = open(path, encoding="utf-8").read()

    def half_then_fail(document, f, **kwargs):
        f.write(json.dumps(document)[:20])
        raise OSError("disk full")

    monkeypatch.setattr(qa_module.json, "dump", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_squad_json(EXPECTED.take(1), path)
    assert open(path, encoding="utf-8").read() == before and os.listdir(tmp_path) == ["qa.json"]


def fake_tfds_example(v2):
    """One example as `tfds.as_numpy` yields squad's: bytes texts, answers as arrays."""
    example = {"id": b"56be4db0acb8001400a502ec", "title": b"Super_Bowl_50", "context": BOWL.encode("utf-8"),
               "question": b"Which NFL team represented the AFC at Super Bowl 50?",
               "answers": {"text": np.array([b"Denver Broncos"] * 2, dtype=object),
                           "answer_start": np.array([177, 177], dtype=np.int32)}}
    if v2:
        example.update(is_impossible=np.bool_(False), plausible_answers={"text": np.array([], dtype=object),
                                                                         "answer_start": np.array([], np.int32)})
    return example


def test_tfds_examples_convert_to_questions():
    fields = question_answer_from_tfds(fake_tfds_example(v2=False))
    assert fields == {"id": "56be4db0acb8001400a502ec",
                      "question": "Which NFL team represented the AFC at Super Bowl 50?", "context": BOWL,
                      "answers": ["Denver Broncos"] * 2, "answer_starts": [177, 177], "is_impossible": None}
    assert type(fields["answer_starts"][0]) is int and "\u2013" in fields["context"]
    v2 = question_answer_from_tfds(fake_tfds_example(v2=True))
    assert v2["is_impossible"] is False and type(v2["is_impossible"]) is bool


def test_tfds_squad_features_are_the_ones_read():
    tfds = pytest.importorskip("tensorflow_datasets")
    for name in ("squad/v1.1", "squad/v2.0"):
        features = tfds.builder(name).info.features
        assert {"id", "question", "context", "answers"} <= set(features)
        assert set(features["answers"].feature) == {"text", "answer_start"}
    assert "is_impossible" in tfds.builder("squad/v2.0").info.features


def test_tfds_reads_only_a_prepared_copy(tmp_path):
    with pytest.raises(QuestionAnswersError, match=r"^tfds:squad/v1.1:validation: reads TFDS's prepared copy, and "
                                                   r"there is none under .*tfds build squad/v1.1 --data_dir=DIR"):
        read_tfds_question_answers(data_dir=str(tmp_path))


def test_tfds_squad_validation_when_prepared():
    tfds = pytest.importorskip("tensorflow_datasets")
    if not tfds.builder("squad/v1.1").is_prepared():
        pytest.skip("no prepared TFDS squad/v1.1 in TFDS's default data_dir (nothing is downloaded in tests)")
    qa = read_tfds_question_answers("squad/v1.1", "validation")
    assert len(qa) == 10570 and all(qa.has_answer)  # SQuAD v1.1 dev (Rajpurkar et al. 2016)


@pytest.mark.parametrize("version", ["v1.1", "v2.0"])
def test_tfds_builder_reads_the_written_file(tmp_path, version):
    """TFDS's own squad builder parses a file `write_squad_json` wrote; the prepared copy reads back equal."""
    from tests import tfds_local

    qa = read_question_answers(write(tmp_path, "dev.json", json.dumps(V11 if version == "v1.1" else V20)))
    train = write_squad_json(qa, str(tmp_path / "train.json"), version=version)
    dev = write_squad_json(qa.take(2), str(tmp_path / "dev-written.json"), version=version)
    data_dir = str(tmp_path / "tfds")
    tfds_local.prepare(f"squad/{version}", data_dir, lambda urls: {"train": train, "dev": dev})
    back = read_tfds_question_answers(f"squad/{version}", "train", data_dir=data_dir)
    assert back.source == f"tfds:squad/{version}:train"
    order = sorted(range(len(back)), key=back.ids.__getitem__)  # TFDS orders examples by a hash of their key
    assert back.subset(order) == qa.subset(sorted(range(len(qa)), key=qa.ids.__getitem__))
    assert sorted(read_tfds_question_answers(f"squad/{version}", "validation[:1]", data_dir=data_dir).ids)[0] in \
        qa.take(2).ids


def test_a_lone_surrogate_is_refused_where_it_is(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "who?", "context": "Ada \\ud83d wrote it", "answer": "Ada", "answer_start": 0}\n')
    with pytest.raises(QuestionAnswersError, match=r"line 1.*the context holds a lone surrogate \(U\+D83D at "):
        read_question_answers(str(path))
