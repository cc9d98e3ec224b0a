"""Bars of per-entity-type F1 from a `sequence_labelling_report` (seqeval's numbers)."""

from kerastune.plots.figure_file import new_figure, save_png


def plot_entity_f1(report, path):
    """Writes a PNG with one bar per entity type: its F1, with its support (true entities) below.

    A dashed line marks the micro-averaged F1 over all entities (the report's `f1`) when present.

    Args:
        report: the dict `kerastune.evaluation.sequence_labelling_report` returns (its
            `per_type` maps each type to `{precision, recall, f1, support}`).
        path: str or path-like ending in `.png`.

    Returns:
        `path`, as a str.

    Example:

    >>> from kerastune.evaluation import sequence_labelling_report
    >>> report = sequence_labelling_report([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]])
    >>> plot_entity_f1(report, "/tmp/entity_f1.png")
    '/tmp/entity_f1.png'
    """
    per_type = report.get("per_type") if isinstance(report, dict) else None
    if not isinstance(per_type, dict) or not per_type:
        raise ValueError(
            "plot_entity_f1 takes the dict sequence_labelling_report returns, whose 'per_type' maps at "
            f"least one entity type to its scores. Received: report={report!r}"
        )
    names = sorted(per_type)
    try:
        scores = [float(per_type[n]["f1"]) for n in names]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"Every per_type entry needs a numeric 'f1'. Received: per_type={per_type!r}") from None
    supports = [per_type[n].get("support") for n in names]

    figure = new_figure(1.6 + 0.8 * len(names), 3.5)
    ax = figure.subplots()
    bars = ax.bar(range(len(names)), scores, color="tab:blue")
    ax.bar_label(bars, labels=[f"{s:.2f}" for s in scores], padding=2, fontsize=8)
    labels = [n if s is None else f"{n}\n(n={s})" for n, s in zip(names, supports)]
    ax.set_xticks(range(len(names)), labels)
    ax.set_ylim(0.0, 1.3)  # room above the bars for the legend
    ax.set_ylabel("F1")
    if "f1" in report:
        ax.axhline(float(report["f1"]), color="tab:red", linestyle="--", label=f"micro F1 {float(report['f1']):.3f}")
        ax.legend(loc="upper right")
    ax.set_title("entity F1 per type")
    return save_png(figure, path)
