"""Pairs made from plain texts: the texts are the targets, their seeded typos the sources."""

import pytest

from kerastune.data.noisy_pairs import noisy_pairs, read_texts
from kerastune.evaluation.character_typos import character_typos

TEXTS = ["the film was wonderful", "a tedious , overlong mess", "nothing happens"]


def test_a_text_file_gives_its_non_blank_lines_with_their_numbers(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text(f"{TEXTS[0]}\n\n{TEXTS[1]}\n   \n{TEXTS[2]}", encoding="utf-8")
    assert read_texts(str(path)) == (TEXTS, [1, 3, 5])


def test_a_labelled_file_gives_its_text_column(tmp_path):
    path = tmp_path / "texts.tsv"
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t1\n" for t in TEXTS), encoding="utf-8")
    texts, lines = read_texts(str(path))
    assert texts == TEXTS and lines == [2, 3, 4]


def test_sources_are_the_seeded_typos_of_the_targets(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(TEXTS * 20) + "\n", encoding="utf-8")
    pairs = noisy_pairs(str(path), rate=0.5, seed=3)
    assert pairs.responses == TEXTS * 20 and pairs.lines == list(range(1, 61)) and pairs.source == str(path)
    assert pairs.prompts == character_typos(TEXTS * 20, rate=0.5, seed=3)  # the evaluation module's typos
    assert sum(p != r for p, r in zip(pairs.prompts, pairs.responses)) > 20
    assert noisy_pairs(str(path), rate=0.5, seed=4).prompts != pairs.prompts
    with pytest.raises(ValueError, match=r"noise must be one of \('typos',\)"):
        noisy_pairs(str(path), noise="shuffle")


def test_only_the_text_column_is_read_and_json_arrays_are_tables(tmp_path):
    (tmp_path / "texts.tsv").write_text("sentence\n" + "".join(f"{t}\n" for t in TEXTS), encoding="utf-8")
    assert read_texts(str(tmp_path / "texts.tsv"))[0] == TEXTS  # no label column needed
    (tmp_path / "texts.json").write_text('[{"text": "a b"},\n {"text": "c d", "label": "odd"}]', encoding="utf-8")
    assert read_texts(str(tmp_path / "texts.json"))[0] == ["a b", "c d"]
    (tmp_path / "bad.csv").write_text("body\nsomething\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no text column: it has \\['body'\\]"):
        read_texts(str(tmp_path / "bad.csv"))


def test_lines_are_split_at_line_feeds_only(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_bytes("page one\x0cstill line one\r\nline two \u2028 same line\n".encode("utf-8"))
    assert read_texts(str(path)) == (["page one\x0cstill line one", "line two \u2028 same line"], [1, 2])
