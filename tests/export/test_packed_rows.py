"""Packed rows give every text what the classifier gives it alone: checked against the Keras model itself."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.bert_inputs import dense_inputs
from kerastune.export.packed_rows import first_fit_rows, packed_logits, packs
from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.text_classifier import TextClassifier
from kerastune.peft.parameter_efficient import apply_peft
from tests.helpers import randomize_weights


def test_first_fit_places_longest_first_in_the_first_row_with_room_and_never_overlaps():
    lengths = np.array([5, 2, 7, 3, 3, 1, 7, 4])
    rows, offsets, num_rows = (t.numpy() for t in first_fit_rows(tf.constant(lengths), 7))
    # longest first: 7 -> row 0, 7 -> row 1, 5 -> row 2, 4 -> row 3, 3 -> row 3 after the 4, 3 -> row 4,
    # 2 -> row 2 after the 5, 1 -> row 4 after the 3
    assert rows.tolist() == [2, 2, 0, 3, 4, 4, 1, 3] and offsets.tolist() == [0, 5, 0, 4, 0, 3, 0, 0]
    assert num_rows == 5
    occupied = np.zeros((num_rows, 7), int)
    for row, offset, length in zip(rows, offsets, lengths):
        occupied[row, offset:offset + length] += 1
    assert occupied.max() == 1 and occupied.sum() == lengths.sum()


def test_first_fit_of_no_texts_uses_no_rows():
    rows, offsets, num_rows = first_fit_rows(tf.zeros([0], tf.int32), 4)
    assert rows.shape == (0,) and offsets.shape == (0,) and int(num_rows) == 0


def _backbone(kind):
    if kind == "kerashub":
        return keras_hub.models.BertBackbone(40, 2, 2, 8, 16, max_sequence_length=16)
    return BertEncoder(vocabulary_size=40, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16,
                       max_sequence_length=16)


def _randomized(model, seed=0):
    """`model` with every float weight drawn from N(0, 0.3): at the initial 0.02 scale, attention is nearly
    uniform and one text reading another's tokens changes logits by only ~1e-5."""
    randomize_weights(model.weights, seed, scale=0.3)
    return model


def _ragged_batch(lengths, seed=0):
    """Packed-like inputs: [CLS]=2 ... [SEP]=3, the second half of each text in segment 1."""
    rng = np.random.default_rng(seed)
    ids = [[2, *rng.integers(5, 40, n - 2), 3] for n in lengths]
    segments = [[0] * (n // 2) + [1] * (n - n // 2) for n in lengths]
    return tf.ragged.constant(ids, tf.int32), tf.ragged.constant(segments, tf.int32)


@pytest.mark.parametrize("kind", ["kerashub", "kerastune"])
@pytest.mark.parametrize("pooling", ["mean", "cls", "pooled"])
def test_packed_logits_equal_the_models_for_texts_of_mixed_lengths(kind, pooling):
    keras.utils.set_random_seed(1)
    model = _randomized(TextClassifier(_backbone(kind), 3, pooling=pooling))
    assert packs(model)
    features = dense_inputs(*_ragged_batch([9, 3, 14, 5, 2, 9, 4, 11]), 0)
    want = keras.ops.convert_to_numpy(model(features, training=False))
    got = tf.function(packed_logits(model))(**features).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    # packing did share rows: the 8 texts of at most 14 tokens fit in fewer than 8 rows of 14
    rows, _, num_rows = first_fit_rows(tf.reduce_sum(features["padding_mask"], 1), 14)
    assert int(num_rows) < 8 and len(set(rows.numpy().tolist())) == int(num_rows)


@pytest.mark.parametrize("kind", ["kerashub", "kerastune"])
@pytest.mark.parametrize("method", ["prefix", "adapter", "lora", "prompt"])
def test_a_parameter_efficient_fine_tune_is_packed_exactly_or_not_at_all(kind, method):
    keras.utils.set_random_seed(3)
    model = TextClassifier(_backbone(kind), 3, pooling="mean")
    apply_peft(model, method, **({"prompt_length": 3} if method == "prompt" else {}))
    _randomized(model)  # adapters start as the identity: give them something to do
    features = dense_inputs(*_ragged_batch([9, 3, 12, 5, 2, 9, 4, 11]), 0)
    if method == "prompt":  # the tuned prompt takes positions the packed embeddings would not hold
        assert not packs(model)
        return
    want = keras.ops.convert_to_numpy(model(features, training=False))
    got = tf.function(packed_logits(model))(**features).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_one_text_alone_and_no_texts_at_all():
    keras.utils.set_random_seed(2)
    model = _randomized(TextClassifier(_backbone("kerashub"), 2, pooling="mean"))
    logits = tf.function(packed_logits(model), input_signature=[tf.TensorSpec([None, None], tf.int32)] * 3)
    one = dense_inputs(*_ragged_batch([6]), 0)
    np.testing.assert_allclose(logits(*one.values()).numpy(), keras.ops.convert_to_numpy(model(one)), atol=1e-5)
    assert logits(*(tf.zeros([0, 0], tf.int32) for _ in one)).shape == (0, 2)  # as an export traces it


def test_a_model_it_cannot_pack_is_refused_with_what_to_do():
    other = keras.Sequential([keras.layers.Dense(2)], name="not_a_text_classifier")
    assert not packs(other)
    with pytest.raises(ValueError, match="run this model unpacked instead. Received: model=Sequential "
                                         "'not_a_text_classifier'"):
        packed_logits(other)

