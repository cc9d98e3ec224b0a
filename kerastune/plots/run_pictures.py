"""The pictures of one run, drawn into its folder: what `kerastune run` leaves beside the TensorBoard logs."""

import os
import shutil

from kerastune.plots.confusion_matrix import plot_confusion_counts
from kerastune.plots.entity_f1 import plot_entity_f1
from kerastune.plots.training_curves import plot_training_curves


def draw_run_pictures(history, report, folder, copy_to=None):
    """Writes the PNGs a run's results call for into `folder`; returns their paths.

    - `training_curves.png`: loss and metrics per epoch, from the `History` that `fit` returned
      (skipped when it logged nothing, e.g. zero epochs).
    - `confusion_matrix.png`: a classifier's `classification_report` (its `confusion_matrix`).
    - `entity_f1.png`: a tagger's `sequence_labelling_report` (its `per_type`).

    Args:
        history: a `keras.callbacks.History`, its `.history` dict, or None.
        report: the run's evaluation report (dict) or None.
        folder: str, where the PNGs go (made as needed), e.g. `logging_dir/name/`.
        copy_to: str or None: a folder that also gets a copy of each (e.g. the export).

    Example:

    >>> draw_run_pictures({"loss": [0.9, 0.5]}, None, "/tmp/run")
    ['/tmp/run/training_curves.png']
    """
    paths = []
    logs = getattr(history, "history", history)
    if logs and any(len(values) for values in logs.values()):
        paths.append(plot_training_curves(logs, os.path.join(folder, "training_curves.png")))
    report = report or {}
    if report.get("confusion_matrix") and report.get("label_names"):
        paths.append(plot_confusion_counts(report["confusion_matrix"], report["label_names"],
                                           os.path.join(folder, "confusion_matrix.png")))
    if report.get("per_type"):
        paths.append(plot_entity_f1(report, os.path.join(folder, "entity_f1.png")))
    if copy_to:
        for path in paths:
            shutil.copy(path, os.path.join(copy_to, os.path.basename(path)))
    return paths
