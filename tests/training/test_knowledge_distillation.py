"""Knowledge distillation inside fit(): the loss against numpy, padded positions left out, the student pulled to the teacher."""

import keras
import keras_hub
import numpy as np
import pytest

from kerastune.models.text_classifier import TextClassifier
from kerastune.models.token_classifier import TokenClassifier
from kerastune.training.knowledge_distillation import KnowledgeDistillation, enable_distillation
from kerastune.training.r_drop import enable_r_drop


def _backbone(num_layers):
    return keras_hub.models.BertBackbone(13, num_layers, 2, 8, 16, max_sequence_length=12, dropout=0.0)


def _features(batch, width, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 13, (batch, width)).astype("int32")
    mask = np.ones_like(ids)
    mask[0, width // 2:] = 0  # one padded row
    return {"token_ids": np.where(mask == 1, ids, 0), "segment_ids": np.zeros_like(ids), "padding_mask": mask}


def _confident_teacher(task, num_layers=2):
    keras.utils.set_random_seed(0)
    teacher = task(_backbone(num_layers), 3, dropout=0.0)
    head = teacher.get_layer("logits")
    head.kernel.assign(head.kernel * 300.0)  # soft targets far from uniform
    return teacher


def _softmax(z, t):
    e = np.exp((z - z.max(-1, keepdims=True)) / t)
    return e / e.sum(-1, keepdims=True)


def _t2_kl(teacher_logits, student_logits, t, weight=None):
    """T^2 * KL(p_teacher || p_student) per prediction, averaged (weighted when `weight` is given), in numpy."""
    p, q = _softmax(teacher_logits, t), _softmax(student_logits, t)
    kl = (p * (np.log(p) - np.log(q))).sum(-1)
    mean = kl.mean() if weight is None else (kl * weight).sum() / weight.sum()
    return t * t * mean


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_the_loss_is_w_times_the_labels_loss_plus_1_minus_w_times_t_squared_kl():
    teacher = _confident_teacher(TextClassifier)
    student = TextClassifier(_backbone(1), 3, dropout=0.0)
    step = enable_distillation(student, teacher, temperature=2.0, student_loss_weight=0.3)
    student.compile(optimizer="sgd")
    x, y = _features(8, 6, seed=4), np.random.default_rng(1).integers(0, 3, 8)
    loss, y_pred = step.loss(student, x, y)
    z_s, z_t = _numpy(y_pred), _numpy(teacher(x))
    log_q = z_s - np.log(np.exp(z_s).sum(-1, keepdims=True))
    cross_entropy = -log_q[np.arange(8), y].mean()
    soft = _t2_kl(z_t, z_s, 2.0)
    assert soft > 0.01  # the confident teacher and the fresh student disagree
    np.testing.assert_allclose(_numpy(loss), 0.3 * cross_entropy + 0.7 * soft, rtol=1e-5)


def test_a_taggers_padded_positions_teach_nothing():
    step = KnowledgeDistillation(teacher=None, temperature=3.0)
    rng = np.random.default_rng(0)
    teacher_logits, student_logits = rng.normal(size=(2, 5, 4)) * 3, rng.normal(size=(2, 5, 4))
    weight = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], "float32")
    got = _numpy(step.soft_target_loss(teacher_logits.astype("float32"), student_logits.astype("float32"), weight))
    np.testing.assert_allclose(got, _t2_kl(teacher_logits, student_logits, 3.0, weight), rtol=1e-5)
    changed = teacher_logits.copy()
    changed[0, 3:] = 100.0  # what the teacher says at padded positions
    again = _numpy(step.soft_target_loss(changed.astype("float32"), student_logits.astype("float32"), weight))
    np.testing.assert_allclose(again, got, rtol=1e-6)


