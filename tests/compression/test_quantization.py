import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastune.compression import quantized_copy
from kerastune.data.bert_inputs import dense_inputs, tokenize_and_pack
from tests.compression.conftest import features
from tests.export.conftest import TEXTS


def test_int8_copy_stores_int8_kernels_and_answers_close_to_float(fitted, compressed_exports):
    model, _, _ = fitted
    _, int8 = compressed_exports
    kernels = [v for v in int8.variables if v.name == "kernel"]
    assert kernels and all(keras.backend.standardize_dtype(v.dtype) == "int8" for v in kernels)
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in model.variables if v.name == "kernel")
    x = features(6, 10, seed=3)
    want = keras.ops.convert_to_numpy(keras.ops.softmax(model(x)))
    got = keras.ops.convert_to_numpy(keras.ops.softmax(int8(x)))
    np.testing.assert_allclose(got, want, atol=0.02)  # abs-max int8: about 1% of each weight's range


def test_int8_export_serves_strings_with_tensorflow_alone(fitted, compressed_exports, served):
    _, tokenizer, _ = fitted
    _, int8 = compressed_exports
    ids, segments, _ = tokenize_and_pack(tokenizer, tf.constant(TEXTS), None, 12)
    want = keras.ops.convert_to_numpy(keras.ops.softmax(int8(dense_inputs(ids, segments, multiple=8, limit=12))))
    np.testing.assert_allclose(served["answers"]["int8"]["probabilities"], want, atol=1e-5)
    assert served["modules"] == []
    bad = served["answers"]["int8_bad_input"]
    assert "error" not in bad and bad["num_tokens"][0] == 0 and bad["truncated"][1]
    assert served["answers"]["int8_no_text"]["probabilities"] == []


def test_unknown_mode_is_refused(fitted):
    with pytest.raises(ValueError, match="Received: mode='int3'"):
        quantized_copy(fitted[0], "int3")
