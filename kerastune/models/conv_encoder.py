"""A convolutional text encoder with the BERT backbones' call interface: a small, fast distillation student."""

import keras
from keras import ops

from kerastune.api import base_model_config, keep_dtype_policy, register, restore_dtype_policy
from kerastune.models.bert_encoder import INPUT_NAMES


@register
class ConvEncoder(keras.Model):
    """Word-piece embeddings, then 1-D convolutions of several widths (Kim, 2014), optionally more layers.

    It takes and returns what `BertEncoder` and KerasHub's `BertBackbone` do, so `TextClassifier`,
    `TokenClassifier` and the string-in exports take it unchanged. Padded positions are zeroed
    before the convolutions and after them, so padding changes no output: `pooled_output` is the
    max over the real positions of the ReLU features (max-over-time pooling; 0 for a text of no
    tokens). It has no attention and no position table: a sentence costs about
    `sum(kernel_sizes) * embedding_dim * filters` multiply-adds per token (widths 3 and 5, 384
    wide, 256 filters: 0.79M, 7% of a 6-layer, 384-wide Transformer's 10.6M before attention).
    With `num_layers` > 1, each further layer adds a width-3 convolution of the features to them
    (a residual block, `features + relu(conv(features))`, padded positions zeroed again), widening
    what a feature sees by two tokens a layer, at `3 * features^2` multiply-adds per token.
    Start it from a teacher's word-piece table and distil into it with
    `kerastune.compression.distillation.conv_student_from_teacher`.

    Args:
        vocabulary_size: int, rows of the word-piece table (the teacher tokenizer's vocabulary).
        embedding_dim: int, width of the word-piece vectors.
        filters: int, output channels of each convolution.
        kernel_sizes: tuple of odd ints, the convolutions' widths in tokens; their outputs are
            concatenated, so the features are `filters * len(kernel_sizes)` wide.
        dropout: float, on the embeddings.
        max_sequence_length: int, the longest input the exports pack texts to (the convolutions
            themselves take any length).
        num_layers: int >= 1, the first layer of several widths plus `num_layers - 1` residual
            width-3 layers.
        dtype: dtype or `keras.DTypePolicy`.

    Call arguments:
        inputs: dict of int32 (batch, seq): `token_ids`, `segment_ids` (accepted, unused: a pair's
            two texts are told apart by their [SEP] only), `padding_mask` (1 = token).

    Returns:
        dict: `sequence_output` (batch, seq, features), `pooled_output` (batch, features).

    Example:

    >>> import numpy as np
    >>> encoder = ConvEncoder(vocabulary_size=100, embedding_dim=16, filters=8, kernel_sizes=(3, 5))
    >>> x = {k: np.ones((2, 7), "int32") for k in ("token_ids", "segment_ids", "padding_mask")}
    >>> encoder(x)["pooled_output"].shape
    TensorShape([2, 16])
    """

    def __init__(self, vocabulary_size, embedding_dim, filters=256, kernel_sizes=(3, 5), dropout=0.1,
                 max_sequence_length=512, num_layers=1, dtype=None, **kwargs):
        for arg, value in (("vocabulary_size", vocabulary_size), ("embedding_dim", embedding_dim),
                           ("filters", filters), ("max_sequence_length", max_sequence_length),
                           ("num_layers", num_layers)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be a positive int. Received: {arg}={value!r}")
        kernel_sizes = tuple(kernel_sizes)
        if not kernel_sizes or any(not isinstance(k, int) or k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd positive ints (a 'same' convolution centred on each "
                             f"token). Received: kernel_sizes={kernel_sizes!r}")
        self.token_embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="token_embedding",
                                                      dtype=dtype)
        self.embeddings_dropout = keras.layers.Dropout(dropout, name="embeddings_dropout", dtype=dtype)
        self.convolutions = [keras.layers.Conv1D(filters, width, padding="same", activation="relu",
                                                 name=f"conv_{width}", dtype=dtype) for width in kernel_sizes]

        inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in INPUT_NAMES}
        mask = ops.expand_dims(ops.cast(inputs["padding_mask"], self.token_embedding.compute_dtype), -1)
        x = self.embeddings_dropout(self.token_embedding(inputs["token_ids"])) * mask  # (batch, seq, embedding_dim)
        features = [convolution(x) for convolution in self.convolutions]
        features = features[0] if len(features) == 1 else keras.layers.Concatenate(name="features")(features)
        features = features * mask  # (batch, seq, filters * len(kernel_sizes)), 0 where padded
        width = filters * len(kernel_sizes)
        self.residual_convolutions = [keras.layers.Conv1D(width, 3, padding="same", activation="relu",
                                                          name=f"residual_conv_{i}", dtype=dtype)
                                      for i in range(1, num_layers)]
        for convolution in self.residual_convolutions:
            features = (features + convolution(features)) * mask
        sequence_output = features
        pooled_output = ops.max(sequence_output, axis=1)  # ReLU features are >= 0: the zeros never win
        super().__init__(inputs=inputs, outputs={"sequence_output": sequence_output, "pooled_output": pooled_output},
                         dtype=dtype, **kwargs)
        keep_dtype_policy(self, dtype)
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.filters = filters
        self.kernel_sizes = kernel_sizes
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_layers = num_layers
        self.hidden_dim = filters * len(kernel_sizes)

    def get_config(self):
        return {
            "vocabulary_size": self.vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "filters": self.filters,
            "kernel_sizes": list(self.kernel_sizes),
            "dropout": self.dropout,
            "max_sequence_length": self.max_sequence_length,
            "num_layers": self.num_layers,
            **base_model_config(self),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**restore_dtype_policy(config))
