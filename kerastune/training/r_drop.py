"""R-Drop (Liang et al., 2021): two dropout passes per batch, kept consistent by a symmetric KL term."""

import tensorflow as tf

from kerastune.training.train_step_override import descend, set_train_step, weighted_mean


class RDrop:
    """`loss = (CE(p1) + CE(p2)) / 2 + alpha * (KL(p1 || p2) + KL(p2 || p1)) / 2`, where p1 and p2 are
    the model's predictions for the same batch under two dropout samples (section 2 of the paper).

    The KL term is averaged the way the task's loss averages (a tagger's per-position sample
    weights count). Use `enable_r_drop(model, alpha)`; the model's `train_step` calls this one.

    Args:
        alpha: float > 0, the weight of the consistency term.
    """

    def __init__(self, alpha=1.0):
        if not alpha > 0:
            raise ValueError(f"r_drop_alpha must be > 0. Received: r_drop_alpha={alpha!r}")
        self.alpha = float(alpha)

    @staticmethod
    def symmetric_kl(logits_1, logits_2):
        """(KL(p1 || p2) + KL(p2 || p1)) / 2 per prediction, from logits (batch, ..., classes)."""
        log_p1, log_p2 = tf.nn.log_softmax(logits_1, axis=-1), tf.nn.log_softmax(logits_2, axis=-1)
        return 0.5 * tf.reduce_sum((tf.exp(log_p1) - tf.exp(log_p2)) * (log_p1 - log_p2), axis=-1)

    def loss(self, model, x, y, sample_weight=None):
        """`(loss, y_pred_1, y_pred_2)`: the R-Drop loss of one replica's batch and its two predictions."""
        y_pred_1 = model(x, training=True)
        y_pred_2 = model(x, training=True)  # another dropout sample
        cross_entropy = 0.5 * (model.compute_loss(x, y, y_pred_1, sample_weight, training=True)
                               + model.compute_loss(x, y, y_pred_2, sample_weight, training=True))
        kl = weighted_mean(self.symmetric_kl(tf.cast(y_pred_1, "float32"), tf.cast(y_pred_2, "float32")),
                           sample_weight)
        return cross_entropy + self.alpha * kl, y_pred_1, y_pred_2

    def train_step(self, model, data):
        return descend(model, data, lambda *batch: self.loss(*batch)[:2])  # metrics of the first pass


def enable_r_drop(model, alpha=1.0):
    """Makes `model.fit` train with R-Drop (TensorFlow backend); returns the `RDrop` step.

    Example:

    >>> enable_r_drop(classifier, alpha=1.0)  # doctest: +SKIP
    """
    step = RDrop(alpha)
    set_train_step(model, step)
    return step
