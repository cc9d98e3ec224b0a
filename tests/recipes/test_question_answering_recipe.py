import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the WordPiece ops of the serving graph)

from kerastune.data.question_answers import (QuestionAnswers, QuestionAnswersError, read_question_answers,
                                             write_squad_json)
from kerastune.recipes.question_answering import question_answering

NAMES = ["ada", "alan", "grace", "edsger", "barbara", "donald"]
PLACES = ["london", "paris", "rome", "oslo", "lima", "cairo"]
FILLER = ["the", "a", "of", "met", "said", "went", "to", "with", "and", "today"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "where", "?", ",", "."] + FILLER + NAMES + PLACES


def sentence(rng, name, place):
    """Filler words with the name and the place (when given) at random positions, capitalised as in prose."""
    words = list(rng.choice(FILLER, rng.integers(4, 9)))
    for word in (name, place):
        if word is not None:
            words.insert(rng.integers(0, len(words) + 1), word.capitalize())
    return " ".join(words) + " ."


def questions(n, seed, unanswerable=True):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        name = rng.choice(NAMES) if not unanswerable or rng.random() < 0.7 else None
        place = rng.choice(PLACES) if not unanswerable or rng.random() < 0.7 else None
        context = sentence(rng, name, place)
        for question, answer in (("who ?", name), ("where ?", place)):
            text = [answer.capitalize()] if answer is not None else []
            rows.append({"id": f"{i}-{question[:-2]}", "question": question, "context": context,
                         "answers": {"text": text, "answer_start": [context.index(t) for t in text]}})
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    directory = tmp_path_factory.mktemp("questions")
    (directory / "vocab.txt").write_text("\n".join(VOCAB))
    settings = dict(backbone="kerastune_bert", vocabulary=str(directory / "vocab.txt"), num_layers=2, num_heads=2,
                    hidden_dim=32, intermediate_dim=64, max_sequence_length=24, batch_size=16, learning_rate=3e-3,
                    dropout=0.0, ema_momentum=0.0, seed=0, stride=8, max_question_length=4)
    return directory, settings


@pytest.fixture(scope="module")
def trained(task):
    directory, settings = task
    run = question_answering(train=write_jsonl(directory / "train.jsonl", questions(320, 0)),
                             validation=write_jsonl(directory / "dev.jsonl", questions(60, 1)), epochs=6, **settings)
    before = run.evaluate()
    history = run.fit(verbose=0)
    return run, before, history


def test_it_learns_to_answer_and_to_abstain(trained):
    run, before, history = trained
    assert run.allow_no_answer  # the training file has unanswerable questions
    assert history.history["loss"][-1] < history.history["loss"][0] / 2
    after = run.evaluate()
    assert after["has_answer_f1"] > 80 and after["no_answer_f1"] > 80, after
    assert after["f1"] > before["f1"] + 20
    assert {"best_f1", "best_f1_threshold", "has_answer_total", "no_answer_total"} <= set(after)
    assert after["has_answer_total"] + after["no_answer_total"] == len(run.validation_examples) == 120


def test_answers_are_the_contexts_own_text_at_their_character_offsets(trained):
    run, _, _ = trained
    contexts = ["Ada met Grace in Oslo .", "Ünïcode: Ada went to Rome ."]
    found = run.answer(["who ?", "where ?"], contexts)
    for i, context in enumerate(contexts):
        start, end = found["answer_start"][i], found["answer_end"][i]
        if found["answer"][i]:
            assert context[start:end] == found["answer"][i]
    assert found["answer"][1] == "Rome"  # offsets in characters, not bytes: "Ünïcode" has 2 two-byte characters
    assert found["windows"].tolist() == [1, 1]


def test_the_no_answer_threshold_can_be_moved_after_training(trained):
    run, _, _ = trained
    examples = run.validation_examples
    before = run.answer(examples.questions, examples.contexts)
    try:
        run.config.no_answer_threshold = 1e6  # "no answer" must win by more than any margin: always answer
        always = run.answer(examples.questions, examples.contexts)
    finally:
        run.config.no_answer_threshold = 0.0
    assert all(always["answer"]) and not all(before["answer"])
    np.testing.assert_array_equal(always["best_span"], before["best_span"])
    empty = run.answer([], [])
    assert empty["answer"].shape == (0,) and empty["score"].shape == (0,)


