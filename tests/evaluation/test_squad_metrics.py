import collections
import doctest
import json
import re
import string

import numpy as np
import pytest

from kerastune.evaluation import squad_metrics
from kerastune.evaluation.squad_metrics import answer_f1, exact_match, normalize_answer, squad_report

# Hugging Face transformers used to ship a copy of the official scripts (`transformers.data.metrics.squad_metrics`);
# transformers 5 no longer does, so the cross-checks below compare against a short re-statement of the official
# SQuAD v2.0 and v1.1 scripts instead, kept in their shape: questions keyed by id, a character-by-character
# punctuation filter, Python loops and `sorted()`.


def official_normalize(s):
    def remove_articles(text):
        return re.sub(re.compile(r"\b(a|an|the)\b", re.UNICODE), " ", text)

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return " ".join(remove_articles(remove_punc(s.lower())).split())


def official_v2_f1(a_gold, a_pred):
    gold_toks = official_normalize(a_gold).split() if a_gold else []
    pred_toks = official_normalize(a_pred).split() if a_pred else []
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def official_v2_report(predictions, gold_answers, na_probs=None):
    """evaluate-v2.0.py's main(), with the data and predictions keyed by question id."""
    preds = {f"q{i}": p for i, p in enumerate(predictions)}
    answers = {f"q{i}": g for i, g in enumerate(gold_answers)}
    qid_to_has_ans = {qid: bool(golds) for qid, golds in answers.items()}
    exact_raw, f1_raw = {}, {}
    for qid, golds in answers.items():
        golds = [a for a in golds if official_normalize(a)] or [""]
        exact_raw[qid] = max(int(official_normalize(a) == official_normalize(preds[qid])) for a in golds)
        f1_raw[qid] = max(official_v2_f1(a, preds[qid]) for a in golds)

    def make_eval_dict(qid_list):
        total = len(qid_list)
        return {
            "exact": 100.0 * sum(exact_raw[k] for k in qid_list) / total,
            "f1": 100.0 * sum(f1_raw[k] for k in qid_list) / total,
            "total": total,
        }

    out_eval = make_eval_dict(list(answers))
    has_ans_qids = [k for k, v in qid_to_has_ans.items() if v]
    no_ans_qids = [k for k, v in qid_to_has_ans.items() if not v]
    if has_ans_qids:
        out_eval.update({f"HasAns_{k}": v for k, v in make_eval_dict(has_ans_qids).items()})
    if no_ans_qids:
        out_eval.update({f"NoAns_{k}": v for k, v in make_eval_dict(no_ans_qids).items()})
    if na_probs is not None:
        na_probs = {f"q{i}": float(p) for i, p in enumerate(na_probs)}

        def find_best_thresh(scores):
            num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
            cur_score = best_score = num_no_ans
            best_thresh = 0.0
            for qid in sorted(na_probs, key=lambda k: na_probs[k]):
                if qid_to_has_ans[qid]:
                    diff = scores[qid]
                else:
                    diff = -1 if preds[qid] else 0
                cur_score += diff
                if cur_score > best_score:
                    best_score = cur_score
                    best_thresh = na_probs[qid]
            return 100.0 * best_score / len(scores), best_thresh

        out_eval["best_exact"], out_eval["best_exact_thresh"] = find_best_thresh(exact_raw)
        out_eval["best_f1"], out_eval["best_f1_thresh"] = find_best_thresh(f1_raw)
    return out_eval


def official_v1_report(predictions, gold_answers):
    """evaluate-v1.1.py's evaluate(): no unanswerable questions, no special case for empty answers."""
    def f1_score(prediction, ground_truth):
        prediction_tokens = official_normalize(prediction).split()
        ground_truth_tokens = official_normalize(ground_truth).split()
        common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
        num_same = sum(common.values())
        if num_same == 0:
            return 0
        precision = 1.0 * num_same / len(prediction_tokens)
        recall = 1.0 * num_same / len(ground_truth_tokens)
        return (2 * precision * recall) / (precision + recall)

    def exact_match_score(prediction, ground_truth):
        return official_normalize(prediction) == official_normalize(ground_truth)

    f1 = exact = total = 0
    for prediction, ground_truths in zip(predictions, gold_answers):
        total += 1
        exact += max(exact_match_score(prediction, gt) for gt in ground_truths)
        f1 += max(f1_score(prediction, gt) for gt in ground_truths)
    return {"exact_match": 100.0 * exact / total, "f1": 100.0 * f1 / total}


WORDS = ["eiffel", "Tower", "tower!", "paris", "1990", "in", "U.S.", "don't", "new", "york", "Theatre", "anna",
         "a-team", "Year", "(1990)", "café", "x"]
