"""No code runs from a file a user is handed: every place kerastune reads a config (a `.keras` model, a
backbone directory's config, a saved tokenizer) deserializes it in Keras's safe mode, so a config that
carries Python code (a serialized lambda) is refused with a message, and the code never runs."""

import json
import os
import zipfile

import keras
import keras_hub
import numpy as np
import pytest

from kerastune.models.backbones import load_backbone
from kerastune.models.backbone_directory import MANIFEST, save_backbone_directory
from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.text_classifier import TextClassifier

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "great", "film"]
REFUSED = "safe_mode"  # Keras's refusal names the setting that would allow it


def _planted_lambda(marker, monkeypatch):
    """The serialized config of a Lambda layer whose lambda writes `marker` when it runs: its bytecode
    travels in the config, as Keras saves a Lambda layer (the path comes from the environment, so the
    bytecode needs no closure or defaults)."""
    monkeypatch.setenv("KERASTUNE_TEST_MARKER", str(marker))
    lambda_layer = keras.layers.Lambda(lambda x: (open(os.environ["KERASTUNE_TEST_MARKER"], "w").close(), x)[1])
    return keras.saving.serialize_keras_object(lambda_layer)


def _tiny_classifier():
    encoder = BertEncoder(len(VOCAB), 1, 2, 8, 16, max_sequence_length=8)
    model = TextClassifier(encoder, num_classes=2)
    x = {"token_ids": np.array([[2, 5, 6, 3]], "int32"), "segment_ids": np.zeros((1, 4), "int32"),
         "padding_mask": np.ones((1, 4), "bool")}
    return model, x


def test_a_kerastune_model_reloads_in_safe_mode(tmp_path):
    model, x = _tiny_classifier()
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)  # needs no unsafe deserialization
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_code_planted_in_a_keras_file_is_refused_and_never_runs(tmp_path, monkeypatch):
    model, _ = _tiny_classifier()
    model.save(tmp_path / "model.keras")
    marker = tmp_path / "code_ran"
    with zipfile.ZipFile(tmp_path / "model.keras") as archive:  # rewrite the archive with code in its config
        files = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(files["config.json"])
    config["config"]["backbone"] = _planted_lambda(marker, monkeypatch)  # a "backbone" that runs code
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "planted.keras", "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    with pytest.raises(ValueError, match=REFUSED):
        keras.saving.load_model(tmp_path / "planted.keras")
    assert not marker.exists()


def test_code_planted_in_a_backbone_directory_is_refused_and_never_runs(tmp_path, monkeypatch):
    encoder = BertEncoder(len(VOCAB), 1, 2, 8, 16, max_sequence_length=8)
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True)
    path = save_backbone_directory(encoder, tokenizer, tmp_path / "backbone")
    manifest_path = os.path.join(path, MANIFEST)
    manifest = json.load(open(manifest_path))
    marker = tmp_path / "code_ran"
    manifest["config"]["activation"] = _planted_lambda(marker, monkeypatch)["config"]["function"]  # a lambda's bytecode
    json.dump(manifest, open(manifest_path, "w"))
    with pytest.raises(ValueError, match="activation"):  # an activation is a name, never code
        load_backbone(path)
    assert not marker.exists()


def test_code_planted_in_a_saved_tokenizer_is_refused_and_never_runs(tmp_path, monkeypatch):
    from kerastune.data.subword_tokenizer import load_subword_tokenizer, save_subword_tokenizer

    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(vocabulary=VOCAB, lowercase=True)
    save_subword_tokenizer(tokenizer, tmp_path / "tokenizer")
    config_path = tmp_path / "tokenizer" / "tokenizer.json"
    marker = tmp_path / "code_ran"
    json.dump(_planted_lambda(marker, monkeypatch), open(config_path, "w"))
    with pytest.raises(ValueError, match=REFUSED):
        load_subword_tokenizer(tmp_path / "tokenizer")
    assert not marker.exists()
