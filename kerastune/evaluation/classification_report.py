"""Accuracy, per-class precision/recall/F1, macro-F1 and the confusion matrix, as JSON.

The numbers are scikit-learn's (`classification_report`, `confusion_matrix`), so they match what
users already trust; this module only names them and writes them beside an export.
"""

import json
import os

import numpy as np
from sklearn import metrics


def classification_report(y_true, y_pred, label_names):
    """Returns a JSON-ready dict of classification metrics.

    Args:
        y_true: int label ids, shape (n,).
        y_pred: int predicted ids, shape (n,).
        label_names: list of str; id `i` is named `label_names[i]`.

    Returns:
        dict with `accuracy`, `macro_f1`, `weighted_f1`, `num_examples`, `label_names`,
        `per_class` (`{name: {precision, recall, f1, support}}`) and `confusion_matrix` (rows are
        true labels, columns predicted, in `label_names` order).

    Example:

    >>> report = classification_report([0, 1, 1], [0, 1, 0], ["neg", "pos"])
    >>> round(report["accuracy"], 4), report["confusion_matrix"]
    (0.6667, [[1, 0], [1, 1]])
    """
    y_true = np.asarray(y_true).astype(int).ravel()
    y_pred = np.asarray(y_pred).astype(int).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.shape[0]} vs {y_pred.shape[0]}")
    label_names = [str(n) for n in label_names]
    ids = list(range(len(label_names)))
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        bad = values[(values < 0) | (values >= len(label_names))]
        if bad.size:
            raise ValueError(f"{name} has label id {int(bad[0])}; expected ids in [0, {len(label_names)})")
    table = metrics.classification_report(
        y_true, y_pred, labels=ids, target_names=label_names, output_dict=True, zero_division=0
    )
    per_class = {
        name: {
            "precision": float(table[name]["precision"]),
            "recall": float(table[name]["recall"]),
            "f1": float(table[name]["f1-score"]),
            "support": int(table[name]["support"]),
        }
        for name in label_names
    }
    return {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "macro_f1": float(table["macro avg"]["f1-score"]),
        "weighted_f1": float(table["weighted avg"]["f1-score"]),
        "num_examples": int(y_true.size),
        "label_names": label_names,
        "per_class": per_class,
        "confusion_matrix": metrics.confusion_matrix(y_true, y_pred, labels=ids).tolist(),
    }


def save_report(report, path):
    """Writes `report` as indented JSON to `path` (a file, or a directory for `evaluation.json`)."""
    if os.path.isdir(path):
        path = os.path.join(path, "evaluation.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, ensure_ascii=False)
    return path
