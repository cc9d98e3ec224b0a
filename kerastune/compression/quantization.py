"""int8 (or another Keras mode) copies of a classifier, through Keras's own `Model.quantize`.

`Model.quantize("int8")` stores every `Dense`, `EinsumDense` and `Embedding` kernel as int8 with a
float scale per output channel (abs-max), and quantizes the activations entering each matmul on
the fly: about a quarter of the float32 file. On TensorFlow's CPU kernels the int8 matmul runs
slower than float32's oneDNN one (measured in benchmarks/README.md, "Deploy"): int8 buys size.
The copy exports string-in like any classifier (`export_text_classifier`).
"""

import warnings

import keras

MODES = ("int8", "float8", "int4")


def quantized_copy(model, mode="int8"):
    """Returns a copy of `model` quantized with `Model.quantize(mode)`; `model` itself is left float.

    Args:
        model: a Keras model that round-trips through `get_config` / `from_config` (every kerastune
            task model does), e.g. a fine-tuned `TextClassifier` or `TokenClassifier`.
        mode: str, one of `"int8"`, `"float8"`, `"int4"` (Keras's modes).

    Returns:
        The quantized copy, same inputs and outputs.

    Example:

    >>> small = quantized_copy(model, "int8")  # doctest: +SKIP
    >>> export_text_classifier(small, tokenizer, ["negative", "positive"], name="sst2_int8")  # doctest: +SKIP
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES} (Keras's quantization modes). Received: mode={mode!r}")
    copy = model.__class__.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    with warnings.catch_warnings():  # "Layer Dropout does not have a `quantize` method": expected, not news
        warnings.filterwarnings("ignore", message=".*does not have a `quantize` method")
        copy.quantize(mode)
    return copy
