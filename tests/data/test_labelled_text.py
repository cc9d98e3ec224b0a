import pytest

from kerastune.data.labelled_text import LabelledTextError, read_labelled_text, read_records
from tests.conftest import shared_path


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def test_tsv_reads_without_quoting_and_infers_sorted_label_names(tmp_path):
    path = write(tmp_path, "a.tsv", 'text\tlabel\nsays "hi\tpos\nbad film\tneg\nok\tpos\n')
    data = read_labelled_text(path)
    assert data.texts == ['says "hi', "bad film", "ok"]
    assert data.label_names == ["neg", "pos"]
    assert data.labels == [1, 0, 1]
    assert data.lines == [2, 3, 4]


def test_integer_labels_and_validation_file_share_ids(tmp_path):
    train = read_labelled_text(write(tmp_path, "t.tsv", "sentence\tlabel\na\t1\nb\t2\nc\t1\n"))
    assert train.label_names == ["1", "2"] and train.labels == [0, 1, 0]
    dev = read_labelled_text(
        write(tmp_path, "d.tsv", "sentence\tlabel\nx\t2\n"), label_names=train.label_names,
        label_values=train.label_values,
    )
    assert dev.labels == [1]


def test_label_name_column_csv_and_jsonl(tmp_path):
    csv_path = write(tmp_path, "a.csv", 'text,label,label_name\n"a, quoted",1,Sports\nb,0,World\n')
    data = read_labelled_text(csv_path, label_name_column="label_name")
    assert data.texts[0] == "a, quoted"
    assert data.label_names == ["World", "Sports"]
    jsonl = write(tmp_path, "a.jsonl", '{"q": "a", "p": "b", "y": "yes"}\n\n{"q": "c", "p": "d", "y": "no"}\n')
    pairs = read_labelled_text(jsonl, text_column="q", text_pair_column="p", label_column="y")
    assert pairs.text_pairs == ["b", "d"] and pairs.label_names == ["no", "yes"] and pairs.labels == [1, 0]


BAD_INPUTS = [
    # name, content, kwargs, expected fragments (file name is always checked)
    ("missing_column.tsv", "text\ty\na\t1\n", {}, ["line 1", "column 'label'", "missing column"]),
    ("empty_text.tsv", "text\tlabel\na\t1\n  \t0\n", {}, ["line 3", "column 'text'", "empty text"]),
    ("mixed.tsv", "text\tlabel\na\t1\nb\tpos\n", {}, ["line 3", "column 'label'", "'pos' is a string"]),
    ("outside.tsv", "text\tlabel\na\t1\nb\t7\n", {"label_names": ["0", "1"]},
     ["line 3", "column 'label'", "outside the label set"]),
    ("header_only.tsv", "text\tlabel\n", {}, ["line 1", "header row but no examples"]),
    ("empty.tsv", "", {}, ["line 1", "empty"]),
    ("fields.tsv", "text\tlabel\na\tb\t1\n", {}, ["line 2", "3 fields"]),
    ("latin1.tsv", b"text\tlabel\nok\t1\ncaf\xe9 au lait\t0\n", {}, ["line 3", "0xe9", "character 4", "UTF-8"]),
    ("bad.jsonl", '{"text": "a", "label": 1}\n{"text": "b"}\n', {}, ["line 2", "column 'label'", "missing key"]),
    ("mixed.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": "1"}\n', {}, ["line 2", "string"]),
]


@pytest.mark.parametrize("name,content,kwargs,fragments", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_located_by_file_line_and_column(tmp_path, name, content, kwargs, fragments):
    path = write(tmp_path, name, content)
    with pytest.raises(LabelledTextError) as info:
        read_labelled_text(path, **kwargs)
    message = str(info.value)
    assert path in message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        read_labelled_text(str(tmp_path / "nope.tsv"))


def test_sst2_dev_matches_published_counts():
    data = read_labelled_text(shared_path("data", "sst2", "dev.tsv"))
    assert len(data) == 872 and data.label_names == ["0", "1"]
    assert data.labels.count(0) == 428 and data.labels.count(1) == 444


def test_read_records_yields_the_header_then_rows_and_reads_a_json_array(tmp_path):
    tsv = write(tmp_path, "a.tsv", "text\tlabel\n\na\t1\n")
    assert list(read_records(tsv, "tsv")) == [(1, ["text", "label"]), (3, {"text": "a", "label": "1"})]
    lines = write(tmp_path, "a.jsonl", '{"text": "a"}\n\n{"text": "b"}\n')
    assert list(read_records(lines, "jsonl")) == [(1, {"text": "a"}), (3, {"text": "b"})]
    array = write(tmp_path, "a.json", '\ufeff[\n {"text": "a"},\n\n {"text":\n  "b"}]')
    assert list(read_records(array, "jsonl")) == [(2, {"text": "a"}), (4, {"text": "b"})]
    with pytest.raises(LabelledTextError, match=r"a.json, line 2: expected an array of JSON objects; received list"):
        list(read_records(write(tmp_path, "a.json", '[{"text": "a"},\n ["b"]]'), "jsonl"))
    with pytest.raises(ValueError, match="format must be one of"):
        read_records(tsv, "xml")


def test_a_json_array_of_labelled_objects_is_read_like_jsonl(tmp_path):
    path = tmp_path / "labelled.json"
    path.write_text('[\n  {"text": "a fine film", "label": "pos"},\n  {"text": "dull", "label": "neg"}\n]\n')
    data = read_labelled_text(str(path))
    assert data.texts == ["a fine film", "dull"] and data.label_names == ["neg", "pos"] and data.labels == [1, 0]
    assert data.lines == [2, 3]
    path.write_text('[\n  {"text": "a fine film", "label": "pos"},\n  {"text": "", "label": "neg"}\n]\n')
    with pytest.raises(LabelledTextError, match="labelled.json, line 3, column 'text'"):
        read_labelled_text(str(path))
