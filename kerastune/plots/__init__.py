"""Pictures of training and evaluation, as PNG files (matplotlib's Agg canvas, no display needed).

- `plot_training_curves(history, path)`: loss and each metric per epoch, train and validation.
- `plot_confusion_matrix(labels, predictions, label_names, path)`: counts, coloured by row share.
- `plot_confusion_counts(counts, label_names, path)`: the same picture from a report's matrix.
- `plot_entity_f1(report, path)`: per-entity-type F1 bars from `sequence_labelling_report`.
- `draw_run_pictures(history, report, folder)`: every picture a run's results call for.
- `attention_map(model, tokenizer, sentence, layer, head, path=None)`: one head's attention weights.

matplotlib is imported when a picture is drawn, not when this package is.
"""

from kerastune.plots.attention_map import attention_map
from kerastune.plots.confusion_matrix import plot_confusion_counts, plot_confusion_matrix
from kerastune.plots.entity_f1 import plot_entity_f1
from kerastune.plots.run_pictures import draw_run_pictures
from kerastune.plots.training_curves import plot_training_curves

__all__ = ["attention_map", "draw_run_pictures", "plot_confusion_counts", "plot_confusion_matrix", "plot_entity_f1",
           "plot_training_curves"]
