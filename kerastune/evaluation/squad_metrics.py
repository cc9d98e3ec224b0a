"""Exact match and F1 of extractive question answering, scored as the official SQuAD v1.1 and v2.0 scripts do.

The definitions are those of the official evaluation scripts (https://rajpurkar.github.io/SQuAD-explorer/) for
Rajpurkar et al., "SQuAD: 100,000+ Questions for Machine Comprehension of Text" (2016, v1.1) and "Know What You
Don't Know: Unanswerable Questions for SQuAD" (2018, v2.0), written here from their definitions:

- Answers are compared after `normalize_answer`: lower case, no punctuation, no articles, single spaces.
- Exact match is 1 when the normalized prediction equals a normalized gold answer; F1 is the harmonic mean of
  the precision and recall of the prediction's words against a gold answer's words (counted with
  multiplicity). Both take the best gold answer.
- v2.0: gold answers that normalize to "" are dropped; a question left with none is unanswerable and its only
  gold answer is "", so the empty prediction scores 1 and any other 0.

On v1.1 data (every question has a gold answer with words) the v2.0 rules give the v1.1 numbers, so one set of
functions serves both.
"""

import collections
import re
import string

import numpy as np

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text):
    """Returns `text` as SQuAD compares it: lower case, no punctuation, no articles, whitespace collapsed.

    The steps run in the official order: lower-case; drop every character of `string.punctuation`; replace the
    whole words "a", "an" and "the" (regex `\\b(a|an|the)\\b`) by a space; join the remaining words with single
    spaces.

    Args:
        text: str.

    Returns:
        str, possibly empty.

    Example:

    >>> normalize_answer("The Eiffel   Tower!")
    'eiffel tower'
    >>> normalize_answer("An A-Team theatre")
    'ateam theatre'
    """
    if not isinstance(text, str):
        raise ValueError(f"normalize_answer expects a str. Received: text={text!r} of type {type(text).__name__}")
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION))
    return " ".join(text.split())


def exact_match(prediction, gold_answers):
    """Returns 1.0 when `prediction` equals one of `gold_answers` after `normalize_answer`, else 0.0.

    Gold answers that normalize to "" are dropped; when none is left (`[]`, `[""]`) the question is unanswerable
    and only a prediction that normalizes to "" scores 1.0 (SQuAD v2.0).

    Args:
        prediction: str, the predicted answer; "" means "no answer".
        gold_answers: list of str, the reference answers; `[]` for an unanswerable question.

    Returns:
        float, 0.0 or 1.0.

    Example:

    >>> exact_match("The Eiffel Tower!", ["eiffel tower", "Paris"])
    1.0
    >>> exact_match("", []), exact_match("Paris", [])
    (1.0, 0.0)
    """
    prediction = normalize_answer(_check_text(prediction, "prediction"))
    return _scores(prediction, _normalized_golds(gold_answers, "gold_answers"))[0]


def answer_f1(prediction, gold_answers):
    """Returns the word-level F1 of `prediction` against its best-matching gold answer, in [0, 1].

    Both sides are normalized with `normalize_answer` and split on whitespace. With `common` the number of words
    they share, counted with multiplicity (`collections.Counter` intersection), `precision = common / len(pred)`,
    `recall = common / len(gold)` and `F1 = 2 * precision * recall / (precision + recall)` (0 when nothing is
    shared). When either side has no words, F1 is 1.0 if both have none and 0.0 otherwise (SQuAD v2.0).
    Gold answers are handled as in `exact_match`.

    Args:
        prediction: str, the predicted answer; "" means "no answer".
        gold_answers: list of str, the reference answers; `[]` for an unanswerable question.

    Returns:
        float in [0, 1].

    Example:

    >>> round(answer_f1("in 1990", ["1990"]), 4)
    0.6667
    >>> answer_f1("in 1990", ["the year 1990", "in 1990."]), answer_f1("", [])
    (1.0, 1.0)
    """
    prediction = normalize_answer(_check_text(prediction, "prediction"))
    return _scores(prediction, _normalized_golds(gold_answers, "gold_answers"))[1]


