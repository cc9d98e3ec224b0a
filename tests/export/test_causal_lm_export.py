import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kerastune.data import CharacterTokenizer
from kerastune.export.causal_lm_export import export_causal_lm
from kerastune.models import GPT

CORPUS = "to be, or not to be: that is the question.\n"

# Runs in a fresh interpreter that imports TensorFlow only, as TF Serving would load the model.
LOAD_WITHOUT_KERASTUNE = r"""
import json, sys
import numpy as np
import tensorflow as tf
assert "kerastune" not in sys.modules
path, ids_file, out_file = sys.argv[1:4]
ids = np.load(ids_file)
loaded = tf.saved_model.load(path)
logits = loaded.signatures["next_token_logits"](token_ids=tf.constant(ids))
generated = loaded.signatures["serving_default"](prompts=tf.constant(["to be", "that is th"]))
np.savez(out_file, logits=logits["logits"].numpy(), next=logits["next_token_logits"].numpy(),
         text=np.array([t.decode() for t in generated["generated_text"].numpy()]),
         completion=np.array([t.decode() for t in generated["completion"].numpy()]))
assert "kerastune" not in sys.modules
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("saved_models")
    tokenizer = CharacterTokenizer.from_corpus(CORPUS)
    model = GPT(tokenizer.vocabulary_size(), sequence_length=8, num_layers=2, num_heads=2, hidden_dim=16, tokenizer=tokenizer)
    path = export_causal_lm(model, export_dir=str(root), name="tiny", max_new_tokens=12, config={"seed": 1})
    return model, tokenizer, root, path


def test_fresh_process_reproduces_logits_and_greedy_generations(exported, tmp_path):
    model, tokenizer, _, path = exported
    ids = np.random.default_rng(0).integers(0, tokenizer.vocabulary_size(), (3, 8)).astype("int32")
    np.save(tmp_path / "ids.npy", ids)
    out = tmp_path / "out.npz"
    subprocess.run([sys.executable, "-c", LOAD_WITHOUT_KERASTUNE, path, str(tmp_path / "ids.npy"), str(out)], check=True)
    result = np.load(out)
    expected = np.asarray(model(ids))
    np.testing.assert_allclose(result["logits"], expected, atol=1e-5)
    np.testing.assert_allclose(result["next"], expected[:, -1], atol=1e-5)
    texts = model.generate(["to be", "that is th"], max_new_tokens=12)
    assert result["text"].tolist() == texts
    assert result["completion"].tolist() == [texts[0][5:], texts[1][10:]]


def test_layout_assets_and_saved_model_cli(exported):
    _, tokenizer, root, path = exported
    assert path == os.path.join(str(root), "tiny", "1")
    assert sorted(os.listdir(os.path.join(str(root), "tiny"))) == ["1"]  # no temporary left behind
    with open(os.path.join(path, "assets.extra", "tokenizer.json"), encoding="utf-8") as f:
        assert json.load(f)["config"]["vocabulary"] == tokenizer.get_vocabulary()
    with open(os.path.join(path, "assets.extra", "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    assert config["model"]["num_layers"] == 2 and config["recipe"] == {"seed": 1}
    shown = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir", path, "--all"],
        check=True, capture_output=True, text=True,
    ).stdout
    assert "signature_def['serving_default']" in shown and "signature_def['next_token_logits']" in shown
    assert "prompts" in shown and "token_ids" in shown and "generated_text" in shown


def test_existing_version_is_never_overwritten(exported):
    model, _, root, path = exported
    before = os.path.getmtime(os.path.join(path, "saved_model.pb"))
    with pytest.raises(FileExistsError, match="already exists; versions are never overwritten. Pass version=2"):
        export_causal_lm(model, export_dir=str(root), name="tiny", version=1)
    assert os.path.getmtime(os.path.join(path, "saved_model.pb")) == before


def test_next_version_and_failed_export_leaves_nothing(exported, monkeypatch):
    model, _, root, _ = exported
    import tensorflow as tf

    def broken_save(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        export_causal_lm(model, export_dir=str(root), name="tiny")
    assert sorted(os.listdir(os.path.join(str(root), "tiny"))) == ["1"]


def test_served_prompt_outside_the_vocabulary_is_an_error(exported):
    import tensorflow as tf

    loaded = tf.saved_model.load(exported[3])
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside the vocabulary"):
        loaded.signatures["serving_default"](prompts=tf.constant(["to be Z"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty prompt"):
        loaded.signatures["serving_default"](prompts=tf.constant(["to", ""]))
