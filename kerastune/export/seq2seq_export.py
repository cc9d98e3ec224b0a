"""Export an encoder-decoder (`Seq2SeqTransformer`) as a strings-in, strings-out SavedModel for TF Serving."""

import keras
import tensorflow as tf

from kerastune.data.sequence_pairs import END_ID, START_ID, source_inputs, target_texts
from kerastune.export.export_writer import check_nonempty, tokenizer_resources, write_export


def text_to_text_function(model, tokenizer, max_source_length, max_length):
    """A `tf.function` from a batch of source strings to the written target strings.

    Tokenisation (ids shifted past the special ids), greedy decoding with the key/value cache for
    at most `max_length` target positions (start token included), and detokenisation up to each
    row's end token all run in the graph: `SequenceToSequenceRun.generate` and the export's
    `serving_default` are this one function. An empty source, or one longer than
    `max_source_length` tokens (the longest the model was trained on), is refused, not cut.
    """

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sources")])
    def text_to_text(sources):
        token_ids, padding_mask = source_inputs(tokenizer, sources)
        lengths = tf.reduce_sum(padding_mask, axis=1)
        too_long = tf.debugging.assert_less_equal(
            tf.reduce_max(tf.concat([lengths, [0]], 0)), max_source_length,
            message=f"a source is longer than max_source_length={max_source_length} tokens, the longest the model "
                    "was trained on; split it or train with a larger max_source_length",
        )
        with tf.control_dependencies([check_nonempty(lengths, "source", "to read"), too_long]):
            token_ids = tf.identity(token_ids)
        written = model.generate(token_ids, padding_mask, START_ID, END_ID, max_length=max_length)
        return target_texts(tokenizer, written)

    return text_to_text


def export_seq2seq(model, tokenizer, max_source_length, max_length, export_dir="saved_models", name="seq2seq",
                   version=None, files=None):
    """Writes `export_dir/name/version/`, a SavedModel whose `serving_default` takes `sources`
    (tf.string, [batch]) and answers `targets` (tf.string, [batch]), the greedy output for each
    (`text_to_text_function`; sources of at most `max_source_length` tokens, targets of at most
    `max_length - 1`).

    Written to a temporary directory and renamed into place (never half-written, never overwriting
    a version), with `tokenizer.json` and any `files` (name -> JSON-able) beside it.

    Returns:
        The path of the written version directory.
    """
    text_to_text = text_to_text_function(model, tokenizer, max_source_length, max_length)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sources")])
    def serve(sources):
        return {"targets": text_to_text(sources)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    if not tokenizer.built:  # a KerasHub tokenizer used through `tokenize` alone was never built as a layer
        tokenizer.build(None)
    archive.track(tokenizer)
    for resource in tokenizer_resources(tokenizer):
        archive.track(resource)
    files = {"tokenizer.json": keras.saving.serialize_keras_object(tokenizer), **(files or {})}
    return write_export(archive, export_dir, name, version, files, endpoints={"serving_default": serve})
