import keras
import keras_hub
import numpy as np
import pytest

from kerastune.compression.contextual_table import contextual_token_table
from kerastune.compression.distillation import conv_student_from_teacher
from kerastune.models.text_classifier import TextClassifier

VOCABULARY, SEEN = 13, range(3, 9)  # the batches show word pieces 3-8 only


def _batches():
    rng = np.random.default_rng(0)
    out = []
    for width in (5, 7):
        ids = rng.integers(SEEN.start, SEEN.stop, (3, width)).astype("int32")
        mask = np.ones_like(ids)
        mask[1, width - 2:] = 0
        ids[1, width - 2:] = 10  # a padded position's id never counts
        out.append(({"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}, np.zeros(3)))
    return out


@pytest.fixture(scope="module")
def backbone():
    keras.utils.set_random_seed(0)
    return keras_hub.models.BertBackbone(VOCABULARY, 2, 2, 8, 16, max_sequence_length=12)


def test_seen_word_pieces_get_their_mean_hidden_state_and_unseen_ones_the_ridge_map(backbone):
    table, counts = contextual_token_table(backbone, _batches(), ridge=0.5)

    occurrences = {}  # reference: one position at a time
    for features, _ in _batches():
        hidden = keras.ops.convert_to_numpy(backbone(features)["sequence_output"])
        for row, col in zip(*np.nonzero(features["padding_mask"])):
            occurrences.setdefault(int(features["token_ids"][row, col]), []).append(hidden[row, col])
    assert sorted(occurrences) == [i for i in range(VOCABULARY) if counts[i]] and set(occurrences) <= set(SEEN)
    for piece, vectors in occurrences.items():
        assert counts[piece] == len(vectors)
        np.testing.assert_allclose(table[piece], np.mean(vectors, 0), rtol=1e-5, atol=1e-6)

    inputs = keras.ops.convert_to_numpy(backbone.token_embedding.embeddings).astype("float64")
    seen = sorted(occurrences)
    width = inputs.shape[1]
    design = np.vstack([np.hstack([inputs[seen], np.ones((len(seen), 1))]),  # penalty rows leave the bias free
                        np.hstack([np.sqrt(0.5) * np.eye(width), np.zeros((width, 1))])])
    target = np.vstack([table[seen], np.zeros((width, table.shape[1]))])
    solution = np.linalg.lstsq(design, target, rcond=None)[0]
    unseen = [i for i in range(VOCABULARY) if i not in occurrences]
    np.testing.assert_allclose(table[unseen], inputs[unseen] @ solution[:-1] + solution[-1], rtol=1e-4, atol=1e-5)


def test_a_convolutional_student_takes_the_contextual_table(backbone):
    teacher = TextClassifier(backbone, 2, pooling="mean")
    table, _ = contextual_token_table(backbone, _batches())
    student = conv_student_from_teacher(teacher, filters=4, kernel_sizes=(3,), table=table)
    np.testing.assert_array_equal(student.backbone.token_embedding.get_weights()[0], table)
    assert not student.backbone.token_embedding.trainable
    with pytest.raises(ValueError, match=r"one row per word piece of the teacher's vocabulary \(13\).*\(12, 8\)"):
        conv_student_from_teacher(teacher, filters=4, table=table[:-1])


def test_bad_batches_and_ridge_are_refused(backbone):
    with pytest.raises(ValueError, match="ridge must be a number >= 0. Received: ridge=-1"):
        contextual_token_table(backbone, _batches(), ridge=-1)
    with pytest.raises(ValueError, match=r"Received: dict with keys \['ids'\]"):
        contextual_token_table(backbone, [{"ids": np.ones((1, 3))}])
    with pytest.raises(ValueError, match="showed 0 distinct word piece"):
        contextual_token_table(backbone, [])


def test_a_layer_index_averages_that_layers_outputs(backbone):
    final, _ = contextual_token_table(backbone, _batches())
    last, _ = contextual_token_table(backbone, _batches(), layer=1)  # the last of two: sequence_output itself
    first, _ = contextual_token_table(backbone, _batches(), layer=0)
    np.testing.assert_allclose(last, final, rtol=1e-6, atol=1e-6)
    assert np.abs(first[list(SEEN)] - final[list(SEEN)]).max() > 1e-3  # float error is ~1e-6
    with pytest.raises(ValueError, match=r"no layer 'transformer_layer_2'.*\(2 here\). Received: layer=2"):
        contextual_token_table(backbone, _batches(), layer=2)