@pytest.mark.parametrize("task", [TextClassifier, TokenClassifier])
def test_fit_on_soft_targets_alone_pulls_the_student_to_the_teacher(task):
    teacher = _confident_teacher(task)
    student = task(_backbone(1), 3, dropout=0.0)  # from scratch
    x = _features(32, 8, seed=5)
    y = np.zeros((32,) if task is TextClassifier else (32, 8), "int32")  # labels unused: w = 0
    weight = None if task is TextClassifier else x["padding_mask"].astype("float32")

    def distance():
        return _t2_kl(_numpy(teacher(x)), _numpy(student(x)), 2.0, weight)

    before = distance()
    enable_distillation(student, teacher, temperature=2.0, student_loss_weight=0.0)
    student.compile(optimizer=keras.optimizers.Adam(1e-2))
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    if weight is None:
        student.fit(x, y, batch_size=8, epochs=6, verbose=0)
    else:
        student.fit(x, y, sample_weight=weight, batch_size=8, epochs=6, verbose=0)
    assert distance() < 0.5 * before
    for a, b in zip(teacher.get_weights(), teacher_weights):  # the teacher is not trained
        np.testing.assert_array_equal(a, b)
    assert len(student.weights) == len(task(_backbone(1), 3).weights)  # and not part of the student


def test_bad_settings_are_refused():
    teacher = _confident_teacher(TextClassifier)
    with pytest.raises(ValueError, match="Received: distillation_temperature=0"):
        KnowledgeDistillation(teacher, temperature=0)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\].*Received: distillation_student_loss_weight=1.5"):
        KnowledgeDistillation(teacher, student_loss_weight=1.5)
    with pytest.raises(ValueError, match="same task .* over the same classes or tags"):
        enable_distillation(TextClassifier(_backbone(1), 2), teacher)
    with pytest.raises(ValueError, match="same task"):
        enable_distillation(TokenClassifier(_backbone(1), 3), teacher)
    student = TextClassifier(_backbone(1), 3)
    enable_r_drop(student, 1.0)
    with pytest.raises(ValueError, match="already trains with RDrop"):
        enable_distillation(student, teacher)


def _cosines(h):
    h = h / np.linalg.norm(h, axis=-1, keepdims=True)
    return h @ h.T


def test_the_similarity_term_adds_beta_times_the_batches_cosine_matrices_squared_difference():
    teacher = _confident_teacher(TextClassifier)
    student = TextClassifier(_backbone(1), 3, dropout=0.0, pooling="mean")
    step = enable_distillation(student, teacher, 2.0, student_loss_weight=0.0, similarity_weight=0.7)
    student.compile(optimizer="sgd")
    x = _features(8, 6, seed=6)
    loss, y_pred = step.loss(student, x, np.zeros(8, "int32"))
    # The pooled features each head reads, rebuilt by hand: the teacher's [CLS] pooler, the student's masked mean.
    h_t = _numpy(teacher.backbone(x)["pooled_output"])
    sequence, mask = _numpy(student.backbone(x)["sequence_output"]), x["padding_mask"][..., None]
    h_s = (sequence * mask).sum(1) / mask.sum(1)
    similar = ((_cosines(h_t) - _cosines(h_s)) ** 2).mean()
    assert similar > 1e-3
    expected = _t2_kl(_numpy(teacher(x)), _numpy(y_pred), 2.0) + 0.7 * similar
    np.testing.assert_allclose(_numpy(loss), expected, rtol=1e-4)


def test_fit_with_the_similarity_term_pulls_the_students_similarities_to_the_teachers():
    teacher = _confident_teacher(TextClassifier)
    keras.utils.set_random_seed(1)
    student = TextClassifier(_backbone(1), 3, dropout=0.0)
    x = _features(32, 8, seed=7)
    h_t = _cosines(_numpy(teacher.backbone(x)["pooled_output"]))

    def distance():
        return ((h_t - _cosines(_numpy(student.backbone(x)["pooled_output"]))) ** 2).mean()

    before = distance()
    enable_distillation(student, teacher, student_loss_weight=0.0, similarity_weight=10.0)
    student.compile(optimizer=keras.optimizers.Adam(1e-2))
    student.fit(x, np.zeros(32, "int32"), batch_size=32, epochs=20, verbose=0)
    assert distance() < 0.5 * before
    assert len(student.weights) == len(TextClassifier(_backbone(1), 3).weights)  # no weights added


def test_similarity_needs_a_text_classifier_and_a_weight_of_at_least_0():
    teacher = _confident_teacher(TokenClassifier)
    with pytest.raises(ValueError, match="Feature similarity needs a text classifier"):
        enable_distillation(TokenClassifier(_backbone(1), 3), teacher, similarity_weight=1.0)
    with pytest.raises(ValueError, match="Received: distillation_similarity_weight=-1"):
        KnowledgeDistillation(teacher, similarity_weight=-1)
