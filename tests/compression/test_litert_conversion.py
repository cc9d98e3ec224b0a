import pytest

import keras
import numpy as np

from kerastune.compression import LiteRTClassifier, convert_to_litert

from tests.compression.conftest import features

pytestmark = pytest.mark.slow  # LiteRT conversion takes ~20 s; benchmarks/compress.py measures it on SST-2


def test_litert_answers_the_keras_models_probabilities(fitted, compressed_exports, tmp_path):
    model, tokenizer, _ = fitted
    path = convert_to_litert(compressed_exports[0]["pruned"], str(tmp_path))
    assert open(tmp_path / "vocab.txt", encoding="utf-8").read().splitlines() == tokenizer.get_vocabulary()
    litert = LiteRTClassifier(path)
    for batch, width in ((1, 5), (4, 12), (3, 7)):  # any batch and length, one interpreter
        x = features(batch, width, seed=width)
        want = keras.ops.convert_to_numpy(keras.ops.softmax(model(x)))
        np.testing.assert_allclose(litert(x), want, atol=1e-4)
