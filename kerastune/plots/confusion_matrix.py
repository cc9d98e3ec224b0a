"""A confusion matrix picture: counts written in each cell, colour by the share of the true class."""

import numpy as np

from kerastune.plots.figure_file import check_png_path, new_figure, save_png


def plot_confusion_matrix(labels, predictions, label_names, path):
    """Writes a PNG of scikit-learn's confusion matrix (rows: true label, columns: predicted).

    Each cell shows its count; its colour is the count divided by its row's total (the share of
    that true class predicted so; the diagonal is each class's recall), so rare classes read as
    clearly as common ones.

    Args:
        labels: int label ids (n,), in `[0, len(label_names))`.
        predictions: int predicted ids (n,), the same length.
        label_names: list of str; id `i` is named `label_names[i]`.
        path: str or path-like ending in `.png`.

    Returns:
        `path`, as a str.

    Example:

    >>> plot_confusion_matrix([0, 1, 1], [0, 1, 0], ["neg", "pos"], "/tmp/confusion.png")
    '/tmp/confusion.png'
    """
    from sklearn.metrics import confusion_matrix

    check_png_path(path)
    labels, predictions = np.asarray(labels).ravel(), np.asarray(predictions).ravel()
    label_names = [str(n) for n in label_names]
    if labels.shape != predictions.shape:
        raise ValueError(
            "labels and predictions must have the same length, one prediction per label. "
            f"Received: len(labels)={labels.size}, len(predictions)={predictions.size}"
        )
    if labels.size == 0 or not label_names:
        raise ValueError(f"There is nothing to plot. Received: len(labels)=0 or label_names={label_names!r}")
    for name, values in (("labels", labels), ("predictions", predictions)):
        if not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"{name} must be int label ids. Received: {name} of dtype {values.dtype}")
        bad = values[(values < 0) | (values >= len(label_names))]
        if bad.size:
            raise ValueError(
                f"{name} must be ids in [0, {len(label_names)}), one per name in label_names. "
                f"Received: {name} containing {int(bad[0])}"
            )
    counts = confusion_matrix(labels, predictions, labels=range(len(label_names)))  # (true, predicted)
    return plot_confusion_counts(counts, label_names, path)


def plot_confusion_counts(counts, label_names, path):
    """Writes the PNG of `plot_confusion_matrix` from the matrix of counts itself (rows: true label,
    columns: predicted), e.g. the `confusion_matrix` of a `classification_report`.

    Args:
        counts: (k, k) non-negative ints, `counts[i][j]` the examples of class `i` predicted `j`.
        label_names: list of k str.
        path: str or path-like ending in `.png`.

    Returns:
        `path`, as a str.

    Example:

    >>> plot_confusion_counts([[5, 1], [2, 7]], ["neg", "pos"], "/tmp/confusion.png")
    '/tmp/confusion.png'
    """
    check_png_path(path)
    label_names = [str(n) for n in label_names]
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape != (len(label_names), len(label_names)) or not label_names:
        raise ValueError("counts must be a square matrix with one row and one column per label name. "
                         f"Received: counts of shape {counts.shape} and {len(label_names)} label names")
    if not np.issubdtype(counts.dtype, np.integer) or (counts < 0).any() or counts.sum() == 0:
        raise ValueError(f"counts must be non-negative int counts, not all zero. Received: counts={counts.tolist()}")
    total = int(counts.sum())
    totals = counts.sum(axis=1, keepdims=True)
    shares = counts / np.maximum(totals, 1)

    size = 1.2 + 0.5 * len(label_names)
    figure = new_figure(size + 1.2, size)
    ax = figure.subplots()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=ax, label="share of the true class")
    ticks = range(len(label_names))
    ax.set_xticks(ticks, label_names, rotation=45, ha="right")
    ax.set_yticks(ticks, label_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in ticks:
        for j in ticks:
            ax.text(j, i, str(counts[i, j]), ha="center", va="center",
                    color="white" if shares[i, j] > 0.5 else "black", fontsize=8)
    ax.set_title(f"{total} examples, accuracy {np.trace(counts) / total:.3f}")
    return save_png(figure, path)
