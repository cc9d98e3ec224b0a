import keras
import keras_hub
import numpy as np
import pytest

from kerastune.compression.distillation import conv_student_from_teacher, kept_layers, student_from_teacher
from kerastune.models.text_classifier import TextClassifier
from kerastune.models.token_classifier import TokenClassifier
from tests.compression.conftest import assert_served_as_keras, features


def _backbone(num_layers=3):
    return keras_hub.models.BertBackbone(13, num_layers, 2, 8, 16, max_sequence_length=12)


def test_kept_layers_are_evenly_spaced_and_end_with_the_last():
    assert kept_layers(6, 2) == [2, 5] and kept_layers(6, 3) == [1, 3, 5] and kept_layers(4, 4) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="Received: num_layers=7"):
        kept_layers(6, 7)


@pytest.mark.parametrize("task", [TextClassifier, TokenClassifier])
def test_student_starts_from_the_teachers_layers(task):
    keras.utils.set_random_seed(0)
    teacher = task(_backbone(3), 3)
    student = student_from_teacher(teacher, 2)  # teacher layers 1 and 2
    assert type(student) is task and student.backbone.get_config()["num_layers"] == 2
    for j, i in enumerate([1, 2]):
        for a, b in zip(student.backbone.get_layer(f"transformer_layer_{j}").weights,
                        teacher.backbone.get_layer(f"transformer_layer_{i}").weights):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    for name in ("token_embedding", "embeddings_layer_norm"):
        np.testing.assert_array_equal(student.backbone.get_layer(name).get_weights()[0],
                                      teacher.backbone.get_layer(name).get_weights()[0])
    out = keras.ops.convert_to_numpy(student(features(2, 6)))
    assert out.shape == keras.ops.convert_to_numpy(teacher(features(2, 6))).shape


def test_a_convolutional_student_starts_from_the_teachers_word_pieces(fitted, conv_student):
    teacher = fitted[0]
    np.testing.assert_array_equal(conv_student.backbone.token_embedding.get_weights()[0],
                                  keras.ops.convert_to_numpy(teacher.backbone.token_embedding.embeddings))
    assert conv_student.backbone.max_sequence_length == 12 and conv_student.pooling == "pooled"
    assert conv_student.count_params() < teacher.count_params()
    with pytest.raises(ValueError, match="Received: teacher=TokenClassifier"):
        conv_student_from_teacher(TokenClassifier(_backbone(1), 3))


def test_a_convolutional_student_keeps_the_teachers_word_pieces_frozen_unless_asked(fitted):
    teacher = fitted[0]
    keras.utils.set_random_seed(3)
    student = conv_student_from_teacher(teacher, filters=8, kernel_sizes=(3,))  # frozen by default
    table = student.backbone.token_embedding.get_weights()[0]
    convolution = student.backbone.convolutions[0].get_weights()[0]
    student.compile(optimizer=keras.optimizers.Adam(1e-2), loss=keras.losses.SparseCategoricalCrossentropy(True))
    student.fit(features(8, 6), np.arange(8) % 3, batch_size=4, epochs=1, verbose=0)
    np.testing.assert_array_equal(student.backbone.token_embedding.get_weights()[0], table)
    assert not np.allclose(student.backbone.convolutions[0].get_weights()[0], convolution)
    assert student.count_params() - sum(int(np.prod(w.shape)) for w in student.trainable_weights) == table.size
    assert conv_student_from_teacher(teacher, filters=8, freeze_embeddings=False).backbone.token_embedding.trainable
    with pytest.raises(ValueError, match="Received: freeze_embeddings='yes'"):
        conv_student_from_teacher(teacher, freeze_embeddings="yes")


def test_the_convolutional_students_export_serves_strings_with_tensorflow_alone(fitted, conv_student, served):
    assert_served_as_keras(served, "student", conv_student, fitted[1])
