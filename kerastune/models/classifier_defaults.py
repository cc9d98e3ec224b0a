"""What `compile()` fills in for every classifier when an argument is left at "auto"."""

import keras

from kerastune.training.label_smoothing import sparse_crossentropy


def classifier_compile_arguments(optimizer, loss, metrics, default_optimizer, label_smoothing=0.0):
    """`optimizer`, `loss`, `metrics` with each "auto" replaced by the classifier defaults.

    Args:
        optimizer, loss, metrics: what the user passed to `compile`; "auto" takes the default.
        default_optimizer: a callable returning the model's default optimizer (built only when used).
        label_smoothing: float, smoothing of the default sparse cross-entropy on logits.

    Returns:
        dict with `optimizer`, `loss` (sparse cross-entropy on logits by default) and `metrics`
        (`[SparseCategoricalAccuracy(name="accuracy")]` by default), for `keras.Model.compile`.
    """
    return {
        "optimizer": default_optimizer() if optimizer == "auto" else optimizer,
        "loss": sparse_crossentropy(label_smoothing) if loss == "auto" else loss,
        "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")] if metrics == "auto" else metrics,
    }


def logits_layer(units, name="logits"):
    """A classifier's output layer: `Dense(units)` with BERT's truncated N(0, 0.02) kernel initializer,
    computing float32 logits whatever the dtype policy (so mixed precision keeps the loss stable)."""
    return keras.layers.Dense(
        units, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02), name=name, dtype="float32"
    )