ARTICLES = ["a", "an", "the", "The", "AN", "A"]
NOTHING = ["the", "!", "...", " ", "A.", "an the"]  # raw text that is not "" but normalizes to ""


def random_questions(seed, num_questions=300, quirky=True):
    """Random predictions, gold answers (a third unanswerable) and no-answer scores, with ties.

    With `quirky`, some predictions are text that normalizes to "" (e.g. "the"), and some answerable questions
    also carry such a gold answer, which SQuAD v2.0 drops.
    """
    rng = np.random.default_rng(seed)

    def phrase():
        """1 to 4 words, at least one of them not an article, sometimes with punctuation after."""
        vocabulary = ARTICLES + WORDS if rng.random() < 0.3 else WORDS
        words = [str(rng.choice(vocabulary)) for _ in range(rng.integers(0, 4))]
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(WORDS)))
        return " ".join(words) + str(rng.choice(["", "", ".", "?", " ,"]))

    predictions, gold_answers = [], []
    for _ in range(num_questions):
        golds = [] if rng.random() < 1 / 3 else [phrase() for _ in range(rng.integers(1, 4))]
        if golds and quirky and rng.random() < 0.1:
            golds.insert(int(rng.integers(0, len(golds) + 1)), str(rng.choice(NOTHING)))
        kind = rng.random()
        if kind < 0.25:
            prediction = ""
        elif kind < 0.35 and quirky:
            prediction = str(rng.choice(NOTHING))
        elif kind < 0.65 and golds:
            words = str(rng.choice(golds)).split()
            if rng.random() < 0.5:  # drop or repeat a word, change case or add an article
                words = words[1:] + words[:1] * int(rng.integers(0, 3))
            words = ["the"] * int(rng.random() < 0.3) + words
            prediction = " ".join(word.upper() if rng.random() < 0.2 else word for word in words)
        else:
            prediction = phrase()
        predictions.append(prediction)
        gold_answers.append(golds)
    # Higher for unanswerable questions, as from a model that learned something; rounding makes ties.
    scores = np.round(rng.normal(size=num_questions) + 1.5 * np.array([not golds for golds in gold_answers]), 1)
    return predictions, gold_answers, scores


def renamed(official):
    names = {"exact": "exact_match", "thresh": "threshold", "HasAns": "has_answer", "NoAns": "no_answer"}
    return {"_".join(names.get(part, part) for part in key.split("_")): value for key, value in official.items()}


