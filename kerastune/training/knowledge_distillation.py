"""Knowledge distillation as the student's own train step: the teacher's soft targets plus the labels."""

import tensorflow as tf

from kerastune.training.train_step_override import descend, set_train_step, weighted_mean


class KnowledgeDistillation:
    """`loss = w * task_loss(y, z_s) + (1 - w) * T^2 * KL(softmax(z_t / T) || softmax(z_s / T))`
    (Hinton et al., 2015), `z_t` the frozen teacher's logits on the same batch, `z_s` the student's.

    The soft term is averaged the way the task's loss averages: a tagger's per-position sample
    weights count, so padded and ignored positions teach nothing. Use `enable_distillation`; the
    student's `train_step` calls this one, so everything else about the student's `fit` (its
    optimizer and weight average, callbacks, early stopping, backups, export) is unchanged.
    Keras's `Distiller` wraps the student in a model of its own and drops sample weights; this
    step keeps the student the model that is fit.

    Args:
        teacher: a Keras model returning logits shaped like the student's (its weights stay fixed;
            it runs with `training=False`).
        temperature: float > 0, T of the soft targets.
        student_loss_weight: float in [0, 1], w, the weight of the task's own loss on the labels.
    """

    def __init__(self, teacher, temperature=2.0, student_loss_weight=0.5):
        self.check(temperature, student_loss_weight)
        self.teacher = teacher
        self.temperature = float(temperature)
        self.student_loss_weight = float(student_loss_weight)

    @staticmethod
    def check(temperature, student_loss_weight):
        """Raises ValueError unless `temperature > 0` and `0 <= student_loss_weight <= 1`."""
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"distillation_temperature must be > 0 (soft targets softmax(z / T)). "
                             f"Received: distillation_temperature={temperature!r}")
        if isinstance(student_loss_weight, bool) or not isinstance(student_loss_weight, (int, float)) \
                or not 0.0 <= student_loss_weight <= 1.0:
            raise ValueError(f"distillation_student_loss_weight must be in [0, 1] (the weight of the labels' loss). "
                             f"Received: distillation_student_loss_weight={student_loss_weight!r}")

    def soft_target_loss(self, teacher_logits, student_logits, sample_weight=None):
        """`T^2 * KL(p_teacher || p_student)` at temperature T, averaged as the task's loss is."""
        t = self.temperature
        log_p = tf.nn.log_softmax(tf.cast(teacher_logits, "float32") / t, axis=-1)
        log_q = tf.nn.log_softmax(tf.cast(student_logits, "float32") / t, axis=-1)
        kl = tf.reduce_sum(tf.exp(log_p) * (log_p - log_q), axis=-1)
        return t * t * weighted_mean(kl, sample_weight)

    def loss(self, model, x, y, sample_weight=None):
        """`(loss, y_pred)`: the distillation loss of one replica's batch and the student's prediction."""
        y_pred = model(x, training=True)
        teacher_logits = tf.stop_gradient(self.teacher(x, training=False))
        soft = self.soft_target_loss(teacher_logits, y_pred, sample_weight)
        w = self.student_loss_weight
        if w == 0.0:
            return soft, y_pred
        hard = model.compute_loss(x, y, y_pred, sample_weight, training=True)
        return w * hard + (1.0 - w) * soft, y_pred

    def train_step(self, model, data):
        return descend(model, data, self.loss)


def enable_distillation(model, teacher, temperature=2.0, student_loss_weight=0.5):
    """Makes `model.fit` (a `BackboneTask`: text or token classifier) learn from `teacher` too;
    returns the `KnowledgeDistillation` step. Compile `model` as usual (its loss is the labels' part).

    Args:
        model: the student.
        teacher: a Keras model whose logits have the student's shape (same classes or tags, same inputs).
        temperature, student_loss_weight: see `KnowledgeDistillation`.

    Example:

    >>> enable_distillation(student, teacher, temperature=2.0)  # doctest: +SKIP
    >>> student.compile(optimizer="adamw")  # doctest: +SKIP
    >>> student.fit(batches)  # doctest: +SKIP
    """
    teacher_shape, student_shape = tuple(teacher.outputs[0].shape), tuple(model.outputs[0].shape)
    if teacher_shape[-1] != student_shape[-1] or len(teacher_shape) != len(student_shape):
        raise ValueError(f"The teacher's logits {teacher_shape} and the student's {student_shape} differ: distillation "
                         f"needs the same task (text or token classifier) over the same classes or tags. "
                         f"Received: teacher={teacher.name!r}, student={model.name!r}")
    teacher.trainable = False
    step = KnowledgeDistillation(teacher, temperature, student_loss_weight)
    set_train_step(model, step)
    return step
