from collections import Counter

import numpy as np
import pytest

from kerastune.data.text_augmentation import (
    MAX_NGRAM, augment_examples, embedding_neighbours, read_synonyms, write_synonyms,
)

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


def test_ngram_keeps_a_run_of_consecutive_words_in_about_probability_of_the_texts():
    text = " ".join(f"w{i}" for i in range(12))
    texts, labels = augment_examples([text], [1], operations=("ngram",), probability=0.5, copies=400, seed=1)
    assert labels == [1] * 401
    sampled = [copy for copy in texts[1:] if copy != text]
    assert 150 <= len(sampled) <= 250  # about half of the 400 copies
    for copy in sampled:
        assert f" {copy} " in f" {text} " and 1 <= len(copy.split()) <= MAX_NGRAM
    assert {len(copy.split()) for copy in sampled} == set(range(1, MAX_NGRAM + 1))
    assert augment_examples(["too short"], [0], operations=("ngram",), probability=1.0)[0] == ["too short"] * 2


def test_embedding_neighbours_are_the_nearest_whole_words_by_cosine(tmp_path):
    rng = np.random.default_rng(0)
    vocabulary = ["[CLS]", "##ing", "a", "9th"] + [chr(97 + i) * 2 for i in range(20)]  # "aa", "bb", ...
    table = rng.normal(size=(len(vocabulary), 6))
    neighbours = embedding_neighbours(vocabulary, table, k=3, batch_size=7)  # several blocks
    words = vocabulary[4:]
    assert list(neighbours) == words  # no special token, word piece, single letter or digit
    unit = table[4:] / np.linalg.norm(table[4:], axis=1, keepdims=True)
    for i, word in enumerate(words):
        cosine = unit @ unit[i]
        cosine[i] = -np.inf
        assert neighbours[word] == [words[j] for j in np.argsort(-cosine)[:3]]
    path = tmp_path / "neighbours.txt"
    write_synonyms(str(path), neighbours)
    assert read_synonyms(str(path)) == neighbours
    with pytest.raises(ValueError, match=r"one row per vocabulary token \(24\)"):
        embedding_neighbours(vocabulary, table[:5])
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        embedding_neighbours(vocabulary, table, k=0)
    with pytest.raises(ValueError, match="20 whole words, too few for k=20"):
        embedding_neighbours(vocabulary, table, k=20)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match=r"augment takes operations from \('delete', 'swap', 'synonym', 'ngram'\)"):
        augment_examples(TEXTS, [0, 0, 0], operations=("shuffle",))
    with pytest.raises(ValueError, match="needs a synonym list"):
        augment_examples(TEXTS, [0, 0, 0], operations=("synonym",))
    with pytest.raises(ValueError, match="augment_copies must be an int >= 1"):
        augment_examples(TEXTS, [0, 0, 0], copies=0)
