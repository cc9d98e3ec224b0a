"""Pick the `tf.distribute.Strategy` a recipe builds its model and optimizer under."""

import tensorflow as tf

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")


def _resolve_tpu(tpu_address=""):
    """Returns a TPUStrategy if a TPU resolves (Colab, Cloud TPU VM), else None."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.NotFoundError, tf.errors.InvalidArgumentError):
        return None
    return tf.distribute.TPUStrategy(resolver)


def get_strategy(name="auto", devices=None):
    """Returns the strategy named, or picks one.

    `"auto"` picks TPUStrategy when a TPU resolves, MirroredStrategy over all GPUs when there are
    several, and the default strategy otherwise. Other names: `"default"`, `"one_device"`,
    `"mirrored"` (over `devices`, or all GPUs, or all logical CPUs), `"multi_worker"`
    (MultiWorkerMirroredStrategy, configured by `TF_CONFIG`; Keras 3's `fit` does not run under it,
    keras-team/keras#20585, so recipes train there with `MultiWorkerTrainer`) and `"tpu"` (an error
    when none resolves).
    A `tf.distribute.Strategy` instance is returned unchanged.

    Args:
        name: str or `tf.distribute.Strategy`.
        devices: optional list of device names for `"mirrored"` / `"one_device"`.

    Example:

    >>> strategy = get_strategy("default")
    >>> with strategy.scope():
    ...     pass
    """
    if isinstance(name, tf.distribute.Strategy):
        return name
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES} or a tf.distribute.Strategy; received {name!r}")
    if name == "auto":
        if tf.config.list_logical_devices("TPU") or _tpu_configured():
            strategy = _resolve_tpu()
            if strategy is not None:
                return strategy
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        device = (devices or [_first_device()])[0]
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        if devices is None:
            gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
            devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
        if all("GPU" not in device.upper() for device in devices):
            # On CPUs, sum the replicas' gradients on one device instead of with collective ops: the
            # collectives of two MirroredStrategy objects in one process (two runs in a notebook) share
            # instance keys and the second run fails with "Shape mismatch in the collective instance".
            return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    strategy = _resolve_tpu()
    if strategy is None:
        raise RuntimeError("strategy='tpu' was asked for but no TPU resolves; on Colab pick a TPU runtime")
    return strategy


def _tpu_configured():
    import os

    return bool(os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"))


def _first_device():
    gpus = tf.config.list_logical_devices("GPU")
    return (gpus or tf.config.list_logical_devices("CPU"))[0].name


def use_logical_cpus(count):
    """Splits the host CPU into `count` logical devices (for testing strategies without GPUs).

    Must be called before TensorFlow initialises its devices; returns the logical device names.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if not current or len(current) != count:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    return [d.name for d in tf.config.list_logical_devices("CPU")]
