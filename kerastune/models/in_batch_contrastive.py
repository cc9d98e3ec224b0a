"""Contrastive training of a sentence encoder with in-batch negatives (sentence-transformers'
MultipleNegativesRankingLoss; the InfoNCE loss of SimCSE and of dense passage retrieval)."""

import keras
from keras import ops

from kerastune.api import base_model_config, register, restore_dtype_policy
from kerastune.models.classifier_defaults import classifier_compile_arguments

# What a masked-out candidate scores: far below any scaled cosine (|scale x cosine| <= scale); finite, so a
# row's softmax never sees -inf.
MASKED_SCORE = -1e4


@register
class InBatchContrastive(keras.Model):
    """Trains `encoder` so that each anchor's embedding is closer to its own positive than to the batch's others.

    For a batch of `b` (anchor, positive[, negative]) texts, the model scores every anchor against
    every candidate, the `b` positives and the `b` hard negatives when given:
    `logits[i, j] = scale * cosine(anchor_i, candidate_j)`, shape (b, b) or (b, 2b). The loss is the
    cross-entropy of picking candidate `i` for anchor `i`: every other text of the batch is a
    negative for free. With `group` ids in the batch (texts paired because they share a label),
    the positives of other anchors of the same group are not negatives: they are masked out.

    The targets come from the batch itself (anchor `i`'s is candidate `i`), so the data holds no
    labels, and under a `tf.distribute` strategy each replica contrasts its own part of the batch.
    Keras metrics compiled with the model (default: accuracy, the fraction of anchors whose own
    positive scores highest) see the same targets.

    Args:
        encoder: a `SentenceEncoder` (or any model mapping the backbone inputs to (batch, dim)).
        scale: float > 0, the inverse temperature on the cosine similarities (sentence-transformers: 20).

    Call arguments:
        inputs: dict with `anchor` and `positive` (each a dict of the encoder's inputs), optionally
            `negative` (the same) and `group` (int (batch,)).

    Returns:
        logits, float32 (batch, batch) or (batch, 2 * batch) with negatives.

    Example:

    >>> import numpy as np, keras_hub  # doctest: +SKIP
    >>> backbone = keras_hub.models.BertBackbone(100, 1, 2, 8, 16, max_sequence_length=16)  # doctest: +SKIP
    >>> model = InBatchContrastive(SentenceEncoder(backbone))  # doctest: +SKIP
    >>> model.compile(optimizer="adam")  # doctest: +SKIP
    >>> model.fit(pair_batches, steps_per_epoch=100)  # doctest: +SKIP
    """

    def __init__(self, encoder, scale=20.0, **kwargs):
        self.check_scale(scale)
        super().__init__(**kwargs)
        self.encoder = encoder
        self.scale = float(scale)

    @staticmethod
    def check_scale(scale):
        """Raises a clear error unless `scale` is a positive number."""
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(f"scale must be a positive number (the inverse temperature; 20 = temperature 0.05). "
                             f"Received: scale={scale!r}")

    def _embed(self, inputs, training):
        return ops.normalize(ops.cast(self.encoder(inputs, training=training), "float32"), axis=-1)

    def call(self, inputs, training=None):
        for key in ("anchor", "positive"):
            if key not in inputs:
                raise ValueError(f"InBatchContrastive takes a dict with 'anchor' and 'positive' (and optionally "
                                 f"'negative' and 'group'). Received: keys {sorted(inputs)}")
        anchors = self._embed(inputs["anchor"], training)  # (b, dim)
        candidates = [self._embed(inputs["positive"], training)]
        if "negative" in inputs:
            candidates.append(self._embed(inputs["negative"], training))
        candidates = ops.concatenate(candidates, axis=0)  # (b or 2b, dim)
        logits = self.scale * ops.matmul(anchors, ops.transpose(candidates))  # (b, b or 2b)
        if "group" in inputs:
            logits = _masked_same_group(logits, inputs["group"])
        return logits

    def _targets(self, logits):
        return ops.arange(ops.shape(logits)[0], dtype="int32")  # anchor i's own positive is candidate i

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return super().compute_loss(x, self._targets(y_pred), y_pred, sample_weight, training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, self._targets(y_pred), y_pred, sample_weight)

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Compiles with the contrastive defaults: Adam, sparse cross-entropy on the logits and in-batch accuracy."""
        super().compile(**classifier_compile_arguments(optimizer, loss, metrics, lambda: keras.optimizers.Adam(2e-5)),
                        **kwargs)

    def get_config(self):
        return {"encoder": keras.saving.serialize_keras_object(self.encoder), "scale": self.scale,
                **base_model_config(self)}

    @classmethod
    def from_config(cls, config):
        config = restore_dtype_policy(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


def _masked_same_group(logits, group):
    """`logits` with anchor i's score of positive j (j != i) set to `MASKED_SCORE` where groups i and j agree."""
    size = ops.shape(logits)[0]
    group = ops.reshape(group, (-1,))
    index = ops.arange(size)
    same = ops.logical_and(ops.equal(group[:, None], group[None, :]), ops.not_equal(index[:, None], index[None, :]))
    positives = ops.where(same, MASKED_SCORE, logits[:, :size])
    return ops.concatenate([positives, logits[:, size:]], axis=1)
