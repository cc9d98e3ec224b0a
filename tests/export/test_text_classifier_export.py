"""The SavedModel is checked in a fresh process that imports only TensorFlow (+ TF Text's ops)."""

import json
import os
import subprocess
import sys

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.bert_inputs import dense_inputs, tokenize_and_pack
from kerastune.export.text_classifier_export import TEXT_OPS, export_text_classifier
from kerastune.models.text_classifier import TextClassifier

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "great", "film", "bad", "the", "movie", "!", "not"]
TEXTS = ["a great film !", "the bad movie", "not", "Great FILM, not bad at all " * 3]
PAIRS = ["the film", "a movie !", "great", "bad"]


def build():
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB)
    backbone = keras_hub.models.BertBackbone(len(VOCAB), 1, 2, 8, 16, max_sequence_length=12)
    return TextClassifier(backbone, 3, pooling="mean"), tokenizer


def keras_probabilities(model, tokenizer, texts, pairs=None):
    ids, segments, _ = tokenize_and_pack(
        tokenizer, tf.constant(texts), tf.constant(pairs) if pairs else None, 12
    )
    return keras.ops.convert_to_numpy(keras.ops.softmax(model(dense_inputs(ids, segments, multiple=8, limit=12)), axis=-1))


FRESH = """
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the TF Text ops of the tokenizer (TF Serving links them in)
path, body = sys.argv[1], json.loads(sys.argv[2])
fn = tf.saved_model.load(path).signatures["serving_default"]
instances = body["instances"]
# TF Serving's REST "row" format: a list of values for a one-input signature, else a list of objects.
if isinstance(instances[0], dict):
    kwargs = {k: tf.constant([row[k] for row in instances]) for k in instances[0]}
else:
    kwargs = {list(fn.structured_input_signature[1])[0]: tf.constant(instances)}
out = {k: v.numpy() for k, v in fn(**kwargs).items()}
predictions = [
    {"probabilities": out["probabilities"][i].tolist(), "label_ids": int(out["label_ids"][i]),
     "label_names": out["label_names"][i].decode()}
    for i in range(len(instances))
]
print(json.dumps({"predictions": predictions, "modules": sorted(m for m in sys.modules if m.startswith(("kerastune", "keras_hub")))}))
"""


def serve_fresh(path, body):
    result = subprocess.run(
        [sys.executable, "-c", FRESH, path, json.dumps(body)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("pair", [False, True], ids=["single", "pair"])
def test_fresh_process_serves_the_keras_models_answers(tmp_path, pair):
    model, tokenizer = build()
    names = ["neg", "neutral", "pos"]
    path = export_text_classifier(model, tokenizer, names, export_dir=str(tmp_path), name="clf", pair=pair,
                                  report={"accuracy": 1.0}, config={"pooling": "mean"})
    assert path == str(tmp_path / "clf" / "1")
    want = keras_probabilities(model, tokenizer, TEXTS, PAIRS if pair else None)
    body = {"instances": [{"text": t, "text_pair": p} for t, p in zip(TEXTS, PAIRS)] if pair else TEXTS}
    answer = serve_fresh(path, body)
    assert answer["modules"] == []  # neither kerastune nor KerasHub was imported to serve
    got = np.array([p["probabilities"] for p in answer["predictions"]])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert [p["label_ids"] for p in answer["predictions"]] == list(want.argmax(-1))
    assert [p["label_names"] for p in answer["predictions"]] == [names[i] for i in want.argmax(-1)]
    assert json.load(open(os.path.join(path, "label_names.json"))) == names
    assert json.load(open(os.path.join(path, "evaluation.json"))) == {"accuracy": 1.0}


def test_saved_model_cli_lists_the_string_signature_and_versions_are_atomic(tmp_path):
    model, tokenizer = build()
    first = export_text_classifier(model, tokenizer, ["a", "b", "c"], export_dir=str(tmp_path))
    second = export_text_classifier(model, tokenizer, ["a", "b", "c"], export_dir=str(tmp_path))
    assert os.path.basename(first) == "1" and os.path.basename(second) == "2"
    assert sorted(os.listdir(tmp_path / "text_classifier")) == ["1", "2"]  # no temporary directory left
    shown = subprocess.run(
        ["saved_model_cli", "show", "--dir", second, "--all"], capture_output=True, text=True, timeout=300
    ).stdout
    signature = shown.split("signature_def['serving_default']")[1]
    for fragment in ("inputs['text'] tensor_info", "dtype: DT_STRING", "shape: (-1)", "outputs['probabilities']",
                     "outputs['label_ids']", "outputs['label_names']"):
        assert fragment in signature, shown


def test_graph_needs_only_core_tensorflow_and_the_documented_text_ops(tmp_path):
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework import op_def_registry

    model, tokenizer = build()
    path = export_text_classifier(model, tokenizer, ["a", "b", "c"], export_dir=str(tmp_path))
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(open(os.path.join(path, "saved_model.pb"), "rb").read())
    graph = proto.meta_graphs[0].graph_def
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    functions = {f.signature.name for f in graph.library.function}
    ops -= functions
    custom = {op for op in ops if op in TEXT_OPS}
    assert custom, "the tokenizer's TF Text ops should be in the graph"
    unknown = {op for op in ops - set(TEXT_OPS) if op_def_registry.get(op) is None}
    assert not unknown, unknown
