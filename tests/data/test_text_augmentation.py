from collections import Counter

import pytest

from kerastune.data.text_augmentation import augment_examples, read_synonyms

TEXTS = ["the acting was wonderful and the music was moving", "a lifeless film", "bad"]


def test_copies_keep_labels_and_only_rearrange_or_drop_words():
    texts, labels = augment_examples(TEXTS, [1, 0, 0], operations=("delete", "swap"), probability=0.3, copies=2)
    assert texts[:3] == TEXTS and labels == [1, 0, 0] * 3
    for original, copy in zip(TEXTS * 2, texts[3:]):
        assert copy  # never empty
        assert not Counter(copy.split()) - Counter(original.split())  # no new word
    assert texts[4] == TEXTS[1] and texts[5] == "bad"  # fewer than 4 words: no deletion or swap
    assert texts[3] != TEXTS[0]
    assert augment_examples(TEXTS, [1, 0, 0], seed=3) == augment_examples(TEXTS, [1, 0, 0], seed=3)


def test_synonyms_come_from_the_users_list(tmp_path):
    path = tmp_path / "synonyms.txt"
    path.write_text("# word<TAB>synonyms\ndull\tboring,tedious\nfilm movie picture\n", encoding="utf-8")
    synonyms = read_synonyms(str(path))
    assert synonyms == {"dull": ["boring", "tedious"], "film": ["movie", "picture"]}
    texts, _ = augment_examples(["a dull film"], [0], operations=("synonym",), probability=1.0, synonyms=synonyms)
    first, second = texts[1].split()[1:]
    assert first in ("boring", "tedious") and second in ("movie", "picture")
    (tmp_path / "bad.txt").write_text("dull\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.txt, line 1: 'dull' has no synonym"):
        read_synonyms(str(tmp_path / "bad.txt"))


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match=r"augment takes operations from \('delete', 'swap', 'synonym'\)"):
        augment_examples(TEXTS, [0, 0, 0], operations=("shuffle",))
    with pytest.raises(ValueError, match="needs a synonym list"):
        augment_examples(TEXTS, [0, 0, 0], operations=("synonym",))
    with pytest.raises(ValueError, match="augment_copies must be an int >= 1"):
        augment_examples(TEXTS, [0, 0, 0], copies=0)
