"""kerastune: Transformer models from scratch and fine-tuned, in Keras 3 on TensorFlow.

The subpackages (`kerastune.layers`, `models`, `data`, `training`, `distribute`, `evaluation`,
`export`, `recipes`, `peft`, `plots`) are imported on first use, so `kerastune list` and the command line's
error messages answer without starting TensorFlow.
"""

import importlib as _importlib
import os as _os

# Keras 3 picks its backend at import; kerastune is built on TensorFlow (tf.data, SavedModel export).
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

_SUBPACKAGES = ("layers", "models", "data", "training", "distribute", "evaluation", "export", "recipes", "peft",
                "plots")


def __getattr__(name):
    if name in _SUBPACKAGES:
        return _importlib.import_module(f"kerastune.{name}")
    raise AttributeError(f"module 'kerastune' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBPACKAGES])
