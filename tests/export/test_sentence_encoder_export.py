import json
import os

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the WordPiece ops of the serving graph)

from kerastune.data.bert_inputs import dense_inputs, packer
from kerastune.export.sentence_encoder_export import export_sentence_encoder
from kerastune.models.sentence_encoder import SentenceEncoder
from kerastune.models.text_classifier import TextClassifier

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "stocks", "fell", "markets", "rally", "the", "team", "won", "!"]
TEXTS = ["stocks fell", "the team won !", "markets rally", "", "the team won " * 10]  # an empty and a truncated text


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCAB)
    backbone = keras_hub.models.BertBackbone(len(VOCAB), 2, 2, 16, 32, max_sequence_length=12)
    encoder = SentenceEncoder(backbone)
    path = export_sentence_encoder(encoder, tokenizer, export_dir=str(tmp_path_factory.mktemp("exports")),
                                   name="search", report={"mrr": 0.5})
    return encoder, tokenizer, path, tf.saved_model.load(path)


def reference(encoder, tokenizer, texts):
    token_ids, segment_ids, _ = packer(tokenizer, 12)(tf.constant(texts))
    return keras.ops.convert_to_numpy(encoder(dense_inputs(token_ids, segment_ids)))


def test_serving_default_answers_strings_with_the_encoders_embeddings(exported):
    encoder, tokenizer, path, loaded = exported
    out = loaded.signatures["serving_default"](text=tf.constant(TEXTS))
    np.testing.assert_allclose(out["embeddings"].numpy(), reference(encoder, tokenizer, TEXTS), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out["embeddings"].numpy(), axis=1), 1.0, rtol=1e-5)
    assert out["num_tokens"].numpy().tolist() == [2, 4, 2, 0, 10]
    assert out["truncated"].numpy().tolist() == [False, False, False, False, True]
    empty = loaded.signatures["serving_default"](text=tf.constant([], tf.string))
    assert empty["embeddings"].shape == (0, 16)


def test_tokenize_and_token_ids_are_the_two_halves(exported):
    _, _, _, loaded = exported
    dense = loaded.signatures["tokenize"](text=tf.constant(TEXTS))
    halves = loaded.signatures["token_ids"](**{k: dense[k] for k in ("token_ids", "segment_ids", "padding_mask")})
    whole = loaded.signatures["serving_default"](text=tf.constant(TEXTS))
    np.testing.assert_allclose(halves["embeddings"].numpy(), whole["embeddings"].numpy(), rtol=1e-4, atol=1e-5)


def test_files_beside_the_saved_model(exported):
    _, tokenizer, path, _ = exported
    assert os.path.basename(os.path.dirname(path)) == "search" and os.path.basename(path) == "1"
    assert json.load(open(os.path.join(path, "embedding.json"))) == {
        "dim": 16, "normalized": True, "pooling": "mean", "similarity": "cosine"}
    assert json.load(open(os.path.join(path, "evaluation.json"))) == {"mrr": 0.5}
    assert open(os.path.join(path, "assets.extra", "vocab.txt")).read().split("\n")[:-1] == VOCAB


def test_a_classifier_is_refused(tmp_path):
    backbone = keras_hub.models.BertBackbone(len(VOCAB), 1, 2, 8, 16, max_sequence_length=12)
    with pytest.raises(ValueError, match="exports a SentenceEncoder.*Received: model=TextClassifier"):
        export_sentence_encoder(TextClassifier(backbone, 2), keras_hub.models.BertTokenizer(vocabulary=VOCAB),
                                export_dir=str(tmp_path))
    assert not os.listdir(tmp_path)
