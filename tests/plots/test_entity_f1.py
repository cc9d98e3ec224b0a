"""`plot_entity_f1`: bars from a real `sequence_labelling_report`; a dict without `per_type` is an error."""

import pytest

from kerastune.evaluation.sequence_labelling_report import sequence_labelling_report
from kerastune.plots import plot_entity_f1
from tests.plots.png import assert_png


def test_writes_a_png_with_a_bar_per_entity_type(tmp_path):
    true = [["B-PER", "I-PER", "O", "B-LOC", "B-ORG"], ["B-MISC", "O", "B-LOC"]]
    predicted = [["B-PER", "I-PER", "O", "O", "B-ORG"], ["B-MISC", "O", "B-PER"]]
    report = sequence_labelling_report(true, predicted)
    assert sorted(report["per_type"]) == ["LOC", "MISC", "ORG", "PER"]
    path = plot_entity_f1(report, tmp_path / "f1.png")
    assert_png(path, width=int(round((1.6 + 0.8 * 4) * 100)), height=350)


@pytest.mark.parametrize(
    "report, message",
    [({"f1": 0.5}, "Received: report="), ({"per_type": {}}, "at least one entity type"),
     ({"per_type": {"PER": {"recall": 1.0}}}, "numeric 'f1'")],
)
def test_a_report_without_per_type_scores_is_a_clear_error(report, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        plot_entity_f1(report, tmp_path / "f1.png")
