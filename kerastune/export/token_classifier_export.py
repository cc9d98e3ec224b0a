"""A string-in SavedModel for TF Serving: raw sentences in, one BIO tag per whitespace word out.

The serving graph splits each sentence on whitespace (`tf.strings.split`), then runs the same
`align_words` that built the training batches (backbone tokenizer per word, first sub-word carries
the prediction, sentences longer than the window split into windows), the model, and picks each
word's first-sub-word prediction. No client-side tokenisation, no sub-word bookkeeping.

Signature `serving_default`:
    inputs:  `text` tf.string (batch,), a sentence per row (words separated by whitespace).
    outputs: `tags` tf.string (batch, max_words), `tag_ids` int64 (batch, max_words),
             `words` tf.string (batch, max_words), `num_words` int32 (batch,). Rows shorter than
             the longest are padded with `""` / -1 after their `num_words` entries.

Loading needs only TensorFlow and TensorFlow Text's ops (`import tensorflow_text` in Python; TF
Serving's ModelServer links them in): see `text_classifier_export` for the op caveats, the same here.

REST: `POST /v1/models/<name>:predict` with `{"instances": ["EU rejects German call", ...]}`.
"""

import keras
import tensorflow as tf

from kerastune.data.bert_inputs import align_words, dense_inputs, first_subword_predictions, pad_id, text_specs
from kerastune.export.export_writer import write_export
from kerastune.models.backbones import max_sequence_length


def serving_function(model, tokenizer, tag_names, sequence_length=None):
    """Returns a `tf.function` mapping sentences (batch,) to `{tags, tag_ids, words, num_words}`.

    Args:
        model: a `TokenClassifier` (any model taking backbone inputs and returning (batch, seq, tags) logits).
        tokenizer: the backbone's KerasHub WordPiece tokenizer.
        tag_names: list of str.
        sequence_length: int window length, or None for the backbone's maximum.
    """
    if sequence_length is None:
        sequence_length = max_sequence_length(getattr(model, "backbone", None))
    names = tf.constant([str(n) for n in tag_names])
    padding_id = pad_id(tokenizer)

    @tf.function(input_signature=text_specs())
    def serve(text):
        words = tf.strings.split(text)  # (batch, None words)
        aligned = align_words(tokenizer, words, sequence_length)
        token_ids = aligned["token_ids"]  # (windows, None)
        features = dense_inputs(token_ids, padding_id=padding_id)
        logits = tf.cast(model(features, training=False), tf.float32)  # (windows, width, tags)
        per_word = first_subword_predictions(tf.argmax(logits, axis=-1), token_ids, aligned["is_first"])
        tag_ids = tf.RaggedTensor.from_row_lengths(per_word, aligned["words_per_sentence"])  # (batch, None)
        return {
            "tag_ids": tag_ids.to_tensor(default_value=-1),
            "tags": tf.gather(names, tag_ids).to_tensor(default_value=""),
            "words": words.to_tensor(default_value=""),
            "num_words": aligned["words_per_sentence"],
        }

    return serve


def export_token_classifier(
    model, tokenizer, tag_names, export_dir="saved_models", name="token_classifier", version=None,
    sequence_length=None, report=None, config=None,
):
    """Writes `export_dir/name/<version>/` atomically; returns its path.

    Beside `saved_model.pb`: `tag_names.json`, and `evaluation.json` / `config.json` when
    `report` / `config` are given.

    Example:

    >>> path = export_token_classifier(model, tokenizer, ["O", "B-PER", "I-PER"])  # doctest: +SKIP
    >>> fn = tf.saved_model.load(path).signatures["serving_default"]  # doctest: +SKIP
    >>> fn(text=tf.constant(["Peter Blackburn"]))["tags"]  # doctest: +SKIP
    """
    archive = keras.export.ExportArchive()
    archive.track(model)
    files = {"tag_names.json": [str(n) for n in tag_names], "evaluation.json": report, "config.json": config}
    endpoints = {"serving_default": serving_function(model, tokenizer, tag_names, sequence_length)}
    return write_export(archive, export_dir, name, version, files, endpoints=endpoints)
