"""One train step at a time in place of Keras's: adversarial training (FGM / PGD) or R-Drop."""

import tensorflow as tf

_ATTRIBUTE = "_kerastune_train_step"


def set_train_step(model, step):
    """Makes `step.train_step(model, data)` the train step of `model` (a `BackboneTask`); call before `fit`."""
    current = train_step_of(model)
    if current is not None:
        raise ValueError(f"{model.name!r} already trains with {type(current).__name__}; one of adversarial training "
                         f"and R-Drop at a time. Received: {type(step).__name__}")
    setattr(model, _ATTRIBUTE, step)


def train_step_of(model):
    """The train step set on `model` (`set_train_step`), or None for Keras's own."""
    return getattr(model, _ATTRIBUTE, None)


def track_loss(model, loss, batch_size):
    """Records one replica's `loss` in the model's loss metric, as Keras's own TensorFlow train step
    does: `compute_loss` divides by the number of replicas, the reported loss is per example."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    model._loss_tracker.update_state(loss * replicas, sample_weight=batch_size)
