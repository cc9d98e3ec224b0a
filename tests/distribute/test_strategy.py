import pytest
import tensorflow as tf

from kerastune.distribute import get_strategy


def test_auto_on_a_cpu_machine_is_the_default_strategy():
    assert get_strategy("auto") is tf.distribute.get_strategy()


def test_named_strategies():
    assert isinstance(get_strategy("one_device"), tf.distribute.OneDeviceStrategy)
    mirrored = get_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert get_strategy(mirrored) is mirrored


def test_tpu_without_a_tpu_and_unknown_names_are_errors():
    with pytest.raises(RuntimeError, match="no TPU resolves"):
        get_strategy("tpu")
    with pytest.raises(ValueError, match="strategy must be one of"):
        get_strategy("gpu_please")


def test_two_mirrored_runs_in_one_process_both_train():
    """Two models, each under its own mirrored strategy, one after the other (a notebook's second run)."""
    import keras
    import numpy as np

    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    for width in (5, 7):  # different variable shapes: a reused collective key would mismatch them
        strategy = get_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(width), keras.layers.Dense(1)])
            model.compile(optimizer="adam", loss="mse")
        history = model.fit(x, x[:, :1], batch_size=8, epochs=2, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
