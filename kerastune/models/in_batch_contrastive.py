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
    labels. Under a `tf.distribute` strategy each replica's anchors are scored against the candidates
    of every replica (`all_gather`, whose gradient flows back to the replica that embedded each one),
    so a batch has as many negatives on 8 devices as on one, and a step computes the loss of the whole
    batch; `gather_across_replicas=False` contrasts each replica's part alone. Keras metrics compiled
    with the model (default: accuracy, the fraction of anchors whose own positive scores highest) see
    the same targets.

    Args:
        encoder: a `SentenceEncoder` (or any model mapping the backbone inputs to (batch, dim)).
        scale: float > 0, the inverse temperature on the cosine similarities (sentence-transformers: 20).
        gather_across_replicas: bool, score each replica's anchors against every replica's candidates.

    Call arguments:
        inputs: dict with `anchor` and `positive` (each a dict of the encoder's inputs), optionally
            `negative` (the same) and `group` (int (batch,)).

    Returns:
        logits, float32 (batch, batch) or (batch, 2 * batch) with negatives (under a strategy, this
        replica's anchors against the whole batch's candidates).

    Example:

    >>> import numpy as np, keras_hub  # doctest: +SKIP
    >>> backbone = keras_hub.models.BertBackbone(100, 1, 2, 8, 16, max_sequence_length=16)  # doctest: +SKIP
    >>> model = InBatchContrastive(SentenceEncoder(backbone))  # doctest: +SKIP
    >>> model.compile(optimizer="adam")  # doctest: +SKIP
    >>> model.fit(pair_batches, steps_per_epoch=100)  # doctest: +SKIP
    """

    def __init__(self, encoder, scale=20.0, gather_across_replicas=True, **kwargs):
        self.check_scale(scale)
        super().__init__(**kwargs)
        self.encoder = encoder
        self.scale = float(scale)
        self.gather_across_replicas = bool(gather_across_replicas)

    @staticmethod
    def check_scale(scale):
        """Raises a clear error unless `scale` is a positive number."""
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(f"scale must be a positive number (the inverse temperature; 20 = temperature 0.05). "
                             f"Received: scale={scale!r}")

    def _embed(self, inputs, training):
        return ops.normalize(ops.cast(self.encoder(inputs, training=training), "float32"), axis=-1)

    def _replica_context(self):
        """The `tf.distribute` replica context when this batch is one replica's part of it and candidates are
        gathered across replicas; None otherwise."""
        if not self.gather_across_replicas or keras.backend.backend() != "tensorflow":
            return None
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        return context if context is not None and context.num_replicas_in_sync > 1 else None

    def _first_target(self, size):
        """The candidate index of this replica's first anchor: the anchors of the replicas before it (0 alone)."""
        context = self._replica_context()
        if context is None:
            return 0
        if "TPU" in type(context.strategy).__name__:  # every replica's batch has one static size there
            return ops.cast(context.replica_id_in_sync_group, "int32") * ops.cast(size, "int32")
        # each replica's batch: a last (validation) batch may split unevenly
        sizes = context.all_gather(ops.reshape(ops.cast(size, "int32"), (1,)), axis=0)
        return ops.sum(sizes[:context.replica_id_in_sync_group])

    def call(self, inputs, training=None):
        for key in ("anchor", "positive"):
            if key not in inputs:
                raise ValueError(f"InBatchContrastive takes a dict with 'anchor' and 'positive' (and optionally "
                                 f"'negative' and 'group'). Received: keys {sorted(inputs)}")
        anchors = self._embed(inputs["anchor"], training)  # (b, dim)
        candidates = [self._embed(inputs["positive"], training)]
        if "negative" in inputs:
            candidates.append(self._embed(inputs["negative"], training))
        group = ops.reshape(ops.cast(inputs["group"], "int32"), (-1,)) if "group" in inputs else None
        candidate_group = group
        context = self._replica_context()
        if context is not None:  # every replica's positives and negatives are candidates (gradients flow back)
            candidates = context.all_gather(candidates, axis=0)
            if group is not None:  # apart: an all_gather's tensors must all be on the device or all on the host
                candidate_group = context.all_gather(group, axis=0)
        logits = self.scale * ops.matmul(anchors, ops.transpose(ops.concatenate(candidates, axis=0)))
        if group is not None:
            logits = _masked_same_group(logits, group, candidate_group, self._targets(logits))
        return logits  # (b, B) or (b, 2B), B the global batch: b on one device

    def _targets(self, logits):
        size = ops.shape(logits)[0]
        return self._first_target(size) + ops.arange(size, dtype="int32")  # anchor i's own positive

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
                "gather_across_replicas": self.gather_across_replicas, **base_model_config(self)}

    @classmethod
    def from_config(cls, config):
        config = restore_dtype_policy(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


def _masked_same_group(logits, group, candidate_group, own):
    """`logits` with anchor i's score of positive j set to `MASKED_SCORE` where their groups agree, but for
    its own positive (`own[i]`, its target); the hard negatives' scores are kept."""
    width = ops.shape(candidate_group)[0]
    same = ops.logical_and(ops.equal(group[:, None], candidate_group[None, :]),
                           ops.not_equal(own[:, None], ops.arange(width, dtype="int32")[None, :]))
    positives = ops.where(same, MASKED_SCORE, logits[:, :width])
    return ops.concatenate([positives, logits[:, width:]], axis=1)
