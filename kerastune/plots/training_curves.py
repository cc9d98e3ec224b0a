"""Loss and every metric per epoch from a Keras `History`: train and `val_` series on the same axes."""

from kerastune.plots.figure_file import new_figure, save_png


def curves(history):
    """`{metric: {"train": values, "validation": values}}` from a `History` or its `.history` dict.

    `loss` comes first, then the metrics in the order Keras logged them; `val_<m>` joins `<m>`.
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs:
        raise ValueError(
            "plot_training_curves takes the History that `model.fit` returns, or its `.history` dict "
            f"of per-epoch lists, with at least one series. Received: history={history!r}"
        )
    grouped = {}
    for key, values in logs.items():
        try:
            values = [float(v) for v in values]
        except (TypeError, ValueError):
            raise ValueError(
                f"Each History series must be a list of numbers, one per epoch. Received: {key}={values!r}"
            ) from None
        base, split = (key[4:], "validation") if key.startswith("val_") else (key, "train")
        grouped.setdefault(base, {})[split] = values
    order = sorted(grouped, key=lambda name: name != "loss")  # loss first, the rest as logged
    return {name: grouped[name] for name in order}


def plot_training_curves(history, path):
    """Writes a PNG with one subplot per metric (loss first), the train and `val_` curves per epoch.

    Args:
        history: the `keras.callbacks.History` that `model.fit` returns, or its `.history` dict
            (`{"loss": [...], "accuracy": [...], "val_loss": [...], ...}`).
        path: str or path-like ending in `.png`.

    Returns:
        `path`, as a str.

    Example:

    >>> plot_training_curves({"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]}, "/tmp/curves.png")
    '/tmp/curves.png'
    """
    from matplotlib.ticker import MaxNLocator

    series = curves(history)
    figure = new_figure(4.0 * len(series), 3.2)
    axes = figure.subplots(1, len(series), squeeze=False)[0]
    for ax, (name, splits) in zip(axes, series.items()):
        for split, style in (("train", "o-"), ("validation", "s--")):
            if split in splits:
                values = splits[split]
                ax.plot(range(1, len(values) + 1), values, style, label=split, markersize=3)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
        ax.grid(alpha=0.3)
        ax.legend()
    return save_png(figure, path)
