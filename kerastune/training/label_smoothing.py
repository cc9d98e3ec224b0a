"""Sparse cross-entropy with label smoothing (Keras's sparse loss has no `label_smoothing`)."""

import keras
from keras import ops

from kerastune.api import register


@register
class SparseLabelSmoothingCrossentropy(keras.losses.Loss):
    """Cross-entropy against integer labels smoothed toward uniform (Szegedy et al., 2016, section 7):
    the target is `1 - label_smoothing + label_smoothing / K` on the label and
    `label_smoothing / K` on each of the other K - 1 classes, i.e.
    `loss = (1 - label_smoothing) * CE(label) + label_smoothing * mean_k(-log p_k)`.
    It equals `keras.losses.CategoricalCrossentropy(label_smoothing=...)` on one-hot labels.

    Args:
        label_smoothing: float in [0, 1).
        from_logits: bool, whether `y_pred` are logits.
        **kwargs: `keras.losses.Loss` arguments (`reduction`, `name`).

    Example:

    >>> loss = SparseLabelSmoothingCrossentropy(0.1, from_logits=True)
    >>> round(float(loss([0], [[0.0, 0.0]])), 4)
    0.6931
    """

    def __init__(self, label_smoothing=0.1, from_logits=True, name="sparse_label_smoothing_crossentropy", **kwargs):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1). Received: label_smoothing={label_smoothing!r}")
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        log_probabilities = ops.log_softmax(y_pred, axis=-1) if self.from_logits else ops.log(
            ops.clip(y_pred, keras.config.epsilon(), 1.0))
        labels = ops.cast(ops.reshape(y_true, ops.shape(y_pred)[:-1]), "int32")
        chosen = ops.take_along_axis(log_probabilities, labels[..., None], axis=-1)[..., 0]
        uniform = ops.mean(log_probabilities, axis=-1)
        return -((1.0 - self.label_smoothing) * chosen + self.label_smoothing * uniform)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "from_logits": self.from_logits}


def sparse_crossentropy(label_smoothing=0.0, **kwargs):
    """Keras's `SparseCategoricalCrossentropy(from_logits=True, **kwargs)`, or the smoothed loss when
    `label_smoothing > 0`: the task models' default loss."""
    if label_smoothing:
        return SparseLabelSmoothingCrossentropy(label_smoothing, from_logits=True, **kwargs)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, **kwargs)
