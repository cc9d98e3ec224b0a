"""The causal-LM SavedModel is checked in a fresh process that imports only TensorFlow: see conftest.py."""

import json
import os

import numpy as np
import pytest

from kerastune.export.causal_lm_export import export_causal_lm
from tests.export.conftest import PROMPTS


def test_fresh_process_reproduces_logits_and_greedy_generations(causal_lm_export, fresh_process):
    model, _, _, token_ids = causal_lm_export
    assert fresh_process["modules"] == []  # neither kerastune nor KerasHub was imported to serve
    logits, generated = fresh_process["answers"]["logits"], fresh_process["answers"]["generated"]
    expected = np.asarray(model(token_ids))
    np.testing.assert_allclose(np.array(logits["logits"]), expected, atol=1e-5)
    np.testing.assert_allclose(np.array(logits["next_token_logits"]), expected[:, -1], atol=1e-5)
    texts = model.generate(PROMPTS, max_new_tokens=12)
    assert generated["generated_text"] == texts
    assert generated["completion"] == [texts[0][5:], texts[1][10:]]


def test_layout_assets_and_saved_model_cli(causal_lm_export, export_root, fresh_process):
    _, tokenizer, path, _ = causal_lm_export
    assert path == os.path.join(str(export_root), "tiny", "1")
    assert sorted(os.listdir(os.path.join(str(export_root), "tiny"))) == ["1"]  # no temporary left behind
    with open(os.path.join(path, "assets.extra", "tokenizer.json"), encoding="utf-8") as f:
        assert json.load(f)["config"]["vocabulary"] == tokenizer.get_vocabulary()
    with open(os.path.join(path, "assets.extra", "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    assert config["model"]["num_layers"] == 2 and config["recipe"] == {"seed": 1}
    shown = fresh_process["shown"]["causal_lm"]
    assert "signature_def['serving_default']" in shown and "signature_def['next_token_logits']" in shown
    assert "prompts" in shown and "token_ids" in shown and "generated_text" in shown


def test_existing_version_is_never_overwritten(causal_lm_export):
    model, _, path, _ = causal_lm_export
    before = os.path.getmtime(os.path.join(path, "saved_model.pb"))
    with pytest.raises(FileExistsError, match="already exists; versions are never overwritten. Pass version=2"):
        export_causal_lm(model, export_dir=os.path.dirname(os.path.dirname(path)), name="tiny", version=1)
    assert os.path.getmtime(os.path.join(path, "saved_model.pb")) == before


def test_next_version_and_failed_export_leaves_nothing(causal_lm_export, monkeypatch):
    model, _, path, _ = causal_lm_export
    import tensorflow as tf

    def broken_save(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    root = os.path.dirname(os.path.dirname(path))
    with pytest.raises(RuntimeError, match="disk full"):
        export_causal_lm(model, export_dir=root, name="tiny")
    assert sorted(os.listdir(os.path.join(root, "tiny"))) == ["1"]


def test_served_prompt_outside_the_vocabulary_is_an_error(fresh_process):
    for key, message in (("outside_vocabulary", "outside the vocabulary"), ("empty_prompt", "empty prompt")):
        answer = fresh_process["answers"][key]
        assert answer.get("error") == "InvalidArgumentError" and message in answer["message"], answer
