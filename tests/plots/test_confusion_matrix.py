"""`plot_confusion_matrix`: scikit-learn's counts in a PNG; bad labels are clear errors."""

import numpy as np
import pytest

from kerastune.plots import draw_run_pictures, plot_confusion_counts, plot_confusion_matrix
from tests.plots.png import assert_png

LABELS = [0, 0, 1, 1, 2, 2, 2]
PREDICTIONS = [0, 1, 1, 1, 2, 0, 2]
NAMES = ["cat", "dog", "bird"]


def test_writes_a_png_whose_cells_follow_the_counts(tmp_path):
    path = plot_confusion_matrix(LABELS, PREDICTIONS, NAMES, tmp_path / "cm.png")
    pixels = assert_png(path, width=390, height=270)  # (1.2 + 0.5 * 3 + 1.2) x (1.2 + 0.5 * 3) inches
    assert (pixels.min(axis=-1) < 200).mean() > 0.05  # coloured cells, not only white and text


def test_a_perfect_and_a_wrong_classifier_give_different_pictures(tmp_path):
    right = assert_png(plot_confusion_matrix(LABELS, LABELS, NAMES, tmp_path / "a.png"), 390, 270)
    wrong = assert_png(plot_confusion_matrix(LABELS, [(v + 1) % 3 for v in LABELS], NAMES, tmp_path / "b.png"), 390, 270)
    assert np.abs(right - wrong).mean() > 1.0


@pytest.mark.parametrize(
    "labels, predictions, message",
    [
        ([0, 1, 2], [0, 1], "Received: len\\(labels\\)=3, len\\(predictions\\)=2"),
        ([0, 1, 3], [0, 1, 2], "ids in \\[0, 3\\).*Received: labels containing 3"),
        ([0, 1, 2], [0, -1, 2], "Received: predictions containing -1"),
        (["cat", "dog"], ["cat", "dog"], "must be int label ids"),
        ([], [], "nothing to plot"),
    ],
)
def test_bad_labels_are_clear_errors(labels, predictions, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        plot_confusion_matrix(labels, predictions, NAMES, tmp_path / "cm.png")
    assert not (tmp_path / "cm.png").exists()


def test_a_reports_counts_draw_the_same_picture_and_bad_counts_are_clear_errors(tmp_path):
    counts = [[1, 1, 0], [0, 2, 0], [1, 0, 2]]  # LABELS x PREDICTIONS counted by hand
    from_labels = plot_confusion_matrix(LABELS, PREDICTIONS, NAMES, tmp_path / "a.png")
    from_counts = plot_confusion_counts(counts, NAMES, tmp_path / "b.png")
    np.testing.assert_array_equal(assert_png(from_counts, 390, 270), assert_png(from_labels, 390, 270))
    for bad, message in (([[1, 2], [3, 4]], "one row and one column per label name"),
                         ([[0] * 3] * 3, "not all zero"), ([[1.5, 0, 0], [0, 1, 0], [0, 0, 1]], "int counts")):
        with pytest.raises(ValueError, match=message):
            plot_confusion_counts(bad, NAMES, tmp_path / "c.png")
    report = {"confusion_matrix": counts, "label_names": NAMES}
    paths = draw_run_pictures({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, report, str(tmp_path / "run"),
                              copy_to=str(tmp_path))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["training_curves.png", "confusion_matrix.png"]
    assert (tmp_path / "confusion_matrix.png").read_bytes() == (tmp_path / "run" / "confusion_matrix.png").read_bytes()
    assert draw_run_pictures({"loss": []}, None, str(tmp_path / "none")) == []  # nothing logged: nothing drawn