def test_the_export_answers_as_the_run_does(trained, tmp_path):
    run, _, _ = trained
    path = run.export(export_dir=str(tmp_path), report={"f1": 1.0})
    settings = json.load(open(os.path.join(path, "question_answering.json")))
    assert settings["allow_no_answer"] is True and settings["stride"] == 8
    serve = tf.saved_model.load(path).signatures["serving_default"]
    examples = run.validation_examples
    served = serve(question=tf.constant(examples.questions), context=tf.constant(examples.contexts))
    found = run.answer(examples.questions, examples.contexts)
    assert [t.decode() for t in served["answer"].numpy()] == list(found["answer"])
    np.testing.assert_allclose(served["score"].numpy(), found["score"], atol=1e-5)
    np.testing.assert_array_equal(served["answer_start"].numpy(), found["answer_start"])
    empty = serve(question=tf.constant([], tf.string), context=tf.constant([], tf.string))
    assert empty["answer"].shape == (0,)


def test_a_long_context_is_read_in_windows_and_answered_from_the_right_one(trained):
    run, _, _ = trained
    rng = np.random.default_rng(5)
    context = " ".join(rng.choice(FILLER, 40)) + " Barbara went to Lima ."  # far past one window of 24
    found = run.answer(["who ?"], [context])
    assert found["windows"][0] > 3
    assert found["best_span"][0] == "Barbara"


def test_without_unanswerable_training_questions_it_always_answers(task, tmp_path):
    directory, settings = task
    run = question_answering(train=write_jsonl(tmp_path / "train.jsonl", questions(40, 2, unanswerable=False)),
                             epochs=1, **settings)
    assert not run.allow_no_answer
    found = run.answer(["who ?"], ["the a of ."])
    assert found["answer"][0] != "" and found["answer_start"][0] >= 0


@pytest.mark.parametrize("option, words", [
    ({"adversarial": "fgm"}, "adversarial, r_drop_alpha, distill_from and label_smoothing are the text classifier"),
    ({"label_smoothing": 0.1}, "Received: label_smoothing=0.1"),
    ({"stride": 40}, "fewer than the stride of 40"),
    ({"max_answer_length": 0}, "max_answer_length must be a positive int"),
    ({"format": "xml"}, "format must be one of"),
])
def test_options_it_cannot_use_are_refused_before_reading(task, tmp_path, option, words):
    _, settings = task
    with pytest.raises(ValueError, match=words):
        question_answering(train=str(tmp_path / "missing.jsonl"), **{**settings, **option})


def test_an_answer_that_is_not_at_its_offset_fails_before_training(task, tmp_path):
    _, settings = task
    rows = questions(4, 3)
    rows[1] = {**rows[1], "answers": {"text": ["Nobody"], "answer_start": [0]}}
    with pytest.raises(QuestionAnswersError, match="Nobody"):
        question_answering(train=write_jsonl(tmp_path / "bad.jsonl", rows), **settings)


def test_evaluate_takes_other_questions(trained):
    run, _, _ = trained
    other = QuestionAnswers(questions=["who ?"], contexts=["Alan went to Paris ."], answers=[["Alan"]],
                            answer_starts=[[0]], ids=["x"], source="memory")
    report = run.evaluate(other)
    assert report == {"exact_match": 100.0, "f1": 100.0, "total": 1}  # an answerable question only: no v2 split


def test_squad_from_a_prepared_tfds_copy_trains_as_from_its_files(task, tmp_path):
    from tests.tfds_local import build_squad

    _, settings = task
    files = {}
    for split, seed in (("train", 6), ("dev", 7)):
        examples = read_question_answers(write_jsonl(tmp_path / f"{split}.jsonl", questions(24, seed)))
        files[split] = write_squad_json(examples, str(tmp_path / f"{split}-v2.0.json"))
    build_squad(tmp_path / "tfds", files["train"], files["dev"])
    run = question_answering(train="train", validation="validation", tfds_name="squad/v2.0",
                             data_dir=str(tmp_path / "tfds"), epochs=1, **settings)
    written = read_question_answers(files["dev"])
    order = np.argsort(run.validation_examples.ids)  # TFDS keeps its own order
    assert run.validation_examples.subset(order) == written.subset(np.argsort(written.ids))
    assert run.allow_no_answer and run.evaluate()["total"] == len(written)
