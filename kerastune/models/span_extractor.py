"""A start/end span head over any BERT-style backbone: extractive question answering (SQuAD)."""

import keras
from keras import ops

from kerastune.api import register
from kerastune.data.question_context import MASKED_LOGIT
from kerastune.models.backbone_task import BackboneTask, freeze_unused_pooler
from kerastune.models.bert_encoder import INPUT_NAMES
from kerastune.models.classifier_defaults import logits_layer
from kerastune.training import adamw


@register
class SpanLogits(keras.layers.Layer):
    """Per-position (start, end) logits, (batch, 2, seq), float32; only `[CLS]` and the context tokens may hold them.

    `Dense(2)` over the sequence, then every position that is neither the `[CLS]` (position 0, "no answer")
    nor a context token (segment 1, as `pack_question_context` packs it, but not the closing `[SEP]`, the
    last unpadded position) is set to `MASKED_LOGIT`: the softmax over positions is a distribution over
    where the answer can be.

    Args:
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        sequence: float (batch, seq, hidden), the backbone's `sequence_output`.
        segment_ids, padding_mask: int (batch, seq).

    Example:

    >>> import numpy as np
    >>> layer = SpanLogits()
    >>> layer(np.ones((1, 4, 8), "float32"), np.array([[0, 0, 1, 1]]), np.array([[1, 1, 1, 0]])).shape
    TensorShape([1, 2, 4])
    """

    def build(self, sequence_shape, segment_ids_shape=None, padding_mask_shape=None):
        self.dense = logits_layer(2, name="span_logits")
        self.dense.build(sequence_shape)

    def call(self, sequence, segment_ids, padding_mask):
        logits = ops.transpose(self.dense(sequence), (0, 2, 1))  # (batch, 2, seq), float32
        positions = ops.arange(ops.shape(segment_ids)[1])[None, :]
        last = ops.sum(ops.cast(ops.not_equal(padding_mask, 0), "int32"), axis=1, keepdims=True) - 1  # closing [SEP]
        context = ops.logical_and(ops.equal(segment_ids, 1), ops.not_equal(padding_mask, 0))
        allowed = ops.logical_or(ops.logical_and(context, ops.not_equal(positions, last)), ops.equal(positions, 0))
        return ops.where(allowed[:, None, :], logits, ops.cast(MASKED_LOGIT, logits.dtype))

    def compute_output_shape(self, sequence_shape, segment_ids_shape=None, padding_mask_shape=None):
        return (sequence_shape[0], 2, sequence_shape[1])


@keras.saving.register_keras_serializable(package="kerastune")
def span_accuracy(y_true, y_pred):
    """1.0 for an example whose predicted start and end (each position's argmax) are both right, else 0.0.

    Args:
        y_true: int (batch, 2), the start and end positions.
        y_pred: float (batch, 2, seq), the logits.
    """
    predicted = ops.argmax(y_pred, axis=-1)
    right = ops.equal(ops.cast(predicted, "int32"), ops.cast(y_true, "int32"))
    return ops.cast(ops.all(right, axis=-1), "float32")


@register
class SpanExtractor(BackboneTask):
    """Backbone sequence output -> dropout -> start and end logits over positions (BERT's SQuAD head).

    Feed it `[CLS] question [SEP] context [SEP]` windows (`kerastune.data.pack_question_context`); the label of
    a window is the (start, end) position of the answer's first and last token in it, or (0, 0), the
    `[CLS]`, when the window holds no answer (SQuAD 2.0); only those positions hold logits (`SpanLogits`).
    The loss is the mean of the start and end cross-entropies over positions, as in Devlin et al. 2019;
    `kerastune.data.best_answers` turns the logits back into text.

    Args:
        backbone: a `keras.Model` taking `{"token_ids", "segment_ids", "padding_mask"}` and returning
            `{"sequence_output", ...}` (KerasHub `BertBackbone`, kerastune's `BertEncoder`). Its pooler (if any)
            is unused and set `trainable=False`.
        dropout: float, dropout before the span head.

    Call arguments:
        inputs: dict of int32 (batch, seq) tensors `token_ids`, `segment_ids`, `padding_mask`.

    Returns:
        logits, float32 (batch, 2, seq): row 0 the start logits, row 1 the end logits; positions other than the
        `[CLS]` and the context's tokens hold `MASKED_LOGIT`.

    Example:

    >>> import numpy as np, keras_hub
    >>> backbone = keras_hub.models.BertBackbone(100, 1, 2, 8, 16, max_sequence_length=16)
    >>> model = SpanExtractor(backbone)
    >>> x = {"token_ids": np.ones((1, 6), "int32"), "segment_ids": np.array([[0, 0, 0, 1, 1, 1]]),
    ...      "padding_mask": np.ones((1, 6), "int32")}
    >>> model(x).shape
    TensorShape([1, 2, 6])
    """

    def __init__(self, backbone, dropout=0.1, **kwargs):
        inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in INPUT_NAMES}
        sequence = backbone(inputs)["sequence_output"]  # (batch, seq, hidden)
        freeze_unused_pooler(backbone)
        x = keras.layers.Dropout(dropout, name="output_dropout")(sequence)
        logits = SpanLogits(name="span_head")(x, inputs["segment_ids"], inputs["padding_mask"])
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone = backbone
        self.dropout = dropout

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Compiles with fine-tuning defaults: `adamw(5e-5)`, the mean of the start and end cross-entropies on
        logits, and `span_accuracy` (start and end both right)."""
        if optimizer == "auto":
            optimizer = adamw(5e-5)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)  # averaged over start and end
        if metrics == "auto":
            metrics = [keras.metrics.MeanMetricWrapper(span_accuracy, name="span_accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        return self.task_config(dropout=self.dropout)
