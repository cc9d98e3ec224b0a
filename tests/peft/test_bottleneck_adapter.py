import keras
import numpy as np
import pytest

from kerastune.peft.bottleneck_adapter import BottleneckAdapter
from tests.helpers import assert_layer_saves, randomize_weights


def _adapter(**kwargs):
    base = keras.layers.Dense(8)
    base.build((None, 6))
    return base, BottleneckAdapter(base, adapter_size=3, activation="relu", **kwargs)


def test_matches_the_houlsby_formula_and_starts_near_identity():
    base, adapter = _adapter()
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    h = keras.ops.convert_to_numpy(base(x))
    y = keras.ops.convert_to_numpy(adapter(x))
    assert np.abs(y - h).max() < 0.05 * np.abs(h).max()  # near-identity initialisation
    randomize_weights(adapter.down.weights + adapter.up.weights, seed=1)
    down_w, down_b = (keras.ops.convert_to_numpy(w) for w in adapter.down.weights)
    up_w, up_b = (keras.ops.convert_to_numpy(w) for w in adapter.up.weights)
    expected = h + np.maximum(h @ down_w + down_b, 0.0) @ up_w + up_b
    np.testing.assert_allclose(adapter(x), expected, rtol=1e-5, atol=1e-5)


def test_bad_size_is_named():
    base = keras.layers.Dense(8)
    base.build((None, 6))
    with pytest.raises(ValueError, match="adapter_size must be a positive int. Received: adapter_size=0"):
        BottleneckAdapter(base, adapter_size=0)


def test_serializes_and_saves(tmp_path):
    _, adapter = _adapter()
    assert_layer_saves(adapter, np.random.default_rng(2).normal(size=(3, 6)).astype("float32"), tmp_path)
