import json

import pytest

from kerastune.data.labelled_text import LabelledTextError
from kerastune.data.sentence_pairs import COLUMN_GUESSES, SentencePairs, read_sentence_pairs
from tests.data.test_labelled_text import write


def jsonl(rows):
    return "".join(json.dumps(row) + "\n" for row in rows)


def test_each_format_reads_the_same_pairs_and_keeps_texts_as_written(tmp_path):
    expected = ([" a cat ", "rain"], ["a kitten", 'wet "weather"'], [1, 2])
    files = {
        "p.jsonl": jsonl([{"anchor": " a cat ", "positive": "a kitten", "id": 7},
                          {"anchor": "rain", "positive": 'wet "weather"'}]),
        "p.json": '[{"anchor": " a cat ", "positive": "a kitten", "id": 7},\n'
                  ' {"anchor": "rain", "positive": "wet \\"weather\\""}]\n',
        "p.tsv": 'anchor\tpositive\n a cat \ta kitten\nrain\twet "weather"\n',
        "p.csv": 'anchor,positive\n a cat ,a kitten\nrain,"wet ""weather"""\n',
    }
    for name, content in files.items():
        pairs = read_sentence_pairs(write(tmp_path, name, content))
        header = 0 if name.endswith("json") or name.endswith("jsonl") else 1
        assert (pairs.anchors, pairs.positives, pairs.lines) == (expected[0], expected[1],
                                                                 [n + header for n in expected[2]]), name
        assert pairs.negatives is None and pairs.source.endswith(name) and len(pairs) == 2
    as_tsv = read_sentence_pairs(write(tmp_path, "p.data", "anchor\tpositive\na\tb\n"), format="tsv")
    assert (as_tsv.anchors, as_tsv.positives) == (["a"], ["b"])


@pytest.mark.parametrize("anchor,positive", COLUMN_GUESSES, ids=["/".join(c) for c in COLUMN_GUESSES])
def test_columns_are_guessed(tmp_path, anchor, positive):
    pairs = read_sentence_pairs(write(tmp_path, "g.tsv", f"id\t{anchor}\t{positive}\n1\tq\tp\n"))
    assert (pairs.anchors, pairs.positives, pairs.negatives) == (["q"], ["p"], None)


def test_guesses_are_tried_in_order(tmp_path):
    path = write(tmp_path, "g.jsonl", jsonl([{"query": "q", "passage": "x", "document": "d", "positive": "p"}]))
    assert read_sentence_pairs(path).positives == ["p"]
    path = write(tmp_path, "h.jsonl", jsonl([{"query": "q", "passage": "x", "document": "d"}]))
    assert read_sentence_pairs(path).positives == ["d"]


def test_explicit_columns_and_the_negative_column(tmp_path):
    path = write(tmp_path, "n.csv", "q,p,hard,negative\nq1,p1,h1,n1\nq2,p2,h2,n2\n")
    named = read_sentence_pairs(path, anchor_column="q", positive_column="p", negative_column="hard")
    assert (named.anchors, named.positives, named.negatives) == (["q1", "q2"], ["p1", "p2"], ["h1", "h2"])
    assert read_sentence_pairs(path, "q", "p").negatives == ["n1", "n2"]  # `negative` when present
    as_positive = read_sentence_pairs(path, "q", "negative")
    assert as_positive.positives == ["n1", "n2"] and as_positive.negatives is None
    triplets = read_sentence_pairs(write(tmp_path, "t.jsonl", jsonl([
        {"anchor": "a", "positive": "p", "negative": "n"}, {"anchor": "b", "positive": "q", "negative": "m"}])))
    assert (triplets.anchors, triplets.positives, triplets.negatives) == (["a", "b"], ["p", "q"], ["n", "m"])


def test_csv_fields_may_hold_newlines_and_commas(tmp_path):
    path = write(tmp_path, "q.csv", 'sentence1,sentence2\n"two fruits","apple\nbanana, pear"\n\nhi,there\n')
    pairs = read_sentence_pairs(path)
    assert (pairs.anchors, pairs.positives, pairs.lines) == (["two fruits", "hi"], ["apple\nbanana, pear", "there"],
                                                             [2, 5])


def test_json_array_reports_each_objects_line(tmp_path):
    path = write(tmp_path, "a.json", '[\n  {"query": "q1", "positive": "p1"},\n\n  {"query": "q2",\n'
                                     '   "positive": ""}\n]\n')
    with pytest.raises(LabelledTextError) as info:
        read_sentence_pairs(path)
    assert str(info.value).startswith(f"{path}, line 4, column 'positive': expected a non-empty string")
    write(tmp_path, "a.json", '[\n  {"query": "q1", "positive": "p1"},\n\n  {"query": "q2",\n'
                              '   "positive": "p2"}\n]\n')
    assert read_sentence_pairs(path).lines == [2, 4]


