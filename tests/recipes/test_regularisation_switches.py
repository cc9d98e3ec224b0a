"""The anti-overfitting switches of the fine-tuning recipes: adversarial training, label smoothing,
early stopping that restores the best weights."""

import numpy as np
import pytest

from kerastune.recipes.text_classifier import text_classifier
from kerastune.training.train_step_override import train_step_of
from kerastune.training.label_smoothing import SparseLabelSmoothingCrossentropy
from tests.recipes.test_text_classifier_recipe import task  # noqa: F401 (the shared tiny task)


def test_fgm_switch_trains_adversarially_and_learns(task):  # noqa: F811
    run = text_classifier(**task, adversarial="fgm", adversarial_epsilon=0.05, label_smoothing=0.1)
    assert train_step_of(run.model).method == "fgm"
    assert isinstance(run.model.loss, SparseLabelSmoothingCrossentropy) and run.model.loss.label_smoothing == 0.1
    run.fit(verbose=0)
    assert run.evaluate()["accuracy"] >= 0.8


def test_r_drop_switch_trains_and_learns(task):  # noqa: F811
    run = text_classifier(**{**task, "dropout": 0.1, "epochs": 3}, r_drop_alpha=1.0)
    assert train_step_of(run.model).alpha == 1.0
    run.fit(verbose=0)
    assert run.evaluate()["accuracy"] >= 0.8


def test_early_stopping_restores_the_best_epoch(task):  # noqa: F811
    run = text_classifier(**{**task, "epochs": 5, "learning_rate": 0.3}, early_stopping_patience=1)
    history = run.fit(verbose=0).history["val_loss"]
    stop = int(np.argmin(history))
    assert len(history) == 5 or len(history) == stop + 2
    best = run.model.evaluate(run.validation_data.dataset, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(best, min(history), rtol=1e-4)  # the weights of the best epoch are back
    with pytest.raises(ValueError, match="early_stopping_patience watches a validation metric"):
        run.fit(validate=False)


def test_bad_switches_fail_before_training(task):  # noqa: F811
    with pytest.raises(ValueError, match=r"adversarial must be one of \('fgm', 'pgd'\)"):
        text_classifier(**task, adversarial="fgsm")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
        text_classifier(**task, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"truncate must be one of \('end', 'middle'\).*Received: truncate='head'"):
        text_classifier(**task, truncate="head")


def test_augmentation_adds_seeded_copies_of_the_training_texts(task, tmp_path):  # noqa: F811
    (tmp_path / "synonyms.txt").write_text("film\tmovie\ngood\tgreat\n", encoding="utf-8")
    plain = text_classifier(**task)
    augmented = text_classifier(**task, augment="delete,swap,synonym", augment_copies=2,
                                synonyms=str(tmp_path / "synonyms.txt"))
    assert augmented.train_data.num_examples == 3 * plain.train_data.num_examples
    with pytest.raises(ValueError, match="augment takes operations from"):
        text_classifier(**task, augment="shuffle")
