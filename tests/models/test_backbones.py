import json
import os

import numpy as np
import pytest

from kerastune.data.bert_inputs import dense_inputs, tokenize_and_pack
from kerastune.models.backbones import load_backbone
from kerastune.models.bert_encoder import BertEncoder
from tests.conftest import shared_path


def test_local_hugging_face_directory_loads_offline():
    import tensorflow as tf

    backbone, tokenizer = load_backbone(shared_path("models", "all-MiniLM-L6-v2"))
    assert backbone.max_sequence_length == 512 and backbone.hidden_dim == 384 and backbone.num_layers == 6
    ids, segments, _ = tokenize_and_pack(tokenizer, tf.constant(["hello world"]))
    assert ids.to_list() == [[101, 7592, 2088, 102]]  # bert-base-uncased WordPieces
    out = backbone(dense_inputs(ids, segments))
    assert np.isfinite(out["pooled_output"].numpy()).all()


def test_own_encoder_with_a_vocabulary(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]))
    backbone, tokenizer = load_backbone("kerastune_bert", vocabulary=str(tmp_path), num_layers=1, num_heads=2,
                                        hidden_dim=8, intermediate_dim=16, max_sequence_length=32)
    assert isinstance(backbone, BertEncoder) and backbone.vocabulary_size == 7
    assert tokenizer.cls_token_id == 2


def test_bad_backbones_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_backbone(str(tmp_path / "missing" / "model"))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="model_type 'gpt2'"):
        load_backbone(str(tmp_path))
    with pytest.raises(ValueError, match="needs vocabulary"):
        load_backbone("kerastune_bert")


def test_a_preset_name_without_network_says_to_pass_a_local_directory(monkeypatch):
    import keras_hub
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'api.kaggle.com'")

    monkeypatch.setattr(keras_hub.models.BertBackbone, "from_preset", offline)
    with pytest.raises(ConnectionError, match="is a KerasHub preset name: loading it downloads the weights") as info:
        load_backbone("bert_base_en_uncased")
    assert "pass a local directory instead" in str(info.value)
    assert "Received: backbone='bert_base_en_uncased'" in str(info.value)


def test_an_uncased_hugging_face_tokenizer_strips_accents_as_hugging_face_does(tmp_path):
    import tensorflow as tf

    minilm = shared_path("models", "all-MiniLM-L6-v2")
    _, tokenizer = load_backbone(minilm)
    accented = ["Héllo Zürich, Beyoncé's café", "naïve façade"]
    plain = ["hello zurich, beyonce's cafe", "naive facade"]
    assert tokenizer(tf.constant(accented)) == tokenizer(tf.constant(plain))
    assert 100 not in sum(tokenizer(tf.constant(accented)), [])  # no [UNK]
    # a tokenizer_config.json that says strip_accents false is followed
    for name in os.listdir(minilm):
        os.symlink(os.path.join(minilm, name), tmp_path / name)
    settings = json.load(open(os.path.join(minilm, "tokenizer_config.json")))
    os.remove(tmp_path / "tokenizer_config.json")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**settings, "strip_accents": False}))
    _, keeping = load_backbone(str(tmp_path))
    assert 100 in keeping(tf.constant(["Beyoncé"]))[0]


def test_uncased_hugging_face_tokenization_equals_hugging_faces_own():
    import tensorflow as tf

    transformers = pytest.importorskip("transformers", reason="the Hugging Face comparison needs .[peers]")
    minilm = shared_path("models", "all-MiniLM-L6-v2")
    _, tokenizer = load_backbone(minilm)
    reference = transformers.AutoTokenizer.from_pretrained(minilm)
    for text in ["Héllo Zürich, Beyoncé's café", "naïve façade"]:
        assert list(tokenizer(tf.constant([text]))[0]) == reference(text, add_special_tokens=False)["input_ids"]
