"""The classic Keras MLP for images: Flatten -> Dense(relu) -> Dropout -> Dense logits."""

import keras

from kerastune.api import base_model_config, keep_dtype_policy, register, restore_dtype_policy
from kerastune.arguments import check_num_classes, check_rates
from kerastune.models.classifier_defaults import classifier_compile_arguments


@register
class MLPClassifier(keras.Model):
    """The first model of the Keras and TensorFlow tutorials, as a serializable functional model.

    `pixels * pixel_scale` -> `Flatten` -> `Dense(hidden_dim, relu)` -> `Dropout(dropout)` ->
    `Dense(num_classes)`. The output is **logits** (batch, num_classes), not probabilities: the loss
    takes `from_logits=True`, which is numerically stabler than a softmax layer followed by a log (the
    TensorFlow beginner tutorial makes the same choice); probabilities are `softmax(logits)`, which
    the image-classifier export adds. The input scaling lives in the model (a `Rescaling` layer), so
    a served model takes the raw pixels it was trained on (0..16 for scikit-learn's digits with
    `pixel_scale=1/16`, 0..255 for MNIST with `pixel_scale=1/255`).

    Args:
        num_classes: int >= 2.
        image_shape: tuple of ints, one image's shape, e.g. `(8, 8)` or `(28, 28, 1)`.
        hidden_dim: int, units of the hidden ReLU layer.
        dropout: float in [0, 1), dropout after the hidden layer.
        pixel_scale: float, multiplies the pixels first (1 / the largest pixel value maps them to [0, 1]).
        **kwargs: base `keras.Model` arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        pixels: float (batch, *image_shape).
        training: bool, whether dropout is active.

    Returns:
        float32 logits (batch, num_classes).

    Example:

    >>> import numpy as np
    >>> model = MLPClassifier(num_classes=10, image_shape=(8, 8), hidden_dim=32, pixel_scale=1 / 16)
    >>> model(np.zeros((2, 8, 8), "float32")).shape
    TensorShape([2, 10])
    >>> model.compile()  # Adam(1e-3), sparse categorical crossentropy on logits, accuracy
    """

    def __init__(self, num_classes, image_shape, hidden_dim=128, dropout=0.2, pixel_scale=1.0, **kwargs):
        check_num_classes(num_classes)
        image_shape = tuple(image_shape)
        if not image_shape or not all(isinstance(d, int) and d > 0 for d in image_shape):
            raise ValueError(
                f"image_shape must be a tuple of positive ints, e.g. (8, 8). Received: image_shape={image_shape!r}"
            )
        if isinstance(hidden_dim, bool) or not isinstance(hidden_dim, int) or hidden_dim < 1:
            raise ValueError(f"hidden_dim must be a positive integer. Received: hidden_dim={hidden_dim!r}")
        check_rates(dropout=dropout)
        if not pixel_scale > 0:
            raise ValueError(f"pixel_scale must be a positive float. Received: pixel_scale={pixel_scale!r}")
        dtype = kwargs.get("dtype")
        self.rescaling = keras.layers.Rescaling(pixel_scale, dtype=dtype, name="rescaling")
        self.flatten = keras.layers.Flatten(dtype=dtype, name="flatten")
        self.hidden_dense = keras.layers.Dense(hidden_dim, activation="relu", dtype=dtype, name="hidden_dense")
        self.hidden_dropout = keras.layers.Dropout(dropout, dtype=dtype, name="hidden_dropout")
        # float32 logits under mixed precision, so the softmax and the loss stay stable.
        self.output_dense = keras.layers.Dense(num_classes, dtype="float32", name="logits")

        pixels = keras.Input(image_shape, dtype="float32", name="pixels")
        x = self.flatten(self.rescaling(pixels))  # (batch, prod(image_shape))
        x = self.hidden_dropout(self.hidden_dense(x))  # (batch, hidden_dim)
        super().__init__(inputs=pixels, outputs=self.output_dense(x), **kwargs)
        keep_dtype_policy(self, dtype)
        self.num_classes = num_classes
        self.image_shape = image_shape
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.pixel_scale = float(pixel_scale)

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Compiles with the classic defaults: Adam(1e-3), sparse categorical crossentropy on logits, accuracy."""
        super().compile(**classifier_compile_arguments(optimizer, loss, metrics, lambda: keras.optimizers.Adam(1e-3)), **kwargs)

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "image_shape": list(self.image_shape),
            "hidden_dim": self.hidden_dim,
            "dropout": self.dropout,
            "pixel_scale": self.pixel_scale,
            **base_model_config(self),
        }

    @classmethod
    def from_config(cls, config):
        config = restore_dtype_policy(config)
        return cls(**config)
