"""Scores of written texts against references: exact match, character and word error rates, BLEU."""

import keras_hub
import numpy as np
import tensorflow as tf


def _edit_distances(predictions, references, split):
    """Levenshtein distances between the pieces `split` makes of each pair, and the references' lengths."""
    hypothesis = split(tf.constant(predictions, tf.string)).to_sparse()
    truth = split(tf.constant(references, tf.string)).to_sparse()
    distances = tf.edit_distance(hypothesis, truth, normalize=False).numpy()  # (n,)
    lengths = split(tf.constant(references, tf.string)).row_lengths().numpy()
    return distances, lengths


def text_to_text_report(predictions, references):
    """How close written texts are to their references, as corpus-level rates.

    - `exact_match`: the share of texts equal to their reference, character for character.
    - `character_error_rate`: the Levenshtein distance over Unicode characters (insertions,
      deletions, substitutions), summed over the corpus and divided by the references' characters.
    - `word_error_rate`: the same over words split on whitespace.
    - `bleu`: corpus BLEU-4 (Papineni et al., 2002; `keras_hub.metrics.Bleu`, its default tokenizer).

    Args:
        predictions: list of str, the written texts.
        references: list of str, one reference each.

    Returns:
        dict with the four scores (floats; rates in [0, inf), the others in [0, 1]) and `num_examples`.

    Example:

    >>> report = text_to_text_report(["the cat sat"], ["the cat sat"])
    >>> report["exact_match"], report["character_error_rate"]
    (1.0, 0.0)
    """
    if len(predictions) != len(references) or not references:
        raise ValueError("text_to_text_report takes one prediction per reference, at least one. Received: "
                         f"{len(predictions)} predictions, {len(references)} references")
    characters, reference_characters = _edit_distances(
        predictions, references, lambda texts: tf.strings.unicode_split(texts, "UTF-8"))
    words, reference_words = _edit_distances(predictions, references, tf.strings.split)
    bleu = keras_hub.metrics.Bleu(max_order=4)
    bleu.update_state([[reference] for reference in references], list(predictions))
    return {
        "exact_match": float(np.mean([p == r for p, r in zip(predictions, references)])),
        "character_error_rate": float(characters.sum() / max(reference_characters.sum(), 1)),
        "word_error_rate": float(words.sum() / max(reference_words.sum(), 1)),
        "bleu": float(bleu.result()),
        "num_examples": len(references),
    }
