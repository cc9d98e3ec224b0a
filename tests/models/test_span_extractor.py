import keras
import keras_hub
import numpy as np

from kerastune.models.span_extractor import MASKED_LOGIT, SpanExtractor, span_accuracy
from tests.helpers import assert_config_round_trip, assert_keras_save_load


def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.BertBackbone(50, 1, 2, 16, 32, max_sequence_length=16)
    return SpanExtractor(backbone, dropout=0.0)


def inputs():
    token_ids = np.array([[2, 5, 6, 3, 7, 8, 9, 3], [2, 5, 3, 7, 3, 0, 0, 0]], "int32")
    segment_ids = np.array([[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0, 0]], "int32")
    padding_mask = (np.arange(8)[None, :] < np.array([[8], [5]])).astype("int32")
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}


def test_only_cls_and_unpadded_context_positions_can_hold_the_answer():
    logits = np.asarray(tiny_model()(inputs()))
    assert logits.shape == (2, 2, 8) and logits.dtype == np.float32
    x = inputs()
    closing = np.arange(8)[None, :] == x["padding_mask"].sum(1, keepdims=True) - 1  # each row's last [SEP]
    allowed = ((x["segment_ids"] == 1) & (x["padding_mask"] == 1) & ~closing) | (np.arange(8)[None, :] == 0)
    assert allowed.sum(1).tolist() == [4, 2]  # [CLS] + 3 context tokens; [CLS] + 1
    for row in range(2):
        for end in range(2):
            np.testing.assert_array_equal(logits[row, end] == MASKED_LOGIT, ~allowed[row])


def test_loss_is_the_mean_of_the_start_and_end_cross_entropies():
    model = tiny_model()
    model.compile()
    labels = np.array([[4, 6], [0, 0]], "int32")
    logits = np.asarray(model(inputs())).astype("float64")
    log_softmax = logits - logits.max(-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(-1, keepdims=True))
    expected = -np.mean([log_softmax[b, k, labels[b, k]] for b in range(2) for k in range(2)])
    loss, accuracy = model.evaluate(inputs(), labels, verbose=0)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    predicted = logits.argmax(-1)
    assert accuracy == np.mean(np.all(predicted == labels, axis=1))


def test_span_accuracy_needs_both_ends_right():
    y_pred = np.zeros((3, 2, 4), "float32")
    y_pred[0, 0, 1] = y_pred[0, 1, 2] = 1  # (1, 2)
    y_pred[1, 0, 1] = y_pred[1, 1, 3] = 1  # (1, 3)
    y_pred[2, 0, 0] = y_pred[2, 1, 0] = 1  # (0, 0)
    values = np.asarray(span_accuracy(np.array([[1, 2], [1, 2], [0, 0]]), y_pred))
    np.testing.assert_array_equal(values, [1.0, 0.0, 1.0])


def test_it_survives_a_keras_save_and_load(tmp_path):
    model = tiny_model()
    assert_config_round_trip(model)
    assert_keras_save_load(model, inputs(), tmp_path)
