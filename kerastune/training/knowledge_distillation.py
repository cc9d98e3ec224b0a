"""Knowledge distillation as the student's own train step: the teacher's soft targets plus the labels,
and optionally the teacher's similarities between the texts of a batch."""

import keras
import tensorflow as tf

from kerastune.training.teacher_labels import split_teacher_logits
from kerastune.training.train_step_override import descend, set_train_step, weighted_mean


class KnowledgeDistillation:
    """`loss = w * task_loss(y, z_s) + (1 - w) * T^2 * KL(softmax(z_t / T) || softmax(z_s / T))
    [+ beta * similarity_loss(h_t, h_s)]` (Hinton et al., 2015), `z_t` the frozen teacher's logits on
    the same batch (or, read from the labels, the teacher's logits `label_with_teacher` kept for it), `z_s`
    the student's.

    A binary classifier's soft targets carry one number per text. With `similarity_weight` beta > 0
    (text classifiers), the student also learns how alike the teacher finds the texts of each batch:
    `h` is the pooled text features each classifier's head reads, and `similarity_loss` the mean
    squared difference of the two batches' cosine-similarity matrices (similarity-preserving
    distillation, Tung & Mori 2019, on cosines): no projection, so students of any width take it.

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
        similarity_weight: float >= 0, beta; 0 leaves the features out.
        student: the student model, needed when `similarity_weight` > 0.
    """

    def __init__(self, teacher, temperature=2.0, student_loss_weight=0.5, similarity_weight=0.0, student=None):
        self.check(temperature, student_loss_weight, similarity_weight)
        self.teacher = teacher
        self.temperature = float(temperature)
        self.student_loss_weight = float(student_loss_weight)
        self.similarity_weight = float(similarity_weight)
        if self.similarity_weight > 0:
            if student is None:
                raise ValueError("similarity_weight > 0 reads the student's features: pass student=, or use "
                                 "enable_distillation(student, teacher, similarity_weight=...)")
            self.teacher_with_features = with_text_features(teacher)
            self.student_with_features = with_text_features(student)

    @staticmethod
    def check(temperature, student_loss_weight, similarity_weight=0.0):
        """Raises ValueError unless `temperature > 0`, `0 <= student_loss_weight <= 1` and `similarity_weight >= 0`."""
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"distillation_temperature must be > 0 (soft targets softmax(z / T)). "
                             f"Received: distillation_temperature={temperature!r}")
        if isinstance(student_loss_weight, bool) or not isinstance(student_loss_weight, (int, float)) \
                or not 0.0 <= student_loss_weight <= 1.0:
            raise ValueError(f"distillation_student_loss_weight must be in [0, 1] (the weight of the labels' loss). "
                             f"Received: distillation_student_loss_weight={student_loss_weight!r}")
        if isinstance(similarity_weight, bool) or not isinstance(similarity_weight, (int, float)) \
                or not similarity_weight >= 0:
            raise ValueError(f"distillation_similarity_weight must be >= 0 (0: the texts' similarities are not "
                             f"matched). Received: distillation_similarity_weight={similarity_weight!r}")

    def soft_target_loss(self, teacher_logits, student_logits, sample_weight=None):
        """`T^2 * KL(p_teacher || p_student)` at temperature T, averaged as the task's loss is."""
        t = self.temperature
        log_p = tf.nn.log_softmax(tf.cast(teacher_logits, "float32") / t, axis=-1)
        log_q = tf.nn.log_softmax(tf.cast(student_logits, "float32") / t, axis=-1)
        kl = tf.reduce_sum(tf.exp(log_p) * (log_p - log_q), axis=-1)
        return t * t * weighted_mean(kl, sample_weight)

    def loss(self, model, x, y, sample_weight=None, teacher_logits=None):
        """`(loss, y_pred)`: the distillation loss of one replica's batch and the student's prediction
        (`teacher_logits`: the teacher's on this batch, as `label_with_teacher` keeps them; None runs the teacher)."""
        if teacher_logits is not None:
            if self.similarity_weight > 0:
                raise ValueError("similarity_weight > 0 reads the teacher's features, which label_with_teacher does "
                                 "not keep: set similarity_weight=0, or fit on batches without teacher logits.")
            y_pred, similar = model(x, training=True), 0.0
        elif self.similarity_weight > 0:
            y_pred, student_features = self.student_with_features(x, training=True)
            teacher_logits, teacher_features = self.teacher_with_features(x, training=False)
            similar = similarity_loss(tf.stop_gradient(teacher_features), student_features)
        else:
            y_pred = model(x, training=True)
            teacher_logits, similar = self.teacher(x, training=False), 0.0
        soft = self.soft_target_loss(tf.stop_gradient(teacher_logits), y_pred, sample_weight)
        w = self.student_loss_weight
        loss = (1.0 - w) * soft + self.similarity_weight * similar
        if w == 0.0:
            return loss, y_pred
        return w * model.compute_loss(x, y, y_pred, sample_weight, training=True) + loss, y_pred

    def train_step(self, model, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y, teacher_logits = split_teacher_logits(y)
        return descend(model, (x, y, sample_weight),
                       lambda model, x, y, sample_weight: self.loss(model, x, y, sample_weight, teacher_logits))


def with_text_features(model):
    """`model` (a `TextClassifier`) as a model answering `(logits, pooled text features)` from one pass:
    the features are what its head reads (the input of its `output_dropout` layer)."""
    try:
        features = model.get_layer("output_dropout").input
    except ValueError:
        features = None
    if features is None or len(features.shape) != 2:
        raise ValueError(f"Feature similarity needs a text classifier (one pooled feature vector per text, the input "
                         f"of its 'output_dropout' layer). Received: {type(model).__name__} {model.name!r}")
    return keras.Model(model.input, [model.outputs[0], features])


def similarity_loss(teacher_features, student_features):
    """Mean squared difference of the two (batch, batch) cosine-similarity matrices of a batch's texts
    (teacher (batch, d_t), student (batch, d_s)), divided by the number of replicas as the task's loss is."""
    t = tf.math.l2_normalize(tf.cast(teacher_features, "float32"), axis=-1)
    s = tf.math.l2_normalize(tf.cast(student_features, "float32"), axis=-1)
    return weighted_mean(tf.square(tf.matmul(t, t, transpose_b=True) - tf.matmul(s, s, transpose_b=True)))


def enable_distillation(model, teacher, temperature=2.0, student_loss_weight=0.5, similarity_weight=0.0):
    """Makes `model.fit` (a `BackboneTask`: text or token classifier) learn from `teacher` too;
    returns the `KnowledgeDistillation` step. Compile `model` as usual (its loss is the labels' part).

    Args:
        model: the student.
        teacher: a Keras model whose logits have the student's shape (same classes or tags, same inputs).
        temperature, student_loss_weight, similarity_weight: see `KnowledgeDistillation`.

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
    step = KnowledgeDistillation(teacher, temperature, student_loss_weight, similarity_weight, student=model)
    set_train_step(model, step)
    return step
