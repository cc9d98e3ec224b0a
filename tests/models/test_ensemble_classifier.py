import keras
import keras_hub
import numpy as np

from kerastune.models.ensemble_classifier import EnsembleClassifier
from kerastune.models.text_classifier import TextClassifier
from tests.helpers import assert_keras_save_load

INPUTS = {"token_ids": np.array([[2, 5, 3, 0]], "int32"), "segment_ids": np.zeros((1, 4), "int32"),
          "padding_mask": np.array([[1, 1, 1, 0]], "int32")}


def _member(seed):
    keras.utils.set_random_seed(seed)
    return TextClassifier(keras_hub.models.BertBackbone(10, 1, 2, 8, 16, max_sequence_length=8), 3, pooling="mean")


def test_softmax_of_the_output_is_the_mean_probability_and_it_saves(tmp_path):
    members = [_member(0), _member(1)]
    ensemble = EnsembleClassifier(members)
    mean = np.mean([keras.ops.convert_to_numpy(keras.ops.softmax(m(INPUTS))) for m in members], axis=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(ensemble(INPUTS))), mean, atol=1e-6)
    assert_keras_save_load(ensemble, INPUTS, tmp_path)
