import pytest

from kerastune.evaluation.sequence_labelling_report import sequence_labelling_report


def test_entity_scores_match_a_hand_count():
    true = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "I-ORG", "I-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG", "O"], ["B-ORG", "I-ORG", "O", "O"]]
    # true entities: PER(0-1), LOC(3), ORG(0-2) = 3; predicted: PER(0-1), ORG(3), ORG(0-1) = 3; correct: PER only
    report = sequence_labelling_report(true, pred)
    assert report["precision"] == pytest.approx(1 / 3) and report["recall"] == pytest.approx(1 / 3)
    assert report["f1"] == pytest.approx(1 / 3)
    assert report["accuracy"] == pytest.approx(7 / 9)
    assert report["per_type"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert report["per_type"]["ORG"]["precision"] == 0.0 and report["per_type"]["ORG"]["support"] == 1
    assert (report["num_sentences"], report["num_words"]) == (2, 9)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="sentence 0 has 2 true tags but 1 predicted"):
        sequence_labelling_report([["O", "O"]], [["O"]])