BAD_INPUTS = [
    # name, content, kwargs, expected fragments (the file name is always checked)
    ("empty_anchor.tsv", "anchor\tpositive\na\tb\n \tc\n", {}, ["line 3", "column 'anchor'", "non-empty string"]),
    ("empty_positive.csv", 'query,document\na,b\nc,""\n', {}, ["line 3", "column 'document'", "non-empty"]),
    ("empty_negative.jsonl", jsonl([{"anchor": "a", "positive": "b", "negative": "\t"}]), {},
     ["line 1", "column 'negative'", "'\\t'"]),
    ("not_text.jsonl", jsonl([{"anchor": "a", "positive": "b"}, {"anchor": 3, "positive": "c"}]), {},
     ["line 2", "column 'anchor'", "received 3"]),
    ("null.json", '[{"anchor": "a", "positive": "b"},\n {"anchor": "c", "positive": null}]', {},
     ["line 2", "column 'positive'", "received None"]),
    ("missing_key.jsonl", jsonl([{"anchor": "a", "positive": "b"}, {"anchor": "c"}]), {},
     ["line 2", "column 'positive'", "missing key"]),
    ("missing_negative.jsonl", jsonl([{"anchor": "a", "positive": "b", "negative": "n"},
                                      {"anchor": "c", "positive": "d"}]), {},
     ["line 2", "column 'negative'", "missing key"]),
    ("no_guess.tsv", "text\tlabel\na\t1\n", {}, ["line 1", "no anchor/positive columns among ['text', 'label']",
                                                 "sentence1/sentence2", "pass anchor_column="]),
    ("absent.tsv", "q\tp\na\tb\n", {"anchor_column": "q", "positive_column": "pos"},
     ["line 1", "column 'pos'", "missing column", "['q', 'p']"]),
    ("absent_negative.jsonl", jsonl([{"anchor": "a", "positive": "b"}]), {"negative_column": "hard"},
     ["line 1", "column 'hard'", "missing column", "['anchor', 'positive']"]),
    ("header_only.csv", "anchor,positive\n", {}, ["line 1", "header row but no examples"]),
    ("empty.jsonl", "\n", {}, ["no examples"]),
    ("empty_array.json", "[]", {}, ["no examples"]),
    ("latin1.tsv", b"anchor\tpositive\ncaf\xe9\tb\n", {}, ["line 2", "0xe9", "UTF-8"]),
]


@pytest.mark.parametrize("name,content,kwargs,fragments", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_located_by_file_line_and_column(tmp_path, name, content, kwargs, fragments):
    path = write(tmp_path, name, content)
    with pytest.raises(LabelledTextError) as info:
        read_sentence_pairs(path, **kwargs)
    message = str(info.value)
    assert message.startswith(path), message
    for fragment in fragments:
        assert fragment in message, message


def test_bad_arguments_and_a_missing_file(tmp_path):
    path = write(tmp_path, "p.tsv", "anchor\tpositive\na\tb\n")
    with pytest.raises(ValueError, match="pass both anchor_column and positive_column"):
        read_sentence_pairs(path, anchor_column="anchor")
    with pytest.raises(ValueError, match="pass both anchor_column and positive_column"):
        read_sentence_pairs(path, positive_column="positive")
    with pytest.raises(ValueError, match="must name different columns"):
        read_sentence_pairs(path, "anchor", "anchor")
    with pytest.raises(ValueError, match="also the guessed anchor or positive column"):
        read_sentence_pairs(path, negative_column="positive")
    with pytest.raises(ValueError, match="format must be one of"):
        read_sentence_pairs(path, format="xml")
    with pytest.raises(LabelledTextError, match="cannot tell the format"):
        read_sentence_pairs(write(tmp_path, "p.xml", "anchor\tpositive\na\tb\n"))
    with pytest.raises(FileNotFoundError, match=r"missing.jsonl: no such file"):
        read_sentence_pairs(str(tmp_path / "missing.jsonl"))


def test_head_and_len():
    pairs = SentencePairs(["a", "b", "c"], ["p", "q", "r"], ["x", "y", "z"], "s.tsv", [2, 3, 4])
    first = pairs.head(2)
    assert (len(first), first.anchors, first.positives, first.negatives, first.lines, first.source) == (
        2, ["a", "b"], ["p", "q"], ["x", "y"], [2, 3], "s.tsv")
    assert pairs.head(None) is pairs and len(pairs) == 3
    bare = SentencePairs(["a", "b"], ["p", "q"]).head(1)
    assert (bare.anchors, bare.negatives, bare.lines) == (["a"], None, None)
