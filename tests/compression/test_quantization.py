import keras
import numpy as np
import pytest

from kerastune.compression import quantized_copy
from tests.compression.conftest import assert_served_as_keras, features


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
    assert_served_as_keras(served, "int8", compressed_exports[1], fitted[1])


def test_unknown_mode_is_refused(fitted):
    with pytest.raises(ValueError, match="Received: mode='int3'"):
        quantized_copy(fitted[0], "int3")
