import numpy as np
import pytest
import tensorflow as tf

from kerastune.models.ensemble_classifier import EnsembleClassifier
from kerastune.recipes.ensemble import ensemble
from kerastune.recipes.text_classifier import text_classifier
from tests.recipes.test_text_classifier_recipe import task  # noqa: F401


def test_an_ensemble_serves_the_mean_of_its_members_probabilities(tmp_path, task):  # noqa: F811
    runs = [text_classifier(**{**task, "epochs": 1}, seed=seed) for seed in (0, 1)]
    for run in runs:
        run.fit(verbose=0, validate=False)
    members = [run.predict() for run in runs]
    assert np.abs(members[0] - members[1]).max() > 1e-3
    joint = ensemble(runs)
    np.testing.assert_allclose(joint.predict(), np.mean(members, axis=0), atol=1e-6)
    assert set(joint.evaluate()) >= {"accuracy", "macro_f1"}
    path = joint.export(str(tmp_path / "saved_models"))
    assert path.endswith("text_classifier_ensemble/1")
    texts = [line.split("\t")[0] for line in open(task["validation"]).read().splitlines()[1:]]
    served = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(texts))["probabilities"]
    np.testing.assert_allclose(served.numpy(), np.mean(members, axis=0), atol=1e-5)
    with pytest.raises(ValueError, match="at least two members. Received: 1 member"):
        EnsembleClassifier([runs[0].model])
    middle = text_classifier(**{**task, "epochs": 1, "validation": None}, truncate="middle")
    with pytest.raises(ValueError, match="must cut long texts alike. Received: truncate='end'"):
        ensemble([runs[0], middle])
