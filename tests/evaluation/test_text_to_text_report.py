"""`text_to_text_report`: error rates against a plain Levenshtein in Python, BLEU at its known points."""

import numpy as np
import pytest

from kerastune.evaluation.text_to_text_report import text_to_text_report
from tests.helpers import levenshtein


def test_error_rates_are_corpus_levenshtein_over_characters_and_words():
    rng = np.random.default_rng(0)
    alphabet = list("ab cé")  # an accented character counts once
    references = ["".join(rng.choice(alphabet, rng.integers(1, 12))).strip() or "a" for _ in range(30)]
    predictions = ["".join(rng.choice(alphabet, rng.integers(0, 12))) for _ in range(30)]
    report = text_to_text_report(predictions, references)
    characters = sum(levenshtein(p, r) for p, r in zip(predictions, references)) / sum(len(r) for r in references)
    words = sum(levenshtein(p.split(), r.split()) for p, r in zip(predictions, references)) / sum(
        len(r.split()) for r in references)
    assert report["character_error_rate"] == pytest.approx(characters)
    assert report["word_error_rate"] == pytest.approx(words)
    assert report["exact_match"] == np.mean([p == r for p, r in zip(predictions, references)])
    assert report["num_examples"] == 30


def test_bleu_is_one_on_copies_and_zero_without_a_shared_word():
    texts = ["the cat sat on the mat today", "a dog ran in the park at noon"]
    assert text_to_text_report(texts, texts)["bleu"] == pytest.approx(1.0)
    assert text_to_text_report(["x y z w", "q r s t"], texts)["bleu"] == 0.0
    assert 0.0 < text_to_text_report(["the cat sat on a mat today", texts[1]], texts)["bleu"] < 1.0


def test_one_prediction_per_reference():
    with pytest.raises(ValueError, match="one prediction per reference.*2 predictions, 1 references"):
        text_to_text_report(["a", "b"], ["a"])
