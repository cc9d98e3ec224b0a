import pytest

from kerastune.evaluation.character_typos import character_typos
from tests.helpers import levenshtein

TEXTS = ["the acting was wonderful and the music moving", "a dull , lifeless film", "ok"]


def test_each_changed_word_is_one_typo_away_and_the_copy_is_seeded():
    noisy = character_typos(TEXTS, rate=1.0, seed=3)
    assert noisy == character_typos(TEXTS, rate=1.0, seed=3) != character_typos(TEXTS, rate=1.0, seed=4)
    for clean, changed in zip(TEXTS, noisy):
        clean_words, noisy_words = clean.split(" "), changed.split(" ")
        assert len(clean_words) == len(noisy_words)
        for a, b in zip(clean_words, noisy_words):
            if len(a) < 3 or not a.isalpha():
                assert a == b  # short words and punctuation are kept
            else:  # a swap is two edits in Levenshtein distance; the others one
                assert 1 <= levenshtein(a, b) <= 2 or a == b  # a swap of equal letters changes nothing


def test_the_rate_sets_the_share_of_changed_words():
    texts = ["wonderful moving picture"] * 400
    changed = sum(a != b for t, n in zip(texts, character_typos(texts, rate=0.1, seed=0))
                  for a, b in zip(t.split(), n.split()))
    assert 0.06 < changed / 1200 < 0.14
    assert character_typos(texts, rate=0.0) == texts
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]. Received: rate=1.5"):
        character_typos(texts, rate=1.5)
