"""An ensemble of classifiers over the same inputs, one model: the mean of their probabilities."""

import keras
from keras import ops

from kerastune.api import register
from kerastune.models.bert_encoder import INPUT_NAMES
from kerastune.training.label_smoothing import sparse_crossentropy


@register
class MeanProbabilityLogits(keras.layers.Layer):
    """`log(mean_i softmax(logits_i))` over a list of (batch, ..., classes) logits: logits whose softmax
    is the members' mean probability (a plain average of logits would be a different, geometric mean)."""

    def call(self, logits):
        probabilities = ops.stack([ops.softmax(ops.cast(z, "float32"), axis=-1) for z in logits], axis=0)
        return ops.log(ops.maximum(ops.mean(probabilities, axis=0), 1e-30))

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


@register
class EnsembleClassifier(keras.Model):
    """Averages the probabilities of `members` (text or token classifiers over the same inputs).

    Outputs logits `log(mean probability)`, so everything that takes a classifier's logits
    (evaluation, `softmax`, the string-in export) takes the ensemble.

    Args:
        members: list of >= 2 Keras models taking `{"token_ids", "segment_ids", "padding_mask"}` and
            returning logits of the same shape (e.g. `TextClassifier`s fine-tuned with other seeds).

    Example:

    >>> ensemble = EnsembleClassifier([run_a.model, run_b.model])  # doctest: +SKIP
    """

    def __init__(self, members, **kwargs):
        members = list(members)
        if len(members) < 2:
            raise ValueError(f"An ensemble needs at least two members. Received: {len(members)} member(s)")
        inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in INPUT_NAMES}
        logits = MeanProbabilityLogits(name="mean_probability")([member(inputs) for member in members])
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.members = members

    def compile(self, optimizer=None, loss="auto", metrics="auto", **kwargs):
        """For evaluation: sparse cross-entropy of the mean probability, accuracy (an ensemble is not trained)."""
        if loss == "auto":
            loss = sparse_crossentropy()
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        return {"members": [keras.saving.serialize_keras_object(m) for m in self.members], "name": self.name,
                "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["members"] = [keras.saving.deserialize_keras_object(m) for m in config["members"]]
        return cls(**config)
