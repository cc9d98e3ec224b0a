import pytest

from kerastune.data.conll import ConllError, check_bio, read_conll, tagged_sentences
from tests.conftest import shared_path

GOOD = "EU\tB-ORG\nrejects\tO\nGerman\tB-MISC\n\n\n-DOCSTART-\tO\n\nPeter\tB-PER\nBlackburn\tI-PER\n"


def write(tmp_path, text, name="x.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_reads_sentences_tags_and_lines(tmp_path):
    data = read_conll(write(tmp_path, GOOD))
    assert data.words == [["EU", "rejects", "German"], ["Peter", "Blackburn"]]
    assert data.tag_names == ["O", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert data.tag_strings() == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"]]
    assert data.lines == [1, 8]


def test_four_column_conll_and_given_tag_set(tmp_path):
    data = read_conll(write(tmp_path, "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"), tag_names=["O", "B-ORG", "I-ORG"])
    assert data.words == [["EU", "rejects"]] and data.tags == [[1, 0]]


@pytest.mark.parametrize(
    "text, message",
    [
        ("EU\tB-ORG\nrejects\n", r"x.txt, line 2: 'rejects' has no tag"),
        ("EU\tB-ORG\n\nx\tFOO\n", r"x.txt, line 3: unknown tag 'FOO'"),
        ("EU\tO\nrejects\tI-ORG\n", r"x.txt, line 2: tag 'I-ORG' after 'O' is not valid BIO"),
        ("EU\tB-PER\nrejects\tI-ORG\n", r"x.txt, line 2: tag 'I-ORG' after 'B-PER' is not valid BIO"),
        ("\n\nEU\tO\n\nx\tI-LOC\n", r"x.txt, line 5: tag 'I-LOC' at the start of the sentence"),
        ("EU\tO\n\tB-PER\n", r"x.txt, line 2: empty token"),
        ("\n\n\n", r"x.txt: the file holds no sentences"),
    ],
    ids=["no-tag", "unknown-tag", "I-after-O", "I-after-other-type", "I-first", "empty-token", "no-sentences"],
)
def test_bad_input_names_file_and_line(tmp_path, text, message):
    with pytest.raises(ConllError, match=message):
        read_conll(write(tmp_path, text))


def test_tag_outside_the_training_tag_set(tmp_path):
    with pytest.raises(ConllError, match=r"line 2: unknown tag 'B-LOC'; the tag set \(from training\)"):
        read_conll(write(tmp_path, "EU\tO\nParis\tB-LOC\n"), tag_names=["O", "B-PER", "I-PER"])


def test_repair_reads_iob1_as_bio_and_warns(tmp_path):
    with pytest.warns(UserWarning, match="2 I- tags"):
        data = read_conll(write(tmp_path, "EU\tI-ORG\nrejects\tO\nGerman\tI-MISC\nlamb\tI-MISC\n"), invalid_bio="repair")
    assert data.tag_strings() == [["B-ORG", "O", "B-MISC", "I-MISC"]] and data.num_repaired == 2
    assert check_bio(["B-PER", "I-LOC"], "repair") == (["B-PER", "B-LOC"], 1)


def test_in_memory_sentences_refuse_an_empty_sentence():
    with pytest.raises(ConllError, match="sentence 1 is empty"):
        tagged_sentences([["a"], []], [["O"], []])
    data = tagged_sentences([["Peter", "ran"]], [[1, 0]], tag_names=["O", "B-PER", "I-PER"])
    assert data.tag_strings() == [["B-PER", "O"]]


def test_shared_conll2003_counts():
    data = read_conll(shared_path("data", "conll2003", "valid.txt"))
    assert len(data) == 3250
    train_entities = sum(t.startswith("B-") for s in read_conll(shared_path("data", "conll2003", "train.txt")).tag_strings() for t in s)
    assert train_entities == 6600 + 7140 + 6321 + 3438  # data/README.md
