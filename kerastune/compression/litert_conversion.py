"""A text classifier export as a LiteRT (TFLite) flatbuffer: token ids in, probabilities out, the vocabulary beside it.

On a phone or a microcontroller there is no TensorFlow Text, so the string part of the serving
graph stays out: the `.tflite` file takes the dense encoder inputs `token_ids`, `segment_ids`,
`padding_mask` (int32, (batch, seq), any batch and length: resize the inputs per call) and answers
`probabilities` (float32, (batch, num_classes)). `vocab.txt` (one word piece a line, the id is the
line number) is written beside it for the app's WordPiece tokenizer (LiteRT Support's
`BertTokenizer`, or any WordPiece implementation), with `[CLS] text [SEP]` packing as in training.

`quantization="dynamic_int8"` stores the weights in int8 and lets LiteRT's kernels quantize the
activations on the fly, call by call (TFLiteConverter's `Optimize.DEFAULT` with no representative data
set; weights of fewer than 1,024 values stay float32). For the SST-2 MiniLM-L6 classifier on 2 cores: a
quarter of the float32 file, one sentence in 4.2 ms instead of 7.0, 2.4x the sentences/s at batch 64,
dev accuracy 90.37 vs 90.48 (benchmarks/README.md). Its probabilities differ from the float32 model's
(by up to 0.12 there), so measure the accuracy on your task.

On a server, `LiteRTTextClassifier` (`litert_text_classifier`) answers strings with such a file and the
export's own tokenizer.
"""

import os
import shutil

import numpy as np
import tensorflow as tf

from kerastune.models.bert_encoder import INPUT_NAMES as INPUTS  # the `token_ids` signature's

SIGNATURE = "token_ids"  # the export's encoder-and-softmax signature
QUANTIZATIONS = (None, "dynamic_int8")


def convert_to_litert(export_path, directory, name="model", quantization=None):
    """Converts a text classifier export's `token_ids` signature to `directory/name.tflite`; returns its path.

    The export's own encoder-and-softmax signature is converted (`TFLiteConverter.from_saved_model`,
    LiteRT's builtin ops only), so the file computes what `serving_default` does after tokenizing.
    `vocab.txt` is copied beside it.

    Args:
        export_path: str, a `export_text_classifier` export (version directory, or the model
            directory for its latest version).
        directory: str, created if missing.
        name: str, the file name without `.tflite`.
        quantization: `None` (float32 weights, the export's probabilities) or `"dynamic_int8"` (int8
            weights, activations quantized per call: smaller and faster, slightly different answers).

    Example:

    >>> path = convert_to_litert("saved_models/sst2/1", "/tmp/sst2_litert")  # doctest: +SKIP
    >>> x = {"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": 1 + 0 * ids}  # doctest: +SKIP
    >>> LiteRTClassifier(path)(x)  # doctest: +SKIP
    """
    from kerastune.saved_model_predict import find_saved_model

    if quantization not in QUANTIZATIONS:
        raise ValueError(f"`quantization` must be one of {QUANTIZATIONS}. Received: quantization={quantization!r}")
    export_path = find_saved_model(export_path)
    vocabulary = os.path.join(export_path, "assets.extra", "vocab.txt")
    if not os.path.exists(vocabulary):
        raise ValueError("This export has no token_ids signature and vocabulary (assets.extra/vocab.txt): "
                         f"re-export it with export_text_classifier. Received: export_path={export_path!r}")
    import tensorflow_text  # noqa: F401  (the export's tokenizer ops, which loading it needs)

    converter = tf.lite.TFLiteConverter.from_saved_model(export_path, signature_keys=[SIGNATURE])
    if quantization == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: weights-only int8
    flatbuffer = converter.convert()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.tflite")
    with open(f"{path}.partial", "wb") as f:  # a crash mid-write leaves no half-written .tflite behind
        f.write(flatbuffer)
    os.replace(f"{path}.partial", path)
    shutil.copyfile(vocabulary, os.path.join(directory, "vocab.txt"))
    return path


def _interpreter(path, num_threads=None):
    try:  # LiteRT's own package, where installed; TensorFlow's copy of the same interpreter otherwise
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=path, num_threads=num_threads or _usable_cores())


def _usable_cores():
    """The cores this process may run on (a container's share, where Linux says), else every core."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


class LiteRTClassifier:
    """Runs a `convert_to_litert` file: dense int32 encoder inputs in, probabilities out.

    An interpreter answers one call at a time: give each serving thread its own.

    Args:
        path: str, the `.tflite` file.
        num_threads: int, the interpreter's threads; default: every core this process may use.

    Call arguments:
        features: dict of `token_ids`, `segment_ids`, `padding_mask`, int arrays (batch, seq).

    Returns:
        np.ndarray float32 (batch, num_classes).

    Example:

    >>> LiteRTClassifier("/tmp/sst2_litert/model.tflite")(features).argmax(-1)  # doctest: +SKIP
    """

    def __init__(self, path, num_threads=None):
        self.path = path
        self.interpreter = _interpreter(path, num_threads)
        self.runner = self.interpreter.get_signature_runner(SIGNATURE)

    def __call__(self, features):
        missing = [n for n in INPUTS if n not in features]
        if missing:
            raise ValueError(f"The LiteRT classifier takes {INPUTS}; inputs {missing} are missing. "
                             f"Received: features={sorted(features)}")
        arrays = {n: np.asarray(features[n], np.int32) for n in INPUTS}
        return self.runner(**arrays)["probabilities"]


def litert_probabilities(path, features):
    """`LiteRTClassifier(path)(features)`: probabilities of one batch from a `.tflite` file."""
    return LiteRTClassifier(path)(features)