def assert_reports_equal(report, expected):
    assert list(report) == list(expected)
    for name, value in expected.items():
        if name.endswith(("total", "threshold")):
            assert report[name] == value and type(report[name]) is type(value), name
        else:
            assert report[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name


def test_normalize_answer_follows_the_official_steps():
    assert normalize_answer("The Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("  A  cat,\tan apple.\n") == "cat apple"
    assert normalize_answer("THE END") == "end"  # lower-cased before the articles go
    assert normalize_answer("Theatre and anna") == "theatre and anna"  # articles only as whole words
    assert normalize_answer("a-team") == "ateam"  # punctuation goes first, so "a" is no longer a word
    assert normalize_answer("U.S. don't (1990)") == "us dont 1990"
    assert normalize_answer("the, a; an.") == ""
    assert normalize_answer("") == ""


def test_exact_match_by_hand():
    assert exact_match("The Eiffel Tower!", ["eiffel tower"]) == 1.0
    assert exact_match("Eiffel", ["eiffel tower"]) == 0.0
    assert exact_match("in 1990", ["1990"]) == 0.0
    assert exact_match("1990", ["in 1990", "(1990)"]) == 1.0  # the best gold answer counts
    assert type(exact_match("x", ["x"])) is float


def test_answer_f1_by_hand():
    # "in 1990" vs "1990": 1 common word, precision 1/2, recall 1/1 -> 2 * (1/2 * 1) / (1/2 + 1) = 2/3.
    assert answer_f1("in 1990", ["1990"]) == pytest.approx(2 / 3, rel=1e-15)
    # Against "the year 1990" -> "year 1990": precision 1/2, recall 1/2 -> 1/2; the max over golds is 2/3.
    assert answer_f1("in 1990", ["the year 1990"]) == pytest.approx(1 / 2, rel=1e-15)
    assert answer_f1("in 1990", ["the year 1990", "1990"]) == pytest.approx(2 / 3, rel=1e-15)
    # Words count with multiplicity: "the cat the cat cat" -> [cat, cat, cat] shares one "cat" with "cat dog":
    # precision 1/3, recall 1/2 -> 2 * (1/6) / (5/6) = 0.4 (a set overlap would give precision 1 and F1 2/3).
    assert answer_f1("the cat the cat cat", ["cat dog"]) == pytest.approx(0.4, rel=1e-15)
    # "new york new york" vs "New York": 2 common, precision 2/4, recall 2/2 -> 2/3.
    assert answer_f1("new york new york", ["New York"]) == pytest.approx(2 / 3, rel=1e-15)
    assert answer_f1("Paris", ["London"]) == 0.0
    assert answer_f1("", ["London"]) == 0.0
    assert answer_f1("The London.", ["london"]) == 1.0


def test_unanswerable_questions_score_as_squad_v2():
    # No gold answer (or none with words after normalization): the only right answer is "".
    for golds in ([], [""], ["the"], ["", "A."]):
        assert exact_match("", golds) == answer_f1("", golds) == 1.0
        assert exact_match("The.", golds) == answer_f1("The.", golds) == 1.0  # normalizes to ""
        assert exact_match("Paris", golds) == answer_f1("Paris", golds) == 0.0
    # Gold answers without words are dropped when others remain, so "" is then wrong (v1.1 would score it 1).
    assert exact_match("", ["The", "Paris"]) == answer_f1("", ["The", "Paris"]) == 0.0
    assert exact_match("paris", ["The", "Paris"]) == 1.0


def test_squad_report_by_hand():
    predictions = ["Paris", "1990", "London", ""]
    gold_answers = [["Paris"], ["in 1990"], [], []]
    scores = [-2.0, 0.5, 1.0, -1.0]
    # Per question: exact 1, 0, 0, 1; F1 1, 2/3, 0, 1.
    # Threshold search, from 2 (both unanswerable right), sorted by score: q0 (-2.0), q3 (-1.0), q1 (0.5), q2 (1.0).
    #   exact: +1 -> 3 (best, threshold -2.0), +0 ("" predicted), +0, -1 ("London" on an unanswerable one).
    #   F1:    +1 -> 3 (-2.0), +0, +2/3 -> 11/3 (best, threshold 0.5), -1.
    report = squad_report(predictions, gold_answers, no_answer_scores=scores)
    assert report == {
        "exact_match": 50.0,
        "f1": pytest.approx(100 * (1 + 2 / 3 + 0 + 1) / 4),
        "total": 4,
        "has_answer_exact_match": 50.0,
        "has_answer_f1": pytest.approx(100 * (1 + 2 / 3) / 2),
        "has_answer_total": 2,
        "no_answer_exact_match": 50.0,
        "no_answer_f1": 50.0,
        "no_answer_total": 2,
        "best_exact_match": 75.0,
        "best_exact_match_threshold": -2.0,
        "best_f1": pytest.approx(100 * (11 / 3) / 4),
        "best_f1_threshold": 0.5,
    }
    assert json.loads(json.dumps(report)) == report
    assert all(type(value) in (float, int) for value in report.values())
    # Predicting "" wherever the score is above a threshold gives the best numbers.
    for name in ("exact_match", "f1"):
        threshold = report[f"best_{name}_threshold"]
        applied = ["" if score > threshold else p for p, score in zip(predictions, scores)]
        assert squad_report(applied, gold_answers)[name] == pytest.approx(report[f"best_{name}"])
    without_scores = squad_report(predictions, gold_answers)
    assert without_scores == {k: v for k, v in report.items() if not k.startswith("best_")}


def test_group_keys_only_when_answerable_and_unanswerable_questions_mix():
    answerable = squad_report(["Paris", "x"], [["Paris"], ["London", "the city"]])
    assert answerable == {"exact_match": 50.0, "f1": 50.0, "total": 2}
    unanswerable = squad_report(["", "x"], [[], []])
    assert unanswerable == {"exact_match": 50.0, "f1": 50.0, "total": 2}
    # A question whose only gold answer has no words after normalization is unanswerable here. (The official
    # script would put it under HasAns, since its answer list is not empty, while scoring it as unanswerable.)
    report = squad_report(["", "Paris"], [["The"], ["Paris"]])
    assert report["no_answer_total"] == 1 and report["no_answer_exact_match"] == 100.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_questions_match_the_official_v2_script(seed):
    predictions, gold_answers, scores = random_questions(seed)
    expected = official_v2_report(predictions, gold_answers, scores)
    assert_reports_equal(squad_report(predictions, gold_answers, scores), renamed(expected))
    assert_reports_equal(
        squad_report(predictions, gold_answers),
        renamed({k: v for k, v in expected.items() if not k.startswith("best_")}),
    )
    # The data exercise what they should: both kinds of question, quirky predictions, ties of scores, and a
    # threshold better than "no answer everywhere".
    assert 50 < expected["NoAns_total"] < 150
    assert sum(p in NOTHING for p in predictions) > 10
    assert len(set(scores.tolist())) < len(scores) / 4
    assert expected["best_f1"] > 100 * expected["NoAns_total"] / expected["total"]
    for prediction, golds in zip(predictions, gold_answers):
        usable = [a for a in golds if official_normalize(a)] or [""]
        assert exact_match(prediction, golds) == max(
            float(official_normalize(a) == official_normalize(prediction)) for a in usable
        )
        assert answer_f1(prediction, golds) == max(official_v2_f1(a, prediction) for a in usable)


@pytest.mark.parametrize("seed", [3, 4])
def test_answerable_questions_match_the_official_v1_script(seed):
    predictions, gold_answers, _ = random_questions(seed, quirky=False)
    keep = [i for i, golds in enumerate(gold_answers) if golds]
    predictions = [predictions[i] for i in keep]
    gold_answers = [gold_answers[i] for i in keep]
    expected = official_v1_report(predictions, gold_answers)
    report = squad_report(predictions, gold_answers)
    assert list(report) == ["exact_match", "f1", "total"]
    assert report["exact_match"] == pytest.approx(expected["exact_match"], rel=1e-12)
    assert report["f1"] == pytest.approx(expected["f1"], rel=1e-12)
    assert report["total"] == len(keep) > 150
    assert 0 < report["exact_match"] < report["f1"] < 100


@pytest.mark.parametrize("seed", [5, 6])
def test_best_scores_are_the_best_any_threshold_reaches(seed):
    predictions, gold_answers, _ = random_questions(seed, num_questions=80, quirky=False)
    predictions = [p if normalize_answer(p) else "" for p in predictions]
    scores = np.random.default_rng(seed).permutation(len(predictions)) / 10 - 3.0  # distinct, no ties
    report = squad_report(predictions, gold_answers, scores)
    for name in ("exact_match", "f1"):
        reached = []
        for threshold in [-np.inf, *scores]:
            applied = ["" if score > threshold else p for p, score in zip(predictions, scores)]
            reached.append(squad_report(applied, gold_answers)[name])
        assert report[f"best_{name}"] == pytest.approx(max(reached), rel=1e-12)
        # Several thresholds can tie for the best (sums rounded differently pick one); the one reported reaches it.
        threshold = report[f"best_{name}_threshold"]
        assert threshold in scores
        applied = ["" if score > threshold else p for p, score in zip(predictions, scores)]
        assert squad_report(applied, gold_answers)[name] == pytest.approx(max(reached), rel=1e-12)
        assert max(reached) > reached[0]  # better than "no answer everywhere", so the threshold is a score


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: squad_report(["a", "b"], [["a"]] * 3), "one entry per question.*len\\(predictions\\)=2, len\\(gold"),
        (lambda: squad_report([], []), "at least one question.*len\\(predictions\\)=0"),
        (lambda: squad_report("Paris", [["Paris"]]), "predictions must be a list.*predictions='Paris'"),
        (lambda: squad_report(["a", "b"], [["a"], "b"]), "gold_answers\\[1\\] must be a list of str.*'b'"),
        (lambda: squad_report([None, "b"], [["a"], ["b"]]), "predictions\\[0\\] must be a str.*None"),
        (lambda: squad_report(["a"], [["a", 3]]), "gold_answers\\[0\\]\\[1\\] must be a str.*=3 of type int"),
        (lambda: squad_report(["a"], 5), "gold_answers must be a list.*gold_answers=5"),
        (lambda: squad_report(["a", "b"], [["a"], []], [1.0]), "shape \\(2,\\).*no_answer_scores.shape=\\(1,\\)"),
        (lambda: squad_report(["a", "b"], [["a"], []], [0.0, np.nan]), "no_answer_scores\\[1\\]=nan"),
        (lambda: squad_report(["a"], [["a"]], ["high"]), "no_answer_scores must be numbers"),
        (lambda: exact_match("Paris", "Paris"), "gold_answers must be a list.*wrap.*gold_answers='Paris'"),
        (lambda: answer_f1(None, []), "prediction must be a str.*prediction=None"),
        (lambda: normalize_answer(3), "text=3 of type int"),
    ],
)
def test_invalid_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_docstring_examples_run():
    failed, attempted = doctest.testmod(squad_metrics)
    assert failed == 0 and attempted >= 9
