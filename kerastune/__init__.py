"""kerastune: Transformer models from scratch and fine-tuned, in Keras 3 on TensorFlow."""

import os as _os

# Keras 3 picks its backend at import; kerastune is built on TensorFlow (tf.data, SavedModel export).
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

from kerastune import layers  # noqa: E402,F401
