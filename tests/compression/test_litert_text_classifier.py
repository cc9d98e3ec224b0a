import subprocess
import sys

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the exports' tokenizer ops, for loading them here)

from kerastune.compression import LiteRTTextClassifier, convert_to_litert
from kerastune.export.text_classifier_export import export_text_classifier
from kerastune.models.text_classifier import TextClassifier

from tests.export.conftest import CLASSES, CLASSIFIER_VOCAB, TEXTS
from tests.helpers import randomize_weights

# texts of mixed lengths, more than one chunk of 2, so sorting and putting back the rows is exercised
MIXED = TEXTS + ["bad", "great film", "", "not a great movie at all", "film", "\xff great"]


@pytest.fixture(scope="module")
def litert_files(tmp_path_factory):
    """A tiny classifier whose feed-forward kernels hold 4,096 values (LiteRT's converter leaves weights of fewer than
    1,024 in float32), exported, and its float32 and dynamic-int8 conversions."""
    keras.utils.set_random_seed(3)
    backbone = keras_hub.models.BertBackbone(len(CLASSIFIER_VOCAB), 1, 2, 32, 128, max_sequence_length=12)
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=CLASSIFIER_VOCAB)
    root = tmp_path_factory.mktemp("litert")
    model = TextClassifier(backbone, 3)
    randomize_weights(model.weights, seed=3, scale=0.3)  # answers far apart, so a row put back wrong shows
    export = export_text_classifier(model, tokenizer, CLASSES, export_dir=str(root))
    files = {quantization: convert_to_litert(export, str(root / str(quantization)), quantization=quantization)
             for quantization in (None, "dynamic_int8")}
    pair_export = export_text_classifier(model, tokenizer, CLASSES, export_dir=str(root), name="pair", pair=True)
    files["pair"] = convert_to_litert(pair_export, str(root / "pair"))
    return export, files, pair_export


@pytest.fixture(scope="module")
def served(litert_files):
    export, *_ = litert_files
    serve = tf.saved_model.load(export).signatures["serving_default"]
    return {name: value.numpy() for name, value in serve(text=tf.constant(MIXED)).items()}


def test_strings_are_answered_as_the_export_answers_them(litert_files, served):
    export, files, _ = litert_files
    classifier = LiteRTTextClassifier(files[None], export, chunk_size=2)
    answer = classifier(MIXED)
    np.testing.assert_allclose(answer["probabilities"], served["probabilities"], atol=1e-5)
    np.testing.assert_array_equal(answer["label_ids"], served["label_ids"])
    np.testing.assert_array_equal(answer["label_names"], served["label_names"])
    for reading in ("num_tokens", "truncated"):
        np.testing.assert_array_equal(answer[reading], served[reading])
    one_by_one = np.concatenate([classifier([text])["probabilities"] for text in MIXED])
    np.testing.assert_allclose(one_by_one, served["probabilities"], atol=1e-5)


def test_pairs_are_answered_as_the_pair_export_answers_them(litert_files):
    _, files, pair_export = litert_files
    first, second = TEXTS, ["the film", "a movie !", "great", "not bad"]
    want = tf.saved_model.load(pair_export).signatures["serving_default"](
        text=tf.constant(first), text_pair=tf.constant(second))["probabilities"].numpy()
    got = LiteRTTextClassifier(files["pair"], pair_export, chunk_size=3)(first, text_pair=second)["probabilities"]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_bad_input_gets_an_answer_or_a_clear_error(litert_files):
    export, files, _ = litert_files
    classifier = LiteRTTextClassifier(files[None], export)
    answer = classifier(["", "great " * 10_000, b"a great \xff\xfe film \xc3"])
    assert answer["probabilities"].shape == (3, 3)
    assert answer["num_tokens"].tolist()[0] == 0 and answer["truncated"].tolist() == [False, True, False]
    np.testing.assert_allclose(answer["probabilities"].sum(-1), 1.0, atol=1e-5)
    empty = classifier(tf.constant([], tf.string))
    assert empty["probabilities"].shape == (0, 3) and empty["label_names"].shape == (0,)
    with pytest.raises(ValueError, match="batch of strings"):
        classifier("one text, not a batch")
    with pytest.raises(ValueError, match="chunk_size"):
        LiteRTTextClassifier(files[None], export, chunk_size=0)
    with pytest.raises(ValueError, match="quantization"):
        convert_to_litert(export, "/nonexistent", quantization="int4")


def test_dynamic_int8_stores_int8_weights_and_answers_close(litert_files):
    export, files, _ = litert_files
    weight_types = {d["dtype"] for d in tf.lite.Interpreter(model_path=files["dynamic_int8"]).get_tensor_details()}
    assert np.int8 in weight_types
    assert np.int8 not in {d["dtype"] for d in tf.lite.Interpreter(model_path=files[None]).get_tensor_details()}
    float32 = LiteRTTextClassifier(files[None], export)(MIXED)["probabilities"]
    answer = LiteRTTextClassifier(files["dynamic_int8"], export)(MIXED)["probabilities"]
    assert not np.array_equal(answer, float32)  # quantized ...
    np.testing.assert_allclose(answer, float32, atol=0.05)  # ... but the same model


def test_a_fresh_process_converts_and_answers(litert_files, tmp_path):
    """Nothing imported beforehand: converting loads the export, whose tokenizer ops need TensorFlow Text."""
    export, *_ = litert_files
    script = ("import sys; from kerastune.compression import LiteRTTextClassifier, convert_to_litert; "
              "path = convert_to_litert(sys.argv[1], sys.argv[2]); "
              "print(LiteRTTextClassifier(path, sys.argv[1])(['a great film'])['label_names'][0].decode())")
    done = subprocess.run([sys.executable, "-c", script, export, str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] in CLASSES