def squad_report(predictions, gold_answers, no_answer_scores=None):
    """Returns a JSON-ready dict of SQuAD exact match and F1 over a set of questions, in percent (0 to 100).

    The numbers are those of the official SQuAD v2.0 script (`evaluate-v2.0.py`) run without a no-answer
    probability file (with one it also scores every question whose probability passes `--na-prob-thresh`, 1.0,
    as "no answer"; here `predictions` are final), which on answerable-only data are those of v1.1: scores are
    averaged over questions and multiplied by 100. A question is
    unanswerable when none of its gold answers has words after `normalize_answer` (see `exact_match`); the
    official script decides by whether the answer list is empty, which differs only for gold answers such as
    "The" that normalize to "" (scored as unanswerable by both, grouped as unanswerable only here).

    With `no_answer_scores`, the official threshold search also runs (`find_best_thresh`): the model answers a
    question only when its score is at most a threshold and predicts "" otherwise, and the search reports the
    best exact match and F1 any threshold reaches. It sorts the questions by score (ties keep their order),
    starts from "no answer everywhere" (every unanswerable question right) and adds the questions one by one:
    an answerable one adds its score, an unanswerable one whose prediction is not "" subtracts 1, and one whose
    prediction is "" adds nothing. The threshold is the score of the question at which the running total was
    first at its maximum; when nothing beats "no answer everywhere" it is 0.0, as in the official script.
    The search uses the raw prediction strings, so an unanswerable question predicted as e.g. "the" counts as
    answered there although it scores 1 (it normalizes to "").

    Args:
        predictions: list of str, one predicted answer per question; "" means "no answer".
        gold_answers: list of lists of str, the reference answers of each question; `[]` when unanswerable.
        no_answer_scores: optional list or 1-D array of floats, one per question: how strongly the model
            believes the question has no answer (e.g. the null span's score minus the best span's score, or a
            no-answer probability). Higher means "no answer" is more likely.

    Returns:
        dict of plain floats and ints: `exact_match`, `f1` (percent) and `total` (number of questions).
        When some questions are answerable and some are not, also `has_answer_exact_match`, `has_answer_f1`,
        `has_answer_total`, `no_answer_exact_match`, `no_answer_f1` and `no_answer_total` (the same metrics over
        each group; the official script's `HasAns_*` and `NoAns_*`, which it also gives when only one kind of
        question is present). With `no_answer_scores`, also
        `best_exact_match`, `best_exact_match_threshold`, `best_f1` and `best_f1_threshold` (the official
        `best_exact`, `best_exact_thresh`, `best_f1` and `best_f1_thresh`).

    Example:

    >>> report = squad_report(["Paris", "1990", "London", ""], [["Paris"], ["in 1990"], [], []], [-2, 0.5, 1, -1])
    >>> report["exact_match"], round(report["f1"], 2), report["no_answer_exact_match"]
    (50.0, 66.67, 50.0)
    >>> round(report["best_f1"], 2), report["best_f1_threshold"]
    (91.67, 0.5)
    """
    predictions = _check_sequence(predictions, "predictions", "one predicted answer (str) per question")
    gold_answers = _check_sequence(gold_answers, "gold_answers", "one list of reference answers per question")
    if len(predictions) != len(gold_answers):
        raise ValueError(
            "predictions and gold_answers must hold one entry per question, in the same order. "
            f"Received: len(predictions)={len(predictions)}, len(gold_answers)={len(gold_answers)}"
        )
    if not predictions:
        raise ValueError(
            "squad_report needs at least one question to average over. "
            "Received: len(predictions)=0, len(gold_answers)=0"
        )
    exact, f1, has_answer = [], [], []
    for i, (prediction, golds) in enumerate(zip(predictions, gold_answers)):
        prediction = normalize_answer(_check_text(prediction, f"predictions[{i}]"))
        golds = _normalized_golds(golds, f"gold_answers[{i}]")
        question_exact, question_f1 = _scores(prediction, golds)
        exact.append(question_exact)
        f1.append(question_f1)
        has_answer.append(golds != [""])

    report = _averages(exact, f1)
    num_answerable = sum(has_answer)
    if 0 < num_answerable < len(has_answer):
        for prefix, keep in (("has_answer_", True), ("no_answer_", False)):
            group = [i for i, flag in enumerate(has_answer) if flag == keep]
            averages = _averages([exact[i] for i in group], [f1[i] for i in group])
            report.update({prefix + name: value for name, value in averages.items()})
    if no_answer_scores is not None:
        scores = _check_scores(no_answer_scores, len(predictions))
        answered = np.array([prediction != "" for prediction in predictions])
        has_answer = np.array(has_answer)
        for name, values in (("exact_match", exact), ("f1", f1)):
            best, threshold = _best_threshold(np.array(values), scores, has_answer, answered)
            report[f"best_{name}"] = best
            report[f"best_{name}_threshold"] = threshold
    return report


