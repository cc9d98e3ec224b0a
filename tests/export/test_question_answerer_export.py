import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.bert_inputs import dense_inputs
from kerastune.data.question_context import best_answers, pack_question_context
from kerastune.export.question_answerer_export import answers_on_strings
from kerastune.models.span_extractor import SpanExtractor

WORDS = ["ada", "wrote", "the", "first", "program", "in", "london", "who", "where", "did", "it"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ",", ".", "?"] + WORDS
QUESTIONS = ["who wrote it ?", "where ?", "who ?"]
CONTEXTS = ["the first program . " * 4 + "Ada wrote it in London .", "Ada, in Lóndon.", ""]


@pytest.fixture(scope="module")
def reader():
    keras.utils.set_random_seed(1)
    backbone = keras_hub.models.BertBackbone(len(VOCAB), 1, 2, 16, 32, max_sequence_length=16)
    return SpanExtractor(backbone, dropout=0.0), keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True)


def run(answer):
    return {k: v.numpy() for k, v in answer(tf.constant(QUESTIONS), tf.constant(CONTEXTS)).items()}


def test_windows_in_chunks_answer_as_all_windows_at_once(reader):
    model, tokenizer = reader
    settings = dict(sequence_length=16, stride=4, max_question_length=4, max_answer_length=3)
    one, many = (run(answers_on_strings(model, tokenizer, chunk_size=size, **settings)) for size in (1, 32))
    np.testing.assert_array_equal(one["answer"], many["answer"])
    np.testing.assert_allclose(one["score"], many["score"], atol=1e-5)
    # and as the model on every window padded together, decoded by best_answers
    packed = pack_question_context(tokenizer, tf.constant(QUESTIONS), tf.constant(CONTEXTS), 16, 4, 4)
    logits = model(dense_inputs(packed["token_ids"], packed["segment_ids"]), training=False)
    direct = best_answers(logits, packed, 3)
    np.testing.assert_array_equal(one["best_span"], direct["answer"].numpy())
    assert one["windows"].tolist() == np.bincount(packed["example"].numpy(), minlength=3).tolist()
    assert one["windows"][0] > 1


def test_offsets_are_characters_of_the_context_and_no_answer_is_empty(reader):
    model, tokenizer = reader
    found = run(answers_on_strings(model, tokenizer, 16, 4, 4, 3, allow_no_answer=False))
    for i, context in enumerate(CONTEXTS[:2]):  # both hold tokens: a random model still picks a span
        answer = found["answer"][i].decode("utf-8")
        assert answer and context[found["answer_start"][i]:found["answer_end"][i]] == answer
    assert found["answer"][2] == b"" and found["answer_start"][2] == -1  # an empty context has no span
    abstaining = run(answers_on_strings(model, tokenizer, 16, 4, 4, 3, allow_no_answer=True, no_answer_threshold=-1e6))
    assert not any(abstaining["answer"]) and (abstaining["answer_start"] == -1).all()
    np.testing.assert_array_equal(abstaining["best_span"], found["best_span"])


def test_a_bad_chunk_size_is_refused(reader):
    model, tokenizer = reader
    with pytest.raises(ValueError, match="chunk_size"):
        answers_on_strings(model, tokenizer, 16, chunk_size=0)
    with pytest.raises(ValueError, match="max_answer_length must be a positive int"):
        answers_on_strings(model, tokenizer, 16, max_answer_length=0)
