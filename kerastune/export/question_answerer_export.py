"""A string-in SavedModel of extractive question answering: a question and a context in, the answer's text out.

The tokenizer, the windowing of long contexts and the choice of the best span are all inside the serving
graph (`kerastune.data.question_context`), so clients send two strings and need no kerastune, Keras or
KerasHub; only TensorFlow and the TensorFlow Text ops of the WordPiece tokenizer (`TEXT_OPS`, see
`text_classifier_export` about TF Serving).

Signature `serving_default`:
    inputs:  `question`, `context`: tf.string (batch,).
    outputs: `answer` tf.string (batch,): the context's own text of the best span ("" when the model
             answers that there is none: SQuAD 2.0 models, `no_answer_score` above the threshold);
             `answer_start`, `answer_end` int32 (batch,): its character offsets in the context (end
             exclusive; -1 with no answer); `score` float32: the span's start + end logit;
             `no_answer_score` float32: the `[CLS]` score minus `score`; `best_span` tf.string: the best
             span even when `answer` is ""; `windows` int32: windows the context was read in;
             `question_truncated` bool: the question was longer than `max_question_length` tokens and
             kept its first ones.

Beside `saved_model.pb`: `assets.extra/vocab.txt` and `question_answering.json` (the window settings,
`max_answer_length`, `allow_no_answer` and `no_answer_threshold`).

REST (TF Serving): `POST /v1/models/<name>:predict` with
`{"instances": [{"question": "Who wrote it?", "context": "Ada wrote it."}]}`.
"""

import keras
import tensorflow as tf

from kerastune.arguments import check_positive_ints
from kerastune.data.bert_inputs import dense_inputs, pad_id
from kerastune.data.question_context import MASKED_LOGIT, QUESTION_CONTEXT_SPECS, best_answers, question_packer
from kerastune.export.export_writer import write_export
from kerastune.export.length_sorted_chunks import check_chunk_size
from kerastune.export.string_signatures import encoder_outputs_function
from kerastune.models.backbones import max_sequence_length


def answers_on_strings(model, tokenizer, sequence_length=None, stride=128, max_question_length=64,
                       max_answer_length=30, allow_no_answer=False, no_answer_threshold=0.0, chunk_size=32):
    """Returns `answer(question, context) -> dict` of (batch,) tensors, as `serving_default` answers, for a graph.

    Args:
        model: a `SpanExtractor` (or any model mapping the backbone inputs to (windows, 2, seq) logits).
        tokenizer: its backbone's tokenizer.
        sequence_length: int, the longest window, or None for the backbone's maximum.
        stride, max_question_length: the windows (`pack_question_context`), as in training.
        max_answer_length: int, the longest answer in tokens.
        allow_no_answer: bool, answer "" when `no_answer_score > no_answer_threshold` (SQuAD 2.0).
        no_answer_threshold: float.
        chunk_size: int, the most windows the model runs at once.
    """
    check_chunk_size(chunk_size)
    check_positive_ints(max_answer_length=max_answer_length)
    if sequence_length is None:
        sequence_length = max_sequence_length(getattr(model, "backbone", None))
    pack = question_packer(tokenizer, sequence_length, stride, max_question_length)
    padding_id = pad_id(tokenizer)

    logits_of = encoder_outputs_function(model)  # dense inputs -> float32 (windows, 2, width)

    def window_logits(token_ids, segment_ids):
        """(windows, 2, width) logits, run `chunk_size` windows at a time, each chunk padded to its own longest."""
        count = token_ids.nrows(out_type=tf.int32)
        width = tf.cast(tf.reduce_max(tf.concat([token_ids.row_lengths(), [0]], axis=0)), tf.int32)
        chunks = (count + chunk_size - 1) // chunk_size

        def body(i, results):
            start = i * chunk_size
            stop = tf.minimum(start + chunk_size, count)
            features = dense_inputs(token_ids[start:stop], segment_ids[start:stop], padding_id)
            logits = logits_of(**features)
            logits = tf.pad(logits, [[0, 0], [0, 0], [0, width - tf.shape(logits)[2]]],
                            constant_values=MASKED_LOGIT)
            return i + 1, results.write(i, logits)

        results = tf.TensorArray(tf.float32, size=chunks, infer_shape=False, element_shape=tf.TensorShape([None, 2,
                                                                                                            None]))
        _, results = tf.while_loop(lambda i, _: i < chunks, body, (0, results))
        return tf.cond(count > 0, results.concat, lambda: tf.zeros([0, 2, width]))

    def answer(question, context):
        packed = pack(question, context)
        found = best_answers(window_logits(packed["token_ids"], packed["segment_ids"]), packed, max_answer_length)
        spans = found["begin"] >= 0
        answers = spans & (found["no_answer_score"] <= no_answer_threshold) if allow_no_answer else spans
        text = packed["context"]
        start = tf.where(answers, _characters(text, found["begin"]), -1)
        end = tf.where(answers, _characters(text, found["end"]), -1)
        windows = tf.math.bincount(packed["example"], minlength=tf.size(question), dtype=tf.int32)
        return {
            "answer": tf.where(answers, found["answer"], ""),
            "answer_start": start,
            "answer_end": end,
            "score": found["score"],
            "no_answer_score": found["no_answer_score"],
            "best_span": found["answer"],
            "windows": windows,
            "question_truncated": packed["question_lengths"] > max_question_length,
        }

    return answer


