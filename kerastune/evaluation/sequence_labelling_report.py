"""Entity-level precision, recall and F1 for BIO tagging, as JSON (seqeval's numbers).

An entity counts as correct only when its type and both boundaries match (CoNLL-2003's
conlleval definition); seqeval computes it (`mode=None`, the conlleval-compatible default), so the
numbers match what NER papers and Hugging Face's token-classification examples report.
"""

from seqeval import metrics


def sequence_labelling_report(true_tags, predicted_tags):
    """Returns a JSON-ready dict of entity-level metrics.

    Args:
        true_tags: list of lists of str BIO tags, one list per sentence.
        predicted_tags: the same shape.

    Returns:
        dict: `precision`, `recall`, `f1` (micro-averaged over entities), `accuracy` (per word),
        `num_sentences`, `num_words`, and `per_type` (`{type: {precision, recall, f1, support}}`,
        support = true entities).

    Example:

    >>> report = sequence_labelling_report([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "O"]])
    >>> report["precision"], report["recall"], round(report["f1"], 4)
    (1.0, 0.5, 0.6667)
    """
    true_tags = [list(map(str, s)) for s in true_tags]
    predicted_tags = [list(map(str, s)) for s in predicted_tags]
    if len(true_tags) != len(predicted_tags):
        raise ValueError(f"{len(true_tags)} true sentences but {len(predicted_tags)} predicted")
    for i, (t, p) in enumerate(zip(true_tags, predicted_tags)):
        if len(t) != len(p):
            raise ValueError(f"sentence {i} has {len(t)} true tags but {len(p)} predicted")
    table = metrics.classification_report(true_tags, predicted_tags, output_dict=True, zero_division=0)
    per_type = {
        name: {
            "precision": float(row["precision"]),
            "recall": float(row["recall"]),
            "f1": float(row["f1-score"]),
            "support": int(row["support"]),
        }
        for name, row in table.items()
        if not name.endswith(" avg")
    }
    return {
        "precision": float(metrics.precision_score(true_tags, predicted_tags, zero_division=0)),
        "recall": float(metrics.recall_score(true_tags, predicted_tags, zero_division=0)),
        "f1": float(metrics.f1_score(true_tags, predicted_tags, zero_division=0)),
        "accuracy": float(metrics.accuracy_score(true_tags, predicted_tags)),
        "num_sentences": len(true_tags),
        "num_words": sum(map(len, true_tags)),
        "per_type": per_type,
    }
