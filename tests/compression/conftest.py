"""A tiny fitted classifier, its float / int8 / pruned / convolutional-student string-in exports, and ONE fresh TF-only process serving them."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.compression import MagnitudePruning, quantized_copy
from kerastune.compression.distillation import conv_student_from_teacher
from kerastune.data.bert_inputs import dense_inputs, tokenize_and_pack
from kerastune.export.text_classifier_export import export_text_classifier
from kerastune.models.text_classifier import TextClassifier
from tests.export.conftest import BAD_INPUT, CLASSES, CLASSIFIER_VOCAB, TEXTS, serve_in_fresh_process

PRUNING = 0.5


def features(batch, width, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, len(CLASSIFIER_VOCAB), (batch, width)).astype("int32")
    mask = np.ones_like(ids)
    mask[0, width // 2:] = 0  # one padded row
    return {"token_ids": np.where(mask == 1, ids, 0), "segment_ids": np.zeros_like(ids), "padding_mask": mask}


@pytest.fixture(scope="session")
def fitted():
    """(model, tokenizer, pruning callback): a tiny classifier fitted 12 steps with 50% pruning."""
    keras.utils.set_random_seed(0)
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=CLASSIFIER_VOCAB)
    backbone = keras_hub.models.BertBackbone(len(CLASSIFIER_VOCAB), 2, 2, 16, 32, max_sequence_length=12)
    model = TextClassifier(backbone, 3, pooling="mean")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = features(48, 8)
    y = np.random.default_rng(1).integers(0, 3, 48)
    pruning = MagnitudePruning(PRUNING, end_step=8, frequency=2)
    model.fit(x, y, batch_size=4, epochs=1, callbacks=[pruning], verbose=0)
    return model, tokenizer, pruning


@pytest.fixture(scope="session")
def conv_student(fitted):
    """A `ConvEncoder` student of the fitted classifier (untrained head: serving, not learning, is checked)."""
    keras.utils.set_random_seed(2)
    return conv_student_from_teacher(fitted[0], filters=8, kernel_sizes=(3, 5))


@pytest.fixture(scope="session")
def compressed_exports(fitted, conv_student, tmp_path_factory):
    model, tokenizer, _ = fitted
    root = tmp_path_factory.mktemp("compressed")
    int8 = quantized_copy(model, "int8")
    return {
        "pruned": export_text_classifier(model, tokenizer, CLASSES, export_dir=str(root), name="pruned"),
        "int8": export_text_classifier(int8, tokenizer, CLASSES, export_dir=str(root), name="int8"),
        "student": export_text_classifier(conv_student, tokenizer, CLASSES, export_dir=str(root), name="student"),
    }, int8


def assert_served_as_keras(served, name, model, tokenizer):
    """The fresh process's answers for export `name`: `model`'s probabilities on TEXTS (1e-5), bad input
    answered (an empty text reads 0 tokens, 10,000 words are cut), no texts -> no rows, TensorFlow alone."""
    ids, segments, _ = tokenize_and_pack(tokenizer, tf.constant(TEXTS), None, 12)
    want = keras.ops.convert_to_numpy(keras.ops.softmax(model(dense_inputs(ids, segments, multiple=8, limit=12))))
    np.testing.assert_allclose(served["answers"][name]["probabilities"], want, atol=1e-5)
    assert served["modules"] == []
    bad = served["answers"][f"{name}_bad_input"]
    assert "error" not in bad and bad["num_tokens"][0] == 0 and bad["truncated"][1]
    assert served["answers"][f"{name}_no_text"]["probabilities"] == []


@pytest.fixture(scope="session")
def served(compressed_exports, tmp_path_factory):
    """What a fresh TensorFlow-only process answers for each compressed export: texts and bad input."""
    paths, _ = compressed_exports
    requests = {"serve": {}, "show": {}}
    for name, path in paths.items():
        requests["serve"][name] = {"path": path, "signature": "serving_default", "instances": TEXTS}
        requests["serve"][f"{name}_bad_input"] = {"path": path, "signature": "serving_default", "instances": BAD_INPUT}
        requests["serve"][f"{name}_no_text"] = {"path": path, "signature": "serving_default", "instances": []}
    return serve_in_fresh_process(requests, tmp_path_factory.mktemp("fresh_compressed"))
