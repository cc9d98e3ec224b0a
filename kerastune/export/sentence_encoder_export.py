"""A string-in SavedModel of a sentence encoder: raw text in, one embedding per text out.

For semantic search and recommendation: a service embeds its documents once, then each query, and
ranks the documents by cosine similarity (with a normalised encoder, a dot product: the vectors go
straight into a vector index such as ScaNN or FAISS). The tokenizer is inside the serving graph, as
in `export_text_classifier`, so clients send strings and need no kerastune, Keras or KerasHub; only
TensorFlow and the TensorFlow Text ops of the WordPiece tokenizer (`TEXT_OPS`, see
`text_classifier_export` about TF Serving).

Signature `serving_default`:
    inputs:  `text` tf.string (batch,).
    outputs: `embeddings` float32 (batch, dim) (unit length when the encoder normalises),
             `num_tokens` int32 (batch,): the word pieces read ([CLS]/[SEP] not counted; 0 for an
             empty text, whose embedding means nothing), `truncated` bool (batch,): the text was
             longer than the encoder's maximum and was cut (its `truncate` part: the end, or the middle).

Signatures `tokenize` (strings -> dense encoder inputs) and `token_ids` (dense encoder inputs ->
`embeddings`) are its two halves. The encoder runs on packed rows of the texts (`packed_rows`), or
length-sorted chunks where it cannot pack. Beside `saved_model.pb`: `assets.extra/vocab.txt` and
`embedding.json` (`{"dim", "normalized", "pooling", "similarity": "cosine"}`).

REST (TF Serving): `POST /v1/models/<name>:predict` with `{"instances": ["a query", ...]}` answers
`{"predictions": [{"embeddings": [...], "num_tokens": 2, "truncated": false}, ...]}`.
"""

import keras
import tensorflow as tf

from kerastune.export.export_writer import write_export
from kerastune.export.string_signatures import (DENSE_SPECS, encoder_on_strings, encoder_outputs_function,
                                                string_signature, tokenize_function)
from kerastune.models.backbones import max_sequence_length


def export_sentence_encoder(model, tokenizer, export_dir="saved_models", name="sentence_encoder", version=None,
                            sequence_length=None, report=None, config=None, truncate="end", chunk_size=None,
                            packed=None):
    """Writes `export_dir/name/<version>/` atomically; returns its path.

    Args:
        model: a `SentenceEncoder`.
        tokenizer: its backbone's tokenizer.
        export_dir: str, the export root (TF Serving's model base path is `export_dir/name`).
        name: str, the model name.
        version: positive int or None for the next free version.
        sequence_length: int or None for the backbone's maximum (longer texts are truncated).
        report: dict or None, a `retrieval_report`, saved as `evaluation.json`.
        config: dict or None, the resolved training config, saved as `config.json`.
        truncate: `"end"` or `"middle"`, what a too-long text loses (as the model was trained).
        chunk_size, packed: how the encoder runs a request (`string_signatures.encoder_on_strings`).

    Example:

    >>> path = export_sentence_encoder(encoder, tokenizer, name="news_search")  # doctest: +SKIP
    >>> serve = tf.saved_model.load(path).signatures["serving_default"]  # doctest: +SKIP
    >>> serve(text=tf.constant(["stocks fell", "markets drop"]))["embeddings"].shape  # doctest: +SKIP
    TensorShape([2, 384])
    """
    if not hasattr(model, "embedding_dim"):
        raise ValueError("export_sentence_encoder exports a SentenceEncoder (its `embedding_dim` sizes the output). "
                         f"Received: model={type(model).__name__} {getattr(model, 'name', '')!r}")
    if sequence_length is None:
        sequence_length = max_sequence_length(getattr(model, "backbone", None))
    dim = model.embedding_dim
    outputs = encoder_outputs_function(model)
    encode = encoder_on_strings(model, tokenizer, (dim,), False, sequence_length, chunk_size, 1, truncate,
                                outputs=outputs, packed=packed)

    def serve(text):
        embeddings, read = encode(text)
        return {"embeddings": embeddings, **read}

    def embed_token_ids(token_ids, segment_ids, padding_mask):
        return {"embeddings": outputs(token_ids, segment_ids, padding_mask)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    endpoints = {
        "serving_default": string_signature(serve, pair=False),
        "tokenize": tokenize_function(tokenizer, sequence_length, False, truncate),
        "token_ids": tf.function(embed_token_ids, input_signature=DENSE_SPECS),
    }
    description = {"dim": dim, "normalized": bool(getattr(model, "normalize", False)),
                   "pooling": getattr(model, "pooling", None), "similarity": "cosine"}
    files = {"embedding.json": description, "evaluation.json": report, "config.json": config}
    vocabulary = "".join(f"{piece}\n" for piece in tokenizer.get_vocabulary())
    return write_export(archive, export_dir, name, version, files, {"assets.extra/vocab.txt": vocabulary},
                        endpoints=endpoints)
