"""The recipes' `distill_from=` switch: a teacher export, checked against the run, teaches the model the recipe builds."""

import json
import os

import numpy as np
import pytest

from kerastune.export.classifier_from_export import load_classifier
from kerastune.models.ensemble_classifier import EnsembleClassifier
from kerastune.models.token_classifier import TokenClassifier
from kerastune.recipes.text_classifier import text_classifier
from kerastune.recipes.token_classifier import token_classifier
from kerastune.training.knowledge_distillation import KnowledgeDistillation
from kerastune.training.train_step_override import train_step_of
from tests.recipes import test_token_classifier_recipe as tagging
from tests.recipes.test_text_classifier_recipe import VOCAB, task  # noqa: F401 (the shared tiny task)
from tests.training.test_knowledge_distillation import _softmax


@pytest.fixture(scope="module")
def teacher_export(task, tmp_path_factory):  # noqa: F811
    run = text_classifier(**task)
    run.fit(verbose=0)
    assert run.evaluate()["accuracy"] >= 0.9
    return run.export(str(tmp_path_factory.mktemp("teacher")))


def test_a_smaller_student_learns_the_task_from_the_teachers_soft_targets_alone(task, teacher_export, tmp_path):  # noqa: F811
    smaller = {**task, "hidden_dim": 8, "intermediate_dim": 16, "name": "student"}
    run = text_classifier(**smaller, distill_from=teacher_export, distillation_temperature=2.0,
                          distillation_student_loss_weight=0.0,  # the labels' loss weighs nothing
                          distillation_similarity_weight=0.5)
    step = train_step_of(run.model)
    assert isinstance(step, KnowledgeDistillation) and step.student_loss_weight == 0.0
    assert step.similarity_weight == 0.5
    run.fit(verbose=0)
    assert run.evaluate()["accuracy"] >= 0.85  # what the teacher knows, passed on
    path = run.export(str(tmp_path / "exports"))
    student, _, names, config = load_classifier(path)  # the export is the student alone
    assert names == ["negative", "positive"] and config["distill_from"] == teacher_export
    assert student.count_params() == run.model.count_params() < load_classifier(teacher_export)[0].count_params()


def test_comma_separated_exports_teach_as_one_ensemble(task, teacher_export, tmp_path):  # noqa: F811
    second = text_classifier(**{**task, "seed": 1, "epochs": 1})  # another member: other seed, less trained
    second_export = second.export(str(tmp_path / "second"))
    run = text_classifier(**{**task, "name": "student"}, distill_from=f"{teacher_export}, {second_export}")
    teacher = train_step_of(run.model).teacher
    assert isinstance(teacher, EnsembleClassifier) and len(teacher.members) == 2
    inputs = next(iter(run.validation_data.dataset))[0]
    members = [load_classifier(path)[0] for path in (teacher_export, second_export)]
    probabilities = [_softmax(np.asarray(member(inputs)), 1.0) for member in members]
    np.testing.assert_allclose(np.exp(np.asarray(teacher(inputs))), np.mean(probabilities, axis=0), atol=1e-6)
    run.fit(verbose=0, validate=False)
    assert run.evaluate()["accuracy"] >= 0.85
    with pytest.raises(ValueError, match=r"several separated by commas .* no empty entry"):
        text_classifier(**task, distill_from=f"{teacher_export},,{second_export}")
    with pytest.raises(ValueError, match=r"Feature similarity needs a text classifier.*EnsembleClassifier"):
        text_classifier(**task, distill_from=f"{teacher_export},{second_export}", distillation_similarity_weight=0.5)


def test_a_teacher_that_does_not_match_the_run_is_refused(task, teacher_export, tmp_path):  # noqa: F811
    with pytest.raises(ValueError, match=r"this run's inputs up to 64: pass max_sequence_length <= 32"):
        text_classifier(**{**task, "max_sequence_length": 64}, distill_from=teacher_export)
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB + ["extra"]))
    with pytest.raises(ValueError, match="The teacher reads other word pieces"):
        text_classifier(**{**task, "vocabulary": str(tmp_path / "vocab.txt")}, distill_from=teacher_export)
    with pytest.raises(ValueError, match="is not a SavedModel"):
        text_classifier(**task, distill_from=str(tmp_path))


def test_the_token_classifier_takes_the_same_switch(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(tagging.VOCAB))
    settings = dict(backbone="kerastune_bert", train=tagging.write_task(tmp_path, 32, 0),
                    vocabulary=str(tmp_path / "vocab.txt"), num_layers=1, num_heads=2, hidden_dim=16,
                    intermediate_dim=32, max_sequence_length=32, batch_size=16, epochs=1, run_eagerly=True)
    teacher = token_classifier(**settings).export(str(tmp_path / "teacher"))  # untrained: the plumbing is checked
    assert isinstance(load_classifier(teacher)[0], TokenClassifier)
    run = token_classifier(**{**settings, "hidden_dim": 8}, distill_from=teacher)
    assert train_step_of(run.model).teacher.count_params() > run.model.count_params()
    history = run.fit(verbose=0, validate=False)
    assert len(history.history["loss"]) == 1
    tags = json.load(open(os.path.join(teacher, "tag_names.json")))
    json.dump(tags[::-1], open(os.path.join(teacher, "tag_names.json"), "w"))
    with pytest.raises(ValueError, match=r"The teacher answers \[.*\] and this run's data has .* same labels \(or tags\)"):
        token_classifier(**settings, distill_from=teacher)
