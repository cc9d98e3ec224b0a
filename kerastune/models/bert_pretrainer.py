"""BERT pretraining: a `BertEncoder` with a masked-LM head tied to its token embeddings and an optional NSP head."""

import keras
from keras import ops

from kerastune.api import register
from kerastune.models.bert_encoder import BertEncoder
from kerastune.training import adamw

INPUT_NAMES = ("token_ids", "segment_ids", "padding_mask", "mask_positions")


@register
class TiedMaskedLMHead(keras.layers.Layer):
    """BERT's masked-LM head, output projection tied to the token embedding matrix E.

    `logits = LN(gelu(h W + b)) E^T + b_vocab` at the gathered masked positions (Devlin et al.,
    2019; the transform and output bias as in the original `cls/predictions`). Tying shares E with
    the encoder: the head owns only W, b, the layer norm and `b_vocab`.

    Args:
        token_embedding: the encoder's `keras.layers.Embedding` (not serialized: the owning model
            passes it again when rebuilt, as KerasHub's `MaskedLMHead` does).
        activation: the transform activation.
        layer_norm_epsilon: float.

    Call arguments:
        sequence_output: (batch, seq, hidden).
        mask_positions: int (batch, masks), positions to predict.

    Returns:
        logits, float32 (batch, masks, vocabulary_size).
    """

    def __init__(self, token_embedding, activation="gelu", layer_norm_epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.token_embedding = token_embedding
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon

    def build(self, sequence_output_shape, mask_positions_shape=None):
        hidden = sequence_output_shape[-1]
        self.transform = keras.layers.Dense(
            hidden, activation=self.activation, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="transform", dtype=self.dtype_policy,
        )
        self.transform.build(sequence_output_shape)
        self.layer_norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="layer_norm",
                                                          dtype=self.dtype_policy)
        self.layer_norm.build(sequence_output_shape)
        self.output_bias = self.add_weight(
            shape=(self.token_embedding.input_dim,), initializer="zeros", name="output_bias"
        )

    def call(self, sequence_output, mask_positions):
        positions = ops.cast(mask_positions, "int32")[:, :, None]  # (batch, masks, 1)
        h = ops.take_along_axis(sequence_output, positions, axis=1)  # (batch, masks, hidden)
        h = self.layer_norm(self.transform(h))
        embeddings = ops.cast(self.token_embedding.embeddings, h.dtype)  # (vocab, hidden)
        logits = ops.matmul(h, ops.transpose(embeddings)) + ops.cast(self.output_bias, h.dtype)
        return ops.cast(logits, "float32")  # (batch, masks, vocab)

    def compute_output_shape(self, sequence_output_shape, mask_positions_shape):
        return (*mask_positions_shape, self.token_embedding.input_dim)

    def get_config(self):
        config = super().get_config()
        config.update({"activation": keras.activations.serialize(self.activation),
                       "layer_norm_epsilon": self.layer_norm_epsilon})
        return config


