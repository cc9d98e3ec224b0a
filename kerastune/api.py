"""One helper that makes a class public and serializable at once."""

import keras

PACKAGE = "kerastune"


def register(cls):
    """Registers `cls` for `.keras` saving under the `kerastune>` namespace.

    Example:

    ```python
    @register
    class MyLayer(keras.layers.Layer):
        ...
    ```
    """
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


def base_model_config(model):
    """The `name`, `trainable` and `dtype` entries that a subclassed model's `get_config()` ends with.

    Example: `return {"hidden_dim": self.hidden_dim, **base_model_config(self)}`.
    """
    return {
        "name": model.name,
        "trainable": model.trainable,
        "dtype": keras.dtype_policies.serialize(model.dtype_policy),
    }


def keep_dtype_policy(model, dtype):
    """Gives a functional model the `dtype` policy its layers were built with.

    Keras's functional `Model` drops a `dtype` argument (the model's own policy stays float32), so
    `base_model_config` would save float32 and a loaded model would be rebuilt in float32. Call it
    right after `super().__init__(inputs=..., outputs=...)`.
    """
    if dtype is not None:
        model.dtype_policy = keras.dtype_policies.get(dtype)


def restore_dtype_policy(config):
    """A copy of a `base_model_config` config whose `dtype` is a dtype policy again, for `from_config`."""
    config = dict(config)
    config["dtype"] = keras.dtype_policies.deserialize(config["dtype"]) if config.get("dtype") else None
    return config
