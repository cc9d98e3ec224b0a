"""A per-token tagging head over any BERT-style backbone (KerasHub `BertBackbone` or kerastune's own)."""

import keras

from kerastune.api import register
from kerastune.models.backbone_task import BackboneTask, freeze_unused_pooler
from kerastune.models.bert_encoder import INPUT_NAMES
from kerastune.models.classifier_defaults import logits_layer
from kerastune.training import adamw
from kerastune.training.label_smoothing import sparse_crossentropy


@register
class TokenClassifier(BackboneTask):
    """Backbone sequence output -> dropout -> dense logits per position (NER / BIO tagging).

    The output is logits (batch, seq, num_tags), float32 under mixed precision, so distillation and
    FGM can use them. Which positions count is the data's business: `TokenClassificationDataset`
    gives each word's first sub-word sample weight 1 and every other position 0, and `compile`'s
    defaults average the loss and accuracy over weighted positions only
    (`reduction="mean_with_sample_weight"`, `weighted_metrics`).

    Args:
        backbone: a `keras.Model` taking `{"token_ids", "segment_ids", "padding_mask"}` and returning
            `{"sequence_output", ...}`. Its pooler (if any) is unused and is set `trainable=False`.
        num_tags: int, the size of the tag set (`O`, `B-PER`, ...).
        dropout: float, dropout before the output layer.

    Call arguments:
        inputs: dict of int32 (batch, seq) tensors `token_ids`, `segment_ids`, `padding_mask`.

    Returns:
        logits, float32 (batch, seq, num_tags).

    Example:

    >>> import numpy as np, keras_hub
    >>> backbone = keras_hub.models.BertBackbone(100, 1, 2, 8, 16, max_sequence_length=16)
    >>> model = TokenClassifier(backbone, num_tags=5)
    >>> x = {k: np.ones((2, 7), "int32") for k in ("token_ids", "segment_ids", "padding_mask")}
    >>> model(x).shape
    TensorShape([2, 7, 5])
    """

    def __init__(self, backbone, num_tags, dropout=0.1, **kwargs):
        if isinstance(num_tags, bool) or not isinstance(num_tags, int) or num_tags < 2:
            raise ValueError(f"num_tags must be an integer >= 2; received {num_tags!r}")
        inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in INPUT_NAMES}
        sequence = backbone(inputs)["sequence_output"]  # (batch, seq, hidden)
        freeze_unused_pooler(backbone)
        x = keras.layers.Dropout(dropout, name="output_dropout")(sequence)
        logits = logits_layer(num_tags)(x)  # (batch, seq, num_tags)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone = backbone
        self.num_tags = num_tags
        self.dropout = dropout

    def compile(self, optimizer="auto", loss="auto", weighted_metrics="auto", label_smoothing=0.0, **kwargs):
        """Compiles with fine-tuning defaults: `adamw(5e-5)`, masked sparse CE on logits (smoothed by
        `label_smoothing` > 0), accuracy.

        Loss: `sum_i w_i * CE_i / sum_i w_i`, the mean cross-entropy over weighted positions (each
        word's first sub-word); padding and continuation pieces weigh nothing.
        """
        if optimizer == "auto":
            optimizer = adamw(5e-5)
        if loss == "auto":
            loss = sparse_crossentropy(label_smoothing, reduction="mean_with_sample_weight")
        if weighted_metrics == "auto":
            weighted_metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, weighted_metrics=weighted_metrics, **kwargs)

    def get_config(self):
        return self.task_config(num_tags=self.num_tags, dropout=self.dropout)