@register
class BertPretrainer(keras.Model):
    """A `BertEncoder` + tied masked-LM head (+ a next-sentence-prediction head on the pooled [CLS]).

    Loss (`compile` defaults): `L = L_MLM + L_NSP`, with
    `L_MLM = -(1/M) sum_{i in masked} log P(x_i | x_\\i)`, the masked-LM cross-entropy over masked
    positions only (M of them in the batch; padded mask slots and unmasked tokens weigh 0 through
    `mask_weights`), i.e. the seed's `-sum_i log P(x_i | x_\\i)` normalised per masked token; and
    `L_NSP` the cross-entropy of the IsNext/NotNext logits over examples with a second segment.
    With `next_sentence=False` (masked LM only, RoBERTa-style) there is no NSP head and `L = L_MLM`;
    the encoder's tanh pooler then gets no gradient, so this model leaves it out of its
    `trainable_weights` (the optimizer neither tracks nor warns about it; the encoder's own
    `trainable` flags are not touched). Keras then logs the masked-LM loss as `loss` (one head: no
    `mlm_loss` entry) and its accuracy as `mlm_accuracy`. Targets must match the heads: build the
    `MaskedLMDataset` with the same `next_sentence` (a mismatch is a clear error).

    Args:
        encoder: a `BertEncoder`.
        dropout: float, before the NSP logits (unused without NSP).
        next_sentence: bool, build the NSP head and output.

    Call arguments:
        inputs: dict of int32 `token_ids`, `segment_ids`, `padding_mask` (batch, seq) and
            `mask_positions` (batch, masks).

    Returns:
        dict: `mlm` logits (batch, masks, vocabulary_size), `nsp` logits (batch, 2) (only with
        `next_sentence=True`).

    Example:

    >>> import numpy as np
    >>> encoder = BertEncoder(100, 1, 2, 16, 32, max_sequence_length=16)
    >>> model = BertPretrainer(encoder)
    >>> x = {k: np.ones((2, 8), "int32") for k in ("token_ids", "segment_ids", "padding_mask")}
    >>> x["mask_positions"] = np.array([[1, 2], [3, 0]], "int32")
    >>> model(x)["mlm"].shape
    TensorShape([2, 2, 100])
    """

    def __init__(self, encoder, dropout=0.1, next_sentence=True, **kwargs):
        if not isinstance(encoder, BertEncoder):
            raise ValueError(f"encoder must be a kerastune BertEncoder; received {type(encoder).__name__}")
        inputs = {
            "token_ids": keras.Input((None,), dtype="int32", name="token_ids"),
            "segment_ids": keras.Input((None,), dtype="int32", name="segment_ids"),
            "padding_mask": keras.Input((None,), dtype="int32", name="padding_mask"),
            "mask_positions": keras.Input((None,), dtype="int32", name="mask_positions"),
        }
        features = encoder({k: inputs[k] for k in ("token_ids", "segment_ids", "padding_mask")})
        self.masked_lm_head = TiedMaskedLMHead(
            encoder.token_embedding, activation=encoder.activation, layer_norm_epsilon=encoder.layer_norm_epsilon,
            name="masked_lm_head",
        )
        outputs = {"mlm": self.masked_lm_head(features["sequence_output"], inputs["mask_positions"])}
        if next_sentence:
            pooled = keras.layers.Dropout(dropout, name="nsp_dropout")(features["pooled_output"])
            outputs["nsp"] = keras.layers.Dense(2, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                                                name="nsp", dtype="float32")(pooled)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.encoder = encoder
        self.dropout = dropout
        self.next_sentence = bool(next_sentence)

    def compile(self, optimizer="auto", loss="auto", weighted_metrics="auto", **kwargs):
        """Defaults: `adamw(1e-4, weight_decay=0.01)`; masked-only sparse CE for each head; accuracies."""
        heads = ("mlm", "nsp") if self.next_sentence else ("mlm",)
        if optimizer == "auto":
            optimizer = adamw(1e-4)
        if loss == "auto":
            loss = {h: keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")
                    for h in heads}
        if weighted_metrics == "auto":  # Keras prefixes "mlm_" / "nsp_" only when there are two heads
            weighted_metrics = {
                h: [keras.metrics.SparseCategoricalAccuracy(name="accuracy" if self.next_sentence else "mlm_accuracy")]
                for h in heads
            }
        super().compile(optimizer=optimizer, loss=loss, weighted_metrics=weighted_metrics, **kwargs)

    @property
    def trainable_weights(self):
        weights = super().trainable_weights
        if getattr(self, "next_sentence", True):
            return weights
        unused = {id(v) for v in self.encoder.pooled_dense.weights}  # MLM alone never reaches the pooler
        return [v for v in weights if id(v) not in unused]

    @property
    def non_trainable_weights(self):
        trainable = {id(v) for v in self.trainable_weights}
        return [v for v in self.weights if id(v) not in trainable]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if isinstance(y, dict) and isinstance(y_pred, dict) and set(y) != set(y_pred):
            raise ValueError(
                f"BertPretrainer(next_sentence={self.next_sentence}) has outputs {sorted(y_pred)} but the data "
                f"has targets {sorted(y)}; build the MaskedLMDataset (or masked_lm) with "
                f"next_sentence={self.next_sentence}"
            )
        return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)

    def get_config(self):
        return {"encoder": keras.saving.serialize_keras_object(self.encoder), "dropout": self.dropout,
                "next_sentence": self.next_sentence, "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)
