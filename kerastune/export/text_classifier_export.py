"""A string-in SavedModel for TF Serving: raw text in, probabilities and label names out.

KerasHub's exported models take token ids, so every client must tokenise exactly as training did
(keras-hub issues 784, 2015). This export puts the backbone's own tokenizer into the serving graph,
through the same `tokenize_and_pack` that built the training batches.

Signature `serving_default`:
    inputs:  `text` tf.string (batch,), and `text_pair` tf.string (batch,) for pair tasks.
    outputs: `probabilities` float32 (batch, num_classes), `label_ids` int64 (batch,),
             `label_names` tf.string (batch,), `num_tokens` int32 (batch,): the word pieces of the
             text(s) the model read ([CLS]/[SEP] not counted), `truncated` bool (batch,): True when
             the text was longer than the backbone's maximum and its end was cut.

The SavedModel needs no kerastune, no Keras and no KerasHub to load, only TensorFlow and the
TensorFlow Text ops its WordPiece tokenizer uses (`TEXT_OPS`). In Python, `import tensorflow_text`
before `tf.saved_model.load` registers them. TF Serving's standard ModelServer (the
`tensorflow/serving` image) links TF Text ops in (tensorflow/serving#1490); newer TF Text ops have
lagged behind it before (tensorflow/serving#2064, `FastBertNormalize` in 2.10), so check
`FastWordpieceTokenizeWithOffsets` loads in the serving version you deploy: TF Serving logs
"Op type not registered" at load time otherwise, and then needs a ModelServer built with TF Text.

Texts longer than the backbone's maximum are truncated, as in training, and answered with
`truncated: true`. An empty or whitespace-only text still gets a label (from [CLS] [SEP] alone),
with `num_tokens: 0` saying that it read nothing: check it before trusting the label.

REST (TF Serving): `POST /v1/models/<name>:predict` with `{"instances": ["a great film", ...]}`
(pair tasks: `{"instances": [{"text": ..., "text_pair": ...}, ...]}`) answers
`{"predictions": [{"probabilities": [...], "label_ids": 1, "label_names": "positive", "num_tokens": 3,
"truncated": false}, ...]}`.
"""

import keras
import tensorflow as tf

from kerastune.data.bert_inputs import dense_inputs, pad_id, tokenize_and_pack
from kerastune.export.export_writer import write_export
from kerastune.models.backbones import max_sequence_length

# TensorFlow Text ops in the serving graph (KerasHub's WordPiece tokenizer), beside core TF ops.
TEXT_OPS = ("NormalizeUTF8", "CaseFoldUTF8", "RegexSplitWithOffsets", "FastWordpieceTokenizeWithOffsets")


def serving_function(model, tokenizer, label_names, pair=False, sequence_length=None):
    """Returns a `tf.function` mapping raw strings to `{probabilities, label_ids, label_names,
    num_tokens, truncated}`.

    Args:
        model: a `TextClassifier` (or any model taking the backbone inputs and returning logits).
        tokenizer: the backbone's tokenizer.
        label_names: list of str.
        pair: bool, whether a second text input `text_pair` is taken.
        sequence_length: int or None for the backbone's maximum.
    """
    if sequence_length is None:
        sequence_length = max_sequence_length(getattr(model, "backbone", None))
    names = tf.constant([str(n) for n in label_names])
    padding_id = pad_id(tokenizer)

    def serve(text, text_pair=None):
        token_ids, segment_ids, full_lengths = tokenize_and_pack(tokenizer, text, text_pair, sequence_length)
        used = tf.cast(token_ids.row_lengths(), tf.int32)
        features = dense_inputs(token_ids, segment_ids, padding_id)
        logits = tf.cast(model(features, training=False), tf.float32)  # (batch, num_classes)
        label_ids = tf.argmax(logits, axis=-1)
        return {
            "probabilities": tf.nn.softmax(logits, axis=-1),
            "label_ids": label_ids,
            "label_names": tf.gather(names, label_ids),
            "num_tokens": used - (2 if text_pair is None else 3),
            "truncated": full_lengths > used,
        }

    text_spec = tf.TensorSpec([None], tf.string, name="text")
    if pair:
        signature = [text_spec, tf.TensorSpec([None], tf.string, name="text_pair")]
        return tf.function(lambda text, text_pair: serve(text, text_pair), input_signature=signature)
    return tf.function(lambda text: serve(text), input_signature=[text_spec])


def export_text_classifier(
    model,
    tokenizer,
    label_names,
    export_dir="saved_models",
    name="text_classifier",
    version=None,
    pair=False,
    sequence_length=None,
    report=None,
    config=None,
):
    """Writes `export_dir/name/<version>/` atomically; returns its path.

    Beside `saved_model.pb` it writes `label_names.json`, and `evaluation.json` / `config.json`
    when `report` / `config` are given (TF Serving ignores these files).

    Args:
        model, tokenizer, label_names, pair, sequence_length: as `serving_function`.
        export_dir: str, the export root (TF Serving's model base path is `export_dir/name`).
        name: str, the model name.
        version: positive int or None for the next free version.
        report: dict or None, a `classification_report`.
        config: dict or None, the resolved training config.

    Example:

    >>> path = export_text_classifier(model, tokenizer, ["neg", "pos"])  # doctest: +SKIP
    >>> loaded = tf.saved_model.load(path)  # doctest: +SKIP
    >>> loaded.signatures["serving_default"](text=tf.constant(["great"])) # doctest: +SKIP
    """
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serving_function(model, tokenizer, label_names, pair, sequence_length))
    files = {"label_names.json": [str(n) for n in label_names], "evaluation.json": report, "config.json": config}
    return write_export(archive, export_dir, name, version, files)
