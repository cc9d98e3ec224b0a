"""Strings in, probabilities out, on a server: the export's tokenizer, then a LiteRT encoder.

TensorFlow runs a small encoder's graph op by op, about a thousand ops per sentence, on its own matmul
kernels: one short sentence takes MiniLM-L6 ~12-16 ms on 2 cores. LiteRT's interpreter (XNNPACK kernels,
about 480 ops) runs the same `token_ids` signature, converted by `convert_to_litert`, with the same
float32 probabilities (2e-6) in less than half that: 7.0 vs 15.2 ms for an SST-2 dev sentence,
4.2 ms with `quantization="dynamic_int8"` (benchmarks/README.md). This class puts the export's own
`tokenize` signature in front of it, so a server answers strings as the export's `serving_default` does.

A request's texts are sorted by length and run in chunks of `chunk_size`, each padded only to its own
longest text: the interpreter takes any batch and length (re-planning for a new shape cost ~7% of a
single-sentence call). Texts longer than the backbone's maximum are cut as the export cuts them.
"""

import json
import os

import numpy as np
import tensorflow as tf

from kerastune.compression.litert_conversion import INPUTS, LiteRTClassifier


class LiteRTTextClassifier:
    """Answers strings with a `convert_to_litert` file and the export it was converted from.

    The export supplies the tokenizer (its `tokenize` signature, so TensorFlow Text must be importable)
    and `label_names.json`; the `.tflite` file runs the encoder. An interpreter answers one call at a
    time: give each serving thread its own instance.

    Args:
        litert_path: str, the `.tflite` file of `convert_to_litert`.
        export_path: str, the `export_text_classifier` export it was converted from (version directory,
            or the model directory for its latest version).
        chunk_size: int, texts per interpreter call, grouped by length (8 measured fastest for
            MiniLM-L6 on 2 cores, float32 and int8).
        num_threads: int, the interpreter's threads; default: every core.

    Call arguments:
        text: strings (a list, a NumPy array or a `tf.string` tensor of shape (batch,)).
        text_pair: the second texts of a pair task, like `text`.

    Returns:
        dict of NumPy arrays: `probabilities` float32 (batch, num_classes), `label_ids` int64 (batch,),
        `label_names` bytes (batch,), and as `serving_default` answers them, `num_tokens` int32 (batch,):
        the word pieces read, 0 for an empty text, and `truncated` bool (batch,): the text was cut.

    Example:

    >>> litert = convert_to_litert("saved_models/sst2/1", "/tmp/sst2_litert")  # doctest: +SKIP
    >>> classifier = LiteRTTextClassifier(litert, "saved_models/sst2/1")  # doctest: +SKIP
    >>> classifier(["a gripping, beautiful film"])["label_names"]  # doctest: +SKIP
    array([b'positive'], dtype=object)
    """

    def __init__(self, litert_path, export_path, chunk_size=8, num_threads=None):
        from kerastune.saved_model_predict import find_saved_model

        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"`chunk_size` must be a positive int. Received: chunk_size={chunk_size!r}")
        import tensorflow_text  # noqa: F401  (registers the tokenizer's ops before loading)

        export_path = find_saved_model(export_path)
        self.tokenize = tf.saved_model.load(export_path).signatures["tokenize"]
        with open(os.path.join(export_path, "label_names.json"), encoding="utf-8") as f:
            self.label_names = np.array([name.encode("utf-8") for name in json.load(f)], dtype=object)
        self.encoder = LiteRTClassifier(litert_path, num_threads)
        self.chunk_size = chunk_size

    def __call__(self, text, text_pair=None):
        text = tf.convert_to_tensor(text, tf.string)
        if text.shape.rank != 1:
            raise ValueError(f"`text` must be a batch of strings, shape (batch,). Received: shape={text.shape}")
        inputs = {"text": text} if text_pair is None else {"text": text,
                                                            "text_pair": tf.convert_to_tensor(text_pair, tf.string)}
        tokenized = self.tokenize(**inputs)
        features = {name: tokenized[name].numpy() for name in INPUTS}
        lengths = features["padding_mask"].sum(axis=1)
        probabilities = np.zeros((len(lengths), len(self.label_names)), np.float32)
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self.chunk_size):
            rows = order[start:start + self.chunk_size]
            width = int(lengths[rows].max())
            probabilities[rows] = self.encoder({name: value[rows, :width] for name, value in features.items()})
        label_ids = probabilities.argmax(axis=-1).astype(np.int64)
        answer = {"probabilities": probabilities, "label_ids": label_ids, "label_names": self.label_names[label_ids]}
        # what the text gave the model, as `serving_default` reports it (exports before 2026-12-06 do not say)
        answer.update({name: tokenized[name].numpy() for name in ("num_tokens", "truncated") if name in tokenized})
        return answer
