"""The SavedModel is checked in a fresh process that imports only TensorFlow (+ TF Text's ops): see conftest.py."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.bert_inputs import dense_inputs, tokenize_and_pack
from kerastune.export.text_classifier_export import TEXT_OPS, export_text_classifier
from kerastune.models.bert_encoder import INPUT_NAMES
from tests.export.conftest import CLASSES, PAIRS, TEXTS
from tests.export.test_export_writer import stored_values


def keras_probabilities(model, tokenizer, texts, pairs=None, truncate="end"):
    ids, segments, _ = tokenize_and_pack(
        tokenizer, tf.constant(texts), tf.constant(pairs) if pairs else None, 12, truncate
    )
    logits = model(dense_inputs(ids, segments, multiple=8, limit=12))
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))


@pytest.mark.parametrize("pair", [False, True], ids=["single", "pair"])
def test_fresh_process_serves_the_keras_models_answers(text_classifier_export, fresh_process, export_root, pair):
    model, tokenizer, paths = text_classifier_export
    path = paths[pair]
    assert path == str(export_root / ("clf_pair" if pair else "clf") / "1")
    want = keras_probabilities(model, tokenizer, TEXTS, PAIRS if pair else None)
    answer = fresh_process["answers"]["text_pair" if pair else "text"]
    assert fresh_process["modules"] == []  # neither kerastune nor KerasHub was imported to serve
    np.testing.assert_allclose(np.array(answer["probabilities"]), want, atol=1e-5)
    assert answer["label_ids"] == list(want.argmax(-1))
    assert answer["label_names"] == [CLASSES[i] for i in want.argmax(-1)]
    # how much of each text the model read: word pieces without [CLS]/[SEP], and whether it was cut
    lengths = [len(tokenizer(t)) + (len(tokenizer(p)) if pair else 0) for t, p in zip(TEXTS, PAIRS)]
    budget = 12 - (3 if pair else 2)
    assert answer["num_tokens"] == [min(n, budget) for n in lengths]
    assert answer["truncated"] == [n > budget for n in lengths] and answer["truncated"][-1]
    assert json.load(open(os.path.join(path, "label_names.json"))) == CLASSES
    assert json.load(open(os.path.join(path, "evaluation.json"))) == {"accuracy": 1.0}
    assert json.load(open(os.path.join(path, "config.json"))) == {"pooling": "mean"}


def test_an_empty_text_is_answered_with_zero_tokens_read(fresh_process):
    answer = fresh_process["answers"]["empty_text"]
    assert answer["num_tokens"] == [0, 0, 1] and answer["truncated"] == [False, False, False]
    assert len(answer["label_names"]) == 3  # answered, not an error for the whole batch


def test_saved_model_cli_lists_the_string_signature(fresh_process):
    shown = fresh_process["shown"]["text"]
    signature = shown.split("signature_def['serving_default']")[1]
    for fragment in ("inputs['text'] tensor_info", "dtype: DT_STRING", "shape: (-1)", "outputs['probabilities']",
                     "outputs['label_ids']", "outputs['label_names']", "outputs['num_tokens']", "outputs['truncated']"):
        assert fragment in signature, shown


def test_versions_are_atomic(text_classifier_export, tmp_path):
    model, tokenizer, paths = text_classifier_export
    shutil.copytree(paths[False], tmp_path / "text_classifier" / "1")  # an earlier export
    second = export_text_classifier(model, tokenizer, CLASSES, export_dir=str(tmp_path))
    assert second == str(tmp_path / "text_classifier" / "2")
    assert sorted(os.listdir(tmp_path / "text_classifier")) == ["1", "2"]  # no temporary directory left
    # every variable once, not twice (Keras issue 23553): the weights and the dropout layers' seed states
    assert stored_values(second) == sum(int(np.prod(v.shape)) for v in model.variables) > model.count_params()


def test_graph_needs_only_core_tensorflow_and_the_documented_text_ops(text_classifier_export):
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework import op_def_registry

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(open(os.path.join(text_classifier_export[2][False], "saved_model.pb"), "rb").read())
    graph = proto.meta_graphs[0].graph_def
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    functions = {f.signature.name for f in graph.library.function}
    ops -= functions
    custom = {op for op in ops if op in TEXT_OPS}
    assert custom, "the tokenizer's TF Text ops should be in the graph"
    unknown = {op for op in ops - set(TEXT_OPS) if op_def_registry.get(op) is None}
    assert not unknown, unknown


def test_bad_input_is_answered_not_an_error(text_classifier_export, fresh_process):
    model, tokenizer, _ = text_classifier_export
    answer = fresh_process["answers"]["bad_input"]  # "", 10,000 words, bytes that are not UTF-8, "bad"
    assert "error" not in answer, answer
    assert answer["num_tokens"][0] == 0 and not answer["truncated"][0]
    assert answer["num_tokens"][1] == 10 and answer["truncated"][1]  # cut to the window of 12, said so
    # the bad bytes read as U+FFFD (one [UNK] piece each), the rest as the same text in UTF-8 would
    replaced = b"a great \xff\xfe film \xc3".decode("utf-8", "replace")
    want = keras_probabilities(model, tokenizer, ["", "great " * 10_000, replaced, "bad"])
    np.testing.assert_allclose(np.array(answer["probabilities"]), want, atol=1e-5)
    assert answer["num_tokens"][2] == len(tokenizer(replaced))


def test_a_batch_of_no_texts_answers_empty_outputs(fresh_process):
    answer = fresh_process["answers"]["no_text"]
    assert answer["probabilities"] == [] and answer["label_names"] == [] and answer["num_tokens"] == []


def test_tokenize_and_token_ids_signatures_compose_to_serving_default(text_classifier_export):
    """The two halves of `serving_default` (for LiteRT clients and profiling) answer what it answers."""
    path = text_classifier_export[2][False]
    loaded = tf.saved_model.load(path)
    texts = tf.constant(TEXTS)
    features = loaded.signatures["tokenize"](text=texts)
    split = loaded.signatures["token_ids"](**{k: features[k] for k in INPUT_NAMES})["probabilities"].numpy()
    whole = loaded.signatures["serving_default"](text=texts)
    np.testing.assert_allclose(split, whole["probabilities"].numpy(), atol=1e-6)
    for reading in ("num_tokens", "truncated"):  # the last text is cut: both say so alike
        np.testing.assert_array_equal(features[reading].numpy(), whole[reading].numpy())
    assert whole["truncated"].numpy().tolist() == [False, False, False, True]
    vocabulary = open(os.path.join(path, "assets.extra", "vocab.txt"), encoding="utf-8").read().splitlines()
    assert vocabulary == text_classifier_export[1].get_vocabulary()


def test_a_middle_truncating_export_cuts_long_texts_as_training_did(text_classifier_export, tmp_path):
    model, tokenizer, paths = text_classifier_export
    path = export_text_classifier(model, tokenizer, CLASSES, export_dir=str(tmp_path), truncate="middle")
    answer = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(TEXTS))
    want = keras_probabilities(model, tokenizer, TEXTS, truncate="middle")
    np.testing.assert_allclose(answer["probabilities"].numpy(), want, atol=1e-5)
    assert list(answer["truncated"].numpy()) == [False, False, False, True]
    assert answer["num_tokens"].numpy()[-1] == 10  # as many pieces read as the end-cut export reads
    end_cut = keras_probabilities(model, tokenizer, TEXTS)
    np.testing.assert_allclose(want[:3], end_cut[:3], atol=1e-6)  # short texts are not cut at all
    assert np.abs(want[3] - end_cut[3]).max() > 1e-4  # the long one reads other pieces


@pytest.mark.parametrize("chunk_size", [0, 2.5, True])
def test_chunk_size_must_be_a_positive_integer(text_classifier_export, tmp_path, chunk_size):
    model, tokenizer, _ = text_classifier_export
    with pytest.raises(ValueError, match=f"Received: chunk_size={chunk_size!r}"):
        export_text_classifier(model, tokenizer, CLASSES, export_dir=str(tmp_path), chunk_size=chunk_size)
