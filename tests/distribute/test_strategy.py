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
