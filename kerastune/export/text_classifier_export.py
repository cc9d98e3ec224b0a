"""A string-in SavedModel for TF Serving: raw text in, probabilities and label names out.

KerasHub's exported models take token ids, so every client must tokenise exactly as training did
(keras-hub issues 784, 2015). This export puts the backbone's own tokenizer into the serving graph,
through the same `tokenize_and_pack` (`packer`) that built the training batches.

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
Bytes that are not UTF-8 are read as U+FFFD (the tokenizer's [UNK]) instead of failing the whole
batch, and a batch of 0 texts answers empty outputs.

Speed: the encoder runs on length-sorted chunks of at most `chunk_size` texts, each padded only to
its own longest text (`length_sorted_chunks`), inside the one traced graph (no retracing per
length or batch size); rounding widths up to a multiple of 8 measured slower (benchmarks/README.md).
A `TextClassifier` over a BERT-built backbone runs each chunk packed (`packed_rows`): its texts side by
side in rows as wide as its longest, each attending only to itself, so the matmuls span the whole chunk
with almost no padding. Packed chunks are cut in the request's own order (mixed lengths pack tighter),
64 texts each by default (16 unpacked) and at most about 16 x `sequence_length` tokens, so long
texts take no more memory than unpacked chunks of 16. On SST-2 dev: 1.24x the sentences/s of unpacked
chunks at batch 64, 1.04-1.20x at batch 256, one sentence within the run-to-run spread
(benchmarks/README.md).
Threads are the server's setting, not the SavedModel's: TF Serving's
`--tensorflow_intra_op_parallelism` / `--tensorflow_inter_op_parallelism` (in Python
`tf.config.threading`; benchmarks/serving.py's `--intra-op-threads` / `--inter-op-threads`).

Signatures `tokenize` (strings -> dense `token_ids`, `segment_ids`, `padding_mask`, with each text's
`num_tokens` and `truncated`) and `token_ids` (the three dense inputs -> `probabilities`) are the two
halves of `serving_default`, for profiling and for clients
that run the encoder elsewhere (`kerastune.compression.convert_to_litert` converts `token_ids`, and
`LiteRTTextClassifier` answers strings with `tokenize` and that file: on a 2-core CPU, one SST-2 sentence
2.2x faster than `serving_default` in float32, 3.6x in int8); `assets.extra/vocab.txt` holds the
tokenizer's word pieces.

REST (TF Serving): `POST /v1/models/<name>:predict` with `{"instances": ["a great film", ...]}`
(pair tasks: `{"instances": [{"text": ..., "text_pair": ...}, ...]}`) answers
`{"predictions": [{"probabilities": [...], "label_ids": 1, "label_names": "positive", "num_tokens": 3,
"truncated": false}, ...]}`.
"""

import keras
import tensorflow as tf

from kerastune.export.export_writer import write_export
from kerastune.export.string_signatures import (DENSE_SPECS, encoder_on_strings, encoder_outputs_function,
                                                string_signature, tokenize_function)
from kerastune.models.backbones import max_sequence_length

# TensorFlow Text ops in the serving graph (KerasHub's WordPiece tokenizer), beside core TF ops.
TEXT_OPS = ("NormalizeUTF8", "CaseFoldUTF8", "RegexSplitWithOffsets", "FastWordpieceTokenizeWithOffsets")


def serving_function(model, tokenizer, label_names, pair=False, sequence_length=None, chunk_size=None,
                     pad_to_multiple_of=1, truncate="end", logits=None, packed=None):
    """Returns a `tf.function` mapping raw strings to `{probabilities, label_ids, label_names,
    num_tokens, truncated}`.

    The encoder runs on chunks of the texts (`string_signatures.encoder_on_strings`).

    Args:
        model: a `TextClassifier` (or any model taking the backbone inputs and returning logits).
        tokenizer: the backbone's tokenizer.
        label_names: list of str.
        pair: bool, whether a second text input `text_pair` is taken.
        sequence_length: int or None for the backbone's maximum.
        chunk_size: int, the most texts the encoder runs at once, or None: 64 packed, 16 not.
        pad_to_multiple_of: int, chunk widths are rounded up to a multiple of it.
        truncate: `"end"` or `"middle"`, what a too-long text loses (as the model was trained).
        logits: the `encoder_outputs_function(model)` to call unpacked, or None for a new one (an export passes
            the one its `token_ids` signature calls, so an unpacked model is traced once).
        packed: bool, or None to pack whenever `packed_rows.packs(model)`.
    """
    names = tf.constant([str(n) for n in label_names])
    encode = encoder_on_strings(model, tokenizer, (len(label_names),), pair, sequence_length, chunk_size,
                                pad_to_multiple_of, truncate, outputs=logits, packed=packed)

    def serve(text, text_pair=None):
        logits, read = encode(text, text_pair)  # (batch, num_classes)
        label_ids = tf.argmax(logits, axis=-1)
        return {
            "probabilities": tf.nn.softmax(logits, axis=-1),
            "label_ids": label_ids,
            "label_names": tf.gather(names, label_ids),
            **read,
        }

    return string_signature(serve, pair)


def token_ids_function(model, logits=None):
    """Returns a `tf.function`: dense `{token_ids, segment_ids, padding_mask}` (batch, seq) int32 -> `probabilities`.

    The `token_ids` signature: the encoder and softmax alone, as a LiteRT conversion or a client
    with its own tokenizer (the vocabulary is `assets.extra/vocab.txt`) runs it. `logits`: the
    `encoder_outputs_function(model)` to call, or None for a new one.
    """
    logits = logits or encoder_outputs_function(model)

    def probabilities(token_ids, segment_ids, padding_mask):
        return {"probabilities": tf.nn.softmax(logits(token_ids, segment_ids, padding_mask), axis=-1)}

    return tf.function(probabilities, input_signature=DENSE_SPECS)


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
    chunk_size=None,
    pad_to_multiple_of=1,
    truncate="end",
    packed=None,
):
    """Writes `export_dir/name/<version>/` atomically; returns its path.

    Signatures: `serving_default` (strings in), `tokenize` (strings -> dense encoder inputs) and
    `token_ids` (dense encoder inputs -> probabilities). Beside `saved_model.pb` it writes
    `label_names.json`, `assets.extra/vocab.txt` (the tokenizer's word pieces, one a line), and
    `evaluation.json` / `config.json` when `report` / `config` are given (TF Serving ignores these).

    Args:
        model, tokenizer, label_names, pair, sequence_length, chunk_size, pad_to_multiple_of,
            truncate, packed: as `serving_function`.
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
    if sequence_length is None:
        sequence_length = max_sequence_length(getattr(model, "backbone", None))
    archive = keras.export.ExportArchive()
    archive.track(model)
    logits = encoder_outputs_function(model)
    endpoints = {  # `logits` and the tokenizer (`packer`) are each traced once between them; packing: once more
        "serving_default": serving_function(
            model, tokenizer, label_names, pair, sequence_length, chunk_size, pad_to_multiple_of, truncate,
            logits=logits, packed=packed,
        ),
        "tokenize": tokenize_function(tokenizer, sequence_length, pair, truncate),
        "token_ids": token_ids_function(model, logits=logits),
    }
    files = {"label_names.json": [str(n) for n in label_names], "evaluation.json": report, "config.json": config}
    vocabulary = "".join(f"{piece}\n" for piece in tokenizer.get_vocabulary())
    return write_export(archive, export_dir, name, version, files, {"assets.extra/vocab.txt": vocabulary},
                        endpoints=endpoints)
