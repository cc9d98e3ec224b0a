"""One train step at a time in place of Keras's: adversarial training (FGM / PGD), R-Drop or
knowledge distillation."""

import keras
import tensorflow as tf

_ATTRIBUTE = "_kerastune_train_step"


def set_train_step(model, step):
    """Makes `step.train_step(model, data)` the train step of `model` (a `BackboneTask`); call before `fit`."""
    current = train_step_of(model)
    if current is not None:
        raise ValueError(f"{model.name!r} already trains with {type(current).__name__}; one of adversarial training, "
                         f"R-Drop and distillation at a time. Received: {type(step).__name__}")
    setattr(model, _ATTRIBUTE, step)


def train_step_of(model):
    """The train step set on `model` (`set_train_step`), or None for Keras's own."""
    return getattr(model, _ATTRIBUTE, None)


def track_loss(model, loss, batch_size):
    """Records one replica's `loss` in the model's loss metric, as Keras's own TensorFlow train step
    does: `compute_loss` divides by the number of replicas, the reported loss is per example."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    model._loss_tracker.update_state(loss * replicas, sample_weight=batch_size)


def weighted_mean(values, sample_weight=None):
    """The mean of per-prediction `values` (batch, ...) the way the task's loss averages: weighted by
    `sample_weight` when given (a tagger's padded and ignored positions weigh 0), divided by the
    number of replicas as Keras's `compute_loss` is (gradients are summed across replicas)."""
    if sample_weight is None:
        mean = tf.reduce_mean(values)
    else:
        weight = tf.cast(tf.reshape(sample_weight, tf.shape(values)), values.dtype)
        mean = tf.reduce_sum(values * weight) / tf.maximum(tf.reduce_sum(weight), 1e-12)
    return mean / tf.distribute.get_strategy().num_replicas_in_sync


def descend(model, data, loss_fn):
    """One optimizer step on `loss_fn(model, x, y, sample_weight) -> (loss, y_pred)`; returns the
    metrics of `y_pred`, as Keras's own train step does."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    with tf.GradientTape() as tape:
        loss, y_pred = loss_fn(model, x, y, sample_weight)
        track_loss(model, loss, tf.shape(tf.nest.flatten(x)[0])[0])
        scaled = model.optimizer.scale_loss(loss)
    weights = model.trainable_weights
    model.optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