def _scores(prediction, golds):
    """Returns (exact match, F1) of a normalized prediction against normalized gold answers, best gold each."""
    exact = float(any(prediction == gold for gold in golds))
    tokens = prediction.split()
    return exact, max(_token_f1(tokens, gold.split()) for gold in golds)


def _token_f1(prediction_tokens, gold_tokens):
    if not prediction_tokens or not gold_tokens:
        return float(prediction_tokens == gold_tokens)
    common = collections.Counter(prediction_tokens) & collections.Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def _averages(exact, f1):
    """Percent means as the official `make_eval_dict` computes them (a sequential sum, then * 100 / total)."""
    total = len(exact)
    return {"exact_match": 100.0 * sum(exact) / total, "f1": 100.0 * sum(f1) / total, "total": total}


def _best_threshold(values, scores, has_answer, answered):
    """The official `find_best_thresh`, as a cumulative sum; returns (best percent, threshold).

    Shapes: `values`, `scores`, `has_answer`, `answered` are all (num_questions,).
    """
    num_no_answer = int(np.sum(~has_answer))
    order = np.argsort(scores, kind="stable")  # ascending, ties in question order like Python's sorted()
    # What answering each question adds to "no answer everywhere": an answerable question gains its score; an
    # unanswerable one loses its point unless its prediction is "".
    change = np.where(has_answer, values, np.where(answered, -1.0, 0.0))[order]
    # Start the running total at num_no_answer and add one question at a time (cumsum is sequential), so the
    # totals round exactly as the official loop's do.
    running = np.cumsum(np.concatenate([[float(num_no_answer)], change]))[1:]  # (num_questions,)
    best = int(np.argmax(running))  # the first position of the maximum
    if running[best] > num_no_answer:
        return 100.0 * float(running[best]) / len(values), float(scores[order[best]])
    return 100.0 * num_no_answer / len(values), 0.0


def _check_text(text, name):
    if not isinstance(text, str):
        raise ValueError(
            f"{name} must be a str (use \"\" for \"no answer\"). Received: {name}={text!r} of type "
            f"{type(text).__name__}"
        )
    return text


def _normalized_golds(gold_answers, name):
    """Returns the gold answers that have words after normalization, or [""] when none does (SQuAD v2.0)."""
    if isinstance(gold_answers, (str, bytes)) or not _is_iterable(gold_answers):
        raise ValueError(
            f"{name} must be a list of str reference answers ([] for an unanswerable question); wrap a single "
            f"answer in a list. Received: {name}={gold_answers!r}"
        )
    golds = [normalize_answer(_check_text(gold, f"{name}[{j}]")) for j, gold in enumerate(gold_answers)]
    return [gold for gold in golds if gold] or [""]


def _check_sequence(values, name, expected):
    if isinstance(values, (str, bytes)) or not _is_iterable(values):
        raise ValueError(f"{name} must be a list with {expected}. Received: {name}={values!r}")
    return list(values)


def _is_iterable(value):
    try:
        iter(value)
    except TypeError:
        return False
    return True


def _check_scores(no_answer_scores, num_questions):
    """Returns `no_answer_scores` as a finite float64 array of shape (num_questions,)."""
    try:
        scores = np.asarray(no_answer_scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"no_answer_scores must be numbers, one per question; {error}. "
            f"Received: no_answer_scores={no_answer_scores!r}"
        ) from None
    if scores.shape != (num_questions,):
        raise ValueError(
            f"no_answer_scores must hold one number per question, shape ({num_questions},). "
            f"Received: no_answer_scores.shape={scores.shape}"
        )
    if not np.isfinite(scores).all():
        index = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise ValueError(
            "no_answer_scores must be finite, so the questions can be sorted by them; fix or replace the "
            f"nan/inf entries. Received: no_answer_scores[{index}]={scores[index]}"
        )
    return scores

