"""Offline distillation: the teacher labels the batches once, and a student fit on them learns exactly what the
teacher-in-the-loop step teaches, without running the teacher again."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.models.text_classifier import TextClassifier
from kerastune.models.token_classifier import TokenClassifier
from kerastune.training.knowledge_distillation import enable_distillation
from kerastune.training.teacher_labels import (label_with_teacher, labelled_dataset, load_teacher_labels,
                                               save_teacher_labels, teacher_labelled_batches)


def _backbone(num_layers):
    return keras_hub.models.BertBackbone(13, num_layers, 2, 8, 16, max_sequence_length=12, dropout=0.0)


def _batch(size, width, seed):
    rng = np.random.default_rng(seed)
    mask = (np.arange(width)[None] < rng.integers(1, width + 1, (size, 1))).astype("int32")
    ids = np.where(mask == 1, rng.integers(5, 13, (size, width)), 0).astype("int32")
    return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}


def _batches(task, count=5):
    """`count` batches of different widths and sizes, as a length-bucketed pipeline gives them."""
    out = []
    for i in range(count):
        x = _batch(3 + i, 4 + 2 * i, seed=i)
        y = np.random.default_rng(10 + i).integers(0, 3, (3 + i,) if task is TextClassifier else (3 + i, 4 + 2 * i))
        out.append((x, y.astype("int32")) if task is TextClassifier else (x, y.astype("int32"),
                                                                            x["padding_mask"].astype("float32")))
    return out


def _dataset(batches, repeat=True):
    """A dataset of `batches` in order (ragged widths: from a generator), repeating unless `repeat` is False."""
    spec = tf.nest.map_structure(lambda a: tf.TensorSpec([None] * a.ndim, tf.as_dtype(a.dtype)), batches[0])
    dataset = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=spec)
    return dataset.repeat() if repeat else dataset


def _teacher(task):
    keras.utils.set_random_seed(0)
    teacher = task(_backbone(2), 3, dropout=0.0)
    head = teacher.get_layer("logits")
    head.kernel.assign(head.kernel * 30.0)
    return teacher


def _key(x):
    return x["token_ids"].tobytes()


@pytest.mark.parametrize("task", [TextClassifier, TokenClassifier])
def test_each_pass_holds_every_batch_once_with_the_teachers_logits_in_a_new_order(task):
    teacher, batches = _teacher(task), _batches(task)
    labelled = label_with_teacher(teacher, _dataset(batches), steps=len(batches), seed=3, log_every_seconds=None)
    expected = {_key(b[0]): b for b in batches}
    orders = []
    for p in range(3):
        order = []
        for data in labelled.skip(p * len(batches)).take(len(batches)):
            x, y = tf.nest.map_structure(np.asarray, data[:2])
            source = expected[_key(x)]
            order.append(_key(x))
            np.testing.assert_array_equal(y["labels"], source[1])
            np.testing.assert_allclose(y["teacher_logits"], keras.ops.convert_to_numpy(teacher(source[0])),
                                       rtol=1e-5, atol=1e-5)
            if task is TokenClassifier:  # sample weights kept
                np.testing.assert_array_equal(np.asarray(data[2]), source[2])
            else:
                assert len(data) == 2
        assert sorted(order) == sorted(expected)
        orders.append(order)
    assert len({tuple(o) for o in orders}) > 1  # reshuffled between passes


def test_a_new_iteration_goes_on_with_new_orders_and_a_new_dataset_starts_over():
    batches = _batches(TextClassifier, count=6)

    def first_pass(dataset):
        return [_key(tf.nest.map_structure(np.asarray, data[0])) for data in dataset.take(len(batches))]

    dataset = labelled_dataset(batches, seed=5)
    first = first_pass(dataset)
    assert first_pass(dataset) != first  # a second fit on the same dataset: the stream goes on
    assert first_pass(labelled_dataset(batches, seed=5)) == first  # the same seed again: the same orders


@pytest.mark.parametrize("task", [TextClassifier, TokenClassifier])
def test_a_student_learns_from_the_kept_logits_what_the_teacher_in_the_loop_teaches(task):
    teacher, batches = _teacher(task), _batches(task, count=2)
    keras.utils.set_random_seed(1)
    online = task(_backbone(1), 3, dropout=0.0)
    offline = task(_backbone(1), 3, dropout=0.0)
    offline.set_weights(online.get_weights())
    for student in (online, offline):
        enable_distillation(student, teacher, temperature=2.0, student_loss_weight=0.4)
        student.compile(optimizer=keras.optimizers.SGD(0.5))
    labelled = list(label_with_teacher(teacher, _dataset(batches), steps=len(batches), seed=0,
                                       log_every_seconds=None).take(len(batches)))
    head = teacher.get_layer("logits")
    kernel = head.kernel.numpy()
    for data in labelled:  # the same batches, in the labelled order, one step each
        x = {k: np.asarray(v) for k, v in data[0].items()}
        source = next(b for b in batches if _key(b[0]) == _key(x))
        head.kernel.assign(kernel)
        online_loss = online.train_on_batch(*source)
        head.kernel.assign(np.zeros_like(kernel))  # the teacher now answers nothing: offline must not ask it
        offline_loss = offline.train_on_batch(*data)
        online_loss = online_loss[0] if isinstance(online_loss, list) else online_loss
        offline_loss = offline_loss[0] if isinstance(offline_loss, list) else offline_loss
        np.testing.assert_allclose(offline_loss, online_loss, rtol=1e-5)
    moved = [np.abs(a - b).max() for a, b in zip(online.get_weights(), offline.get_weights())]
    assert max(moved) < 1e-5
    head.kernel.assign(kernel)
    fresh = task(_backbone(1), 3, dropout=0.0)
    assert any(np.abs(a - b).max() > 1e-3 for a, b in zip(fresh.get_weights(), online.get_weights()))


def test_bad_input_is_refused():
    teacher, batches = _teacher(TextClassifier), _batches(TextClassifier, count=2)
    with pytest.raises(ValueError, match="steps must be an int >= 1.*Received: steps=0"):
        label_with_teacher(teacher, _dataset(batches), steps=0)
    with pytest.raises(ValueError, match="ended after 2 batches; steps asks for 5"):
        label_with_teacher(teacher, _dataset(batches, repeat=False), steps=5, log_every_seconds=None)
    student = TextClassifier(_backbone(1), 3, dropout=0.0)
    enable_distillation(student, teacher, student_loss_weight=0.0, similarity_weight=1.0)
    student.compile(optimizer="sgd")
    labelled = next(iter(label_with_teacher(teacher, _dataset(batches), steps=2, log_every_seconds=None)))
    with pytest.raises(ValueError, match="similarity_weight > 0 reads the teacher's features"):
        student.train_on_batch(*labelled)


@pytest.mark.parametrize("task", [TextClassifier, TokenClassifier])
def test_kept_labels_read_back_equal_and_feed_the_same_passes(task, tmp_path):
    teacher, batches = _teacher(task), _batches(task)
    labelled = teacher_labelled_batches(teacher, _dataset(batches), steps=len(batches), log_every_seconds=None)
    path = str(tmp_path / "transfer_set.npz")
    save_teacher_labels(path, labelled, {"teacher": "t/1", "copies": 5})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["transfer_set.npz"]  # no partial file left
    again, settings = load_teacher_labels(path)
    assert settings == {"teacher": "t/1", "copies": 5}
    assert len(again) == len(labelled)
    for a, b in zip(again, labelled):
        assert isinstance(a, tuple) and len(a) == len(b)
        for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)):
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x, y)
    one, two = labelled_dataset(labelled, seed=4), labelled_dataset(again, seed=4)
    for a, b in zip(one.take(len(batches)), two.take(len(batches))):
        for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    with pytest.raises(ValueError, match="kept in a .npz file.*Received: path='transfer_set.pkl'"):
        save_teacher_labels("transfer_set.pkl", labelled)
