import json

import pytest

from kerastune.data.instruction_pairs import pairs_from_labelled_text, read_instruction_pairs
from kerastune.data.labelled_text import LabelledText, LabelledTextError


def write(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def test_reads_prompt_response_and_alpaca_files(tmp_path):
    pairs = read_instruction_pairs(write(tmp_path / "a.jsonl", [{"prompt": "hi", "response": " hello ", "id": 1},
                                                                {"prompt": "bye", "response": "ciao"}]))
    assert (pairs.prompts, pairs.responses, pairs.lines) == (["hi", "bye"], [" hello ", "ciao"], [1, 2])
    alpaca = read_instruction_pairs(write(tmp_path / "b.jsonl", [
        {"instruction": "Translate.", "input": "cat", "output": "chat"},
        {"instruction": "Say hi.", "input": "", "output": "hi"},
        {"instruction": "Say yo.", "output": "yo"}]))
    assert alpaca.prompts == ["Translate.\n\ncat", "Say hi.", "Say yo."] and alpaca.responses == ["chat", "hi", "yo"]
    (tmp_path / "c.tsv").write_text("question\tanswer\n2+2?\t4\n\n3+3?\t6\n", encoding="utf-8")
    tsv = read_instruction_pairs(str(tmp_path / "c.tsv"))
    assert (tsv.prompts, tsv.responses, tsv.lines) == (["2+2?", "3+3?"], ["4", "6"], [2, 4])
    named = read_instruction_pairs(write(tmp_path / "d.jsonl", [{"q": "a", "r": "b"}]), "q", "r")
    assert (named.prompts, named.responses) == (["a"], ["b"])


def test_split_keeps_whole_pairs_in_order(tmp_path):
    pairs = read_instruction_pairs(write(tmp_path / "a.jsonl", [{"prompt": f"p{i}", "response": f"r{i}"}
                                                                for i in range(10)]))
    train, val = pairs.split(0.2)
    assert train.prompts == [f"p{i}" for i in range(8)] and val.responses == ["r8", "r9"] and val.lines == [9, 10]


def test_pairs_from_labelled_text_answer_with_the_label_word():
    labelled = LabelledText(["good film", "bad film"], None, [1, 0], ["0", "1"], "sst2.tsv", lines=[2, 3])
    pairs = pairs_from_labelled_text(labelled, label_words=["negative", "positive"])
    assert (pairs.prompts, pairs.responses) == (["good film", "bad film"], ["positive", "negative"])
    assert (pairs.source, pairs.lines) == ("sst2.tsv", [2, 3])
    pair_task = LabelledText(["a"], ["b"], [0], ["no"], "x.tsv")
    assert pairs_from_labelled_text(pair_task).prompts == ["a\nb"]
    with pytest.raises(ValueError, match="one non-empty str per label"):
        pairs_from_labelled_text(labelled, label_words=["only one"])


def test_bad_pair_files_name_the_line_and_column(tmp_path):
    with pytest.raises(LabelledTextError, match=r"b.jsonl, line 2, column 'response': expected a non-empty string"):
        read_instruction_pairs(write(tmp_path / "b.jsonl", [{"prompt": "a", "response": "b"},
                                                            {"prompt": "c", "response": " "}]))
    with pytest.raises(LabelledTextError, match=r"line 2, column 'response': missing key"):
        read_instruction_pairs(write(tmp_path / "c.jsonl", [{"prompt": "a", "response": "b"}, {"prompt": "c"}]))
    with pytest.raises(LabelledTextError, match="no prompt/response or .* columns among"):
        read_instruction_pairs(write(tmp_path / "d.jsonl", [{"text": "a", "label": 1}]))
    with pytest.raises(LabelledTextError, match=r"line 1, column 'output'"):
        read_instruction_pairs(write(tmp_path / "e.jsonl", [{"instruction": "a", "output": None}]))
    with pytest.raises(FileNotFoundError, match=r"missing.json: no such file"):
        read_instruction_pairs(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="pass both prompt_column and response_column"):
        read_instruction_pairs(write(tmp_path / "f.jsonl", [{"q": "a"}]), prompt_column="q")


def test_reads_an_alpaca_style_json_array_with_each_objects_line(tmp_path):
    path = tmp_path / "alpaca_data.json"
    path.write_text('[\n  {"instruction": "Say hi.", "input": "", "output": "hi"},\n\n  {"instruction": "Add.",\n'
                    '   "input": "2 and 3", "output": "5"}\n]\n', encoding="utf-8")
    pairs = read_instruction_pairs(str(path))
    assert (pairs.prompts, pairs.responses, pairs.lines) == (["Say hi.", "Add.\n\n2 and 3"], ["hi", "5"], [2, 4])
    path.write_text('[{"instruction": "a", "output": "b"},\n {"instruction": "c"}]', encoding="utf-8")
    with pytest.raises(LabelledTextError, match=r"line 2, column 'output': missing key 'output'"):
        read_instruction_pairs(str(path))
    path.write_text('[{"instruction": "a", "output": "b"}\n {"instruction": "c"}]', encoding="utf-8")
    with pytest.raises(LabelledTextError, match=r"line 2: not valid JSON \(expected ',' or '\]'"):
        read_instruction_pairs(str(path))
    path.write_text(' [ ] ', encoding="utf-8")
    with pytest.raises(LabelledTextError, match="no examples"):
        read_instruction_pairs(str(path))


def test_csv_fields_may_hold_newlines_and_commas(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text('prompt,response\n"List two fruits","apple\nbanana, pear"\n\nhi,there\n', encoding="utf-8")
    pairs = read_instruction_pairs(str(path))
    assert (pairs.prompts, pairs.responses, pairs.lines) == (["List two fruits", "hi"], ["apple\nbanana, pear", "there"],
                                                             [2, 5])
    path.write_text('prompt,response\n"open quote,x\n', encoding="utf-8")
    with pytest.raises(LabelledTextError, match=r"line 2: is not valid CSV"):
        read_instruction_pairs(str(path))
