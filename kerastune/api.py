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