def _characters(text, byte_offsets):
    """Character offsets of `byte_offsets` (int32 (batch,), -1 allowed) in UTF-8 `text` (batch,)."""
    prefix = tf.strings.substr(text, tf.zeros_like(byte_offsets), tf.maximum(byte_offsets, 0))
    return tf.strings.length(prefix, unit="UTF8_CHAR")


def export_question_answerer(model, tokenizer, export_dir="saved_models", name="question_answerer", version=None,
                             sequence_length=None, report=None, config=None, stride=128, max_question_length=64,
                             max_answer_length=30, allow_no_answer=False, no_answer_threshold=0.0):
    """Writes `export_dir/name/<version>/` atomically; returns its path.

    Args:
        model: a `SpanExtractor`.
        tokenizer: its backbone's tokenizer.
        export_dir: str, the export root (TF Serving's model base path is `export_dir/name`).
        name: str, the model name.
        version: positive int or None for the next free version.
        sequence_length: int or None for the backbone's maximum (the window length).
        report: dict or None, a `squad_report`, saved as `evaluation.json`.
        config: dict or None, the resolved training config, saved as `config.json`.
        stride, max_question_length, max_answer_length, allow_no_answer, no_answer_threshold: see
            `answers_on_strings` (as the model was trained and tuned).

    Example:

    >>> path = export_question_answerer(model, tokenizer, name="reader")  # doctest: +SKIP
    >>> serve = tf.saved_model.load(path).signatures["serving_default"]  # doctest: +SKIP
    >>> question, context = tf.constant(["Who wrote it?"]), tf.constant(["Ada wrote it."])
    >>> serve(question=question, context=context)["answer"]  # doctest: +SKIP
    <tf.Tensor: shape=(1,), dtype=string, numpy=array([b'Ada'], dtype=object)>
    """
    if sequence_length is None:
        sequence_length = max_sequence_length(getattr(model, "backbone", None))
    settings = {"sequence_length": int(sequence_length), "stride": stride, "max_question_length": max_question_length,
                "max_answer_length": max_answer_length, "allow_no_answer": bool(allow_no_answer),
                "no_answer_threshold": float(no_answer_threshold)}
    answer = answers_on_strings(model, tokenizer, **settings)

    def serve(question, context):
        return answer(question, context)

    archive = keras.export.ExportArchive()
    archive.track(model)
    endpoints = {"serving_default": tf.function(serve, input_signature=QUESTION_CONTEXT_SPECS)}
    files = {"question_answering.json": settings, "evaluation.json": report, "config.json": config}
    vocabulary = "".join(f"{piece}\n" for piece in tokenizer.get_vocabulary())
    return write_export(archive, export_dir, name, version, files, {"assets.extra/vocab.txt": vocabulary},
                        endpoints=endpoints)
