"""A classification head over any BERT-style backbone (KerasHub `BertBackbone` or kerastune's own)."""

import keras

from kerastune.api import register
from kerastune.models.backbone_task import BackboneTask
from kerastune.models.classifier_defaults import classifier_compile_arguments, logits_layer
from kerastune.models.sentence_pooling import pool_features, pooled_backbone
from kerastune.training import adamw

@register
class TextClassifier(BackboneTask):
    """Backbone -> pooling -> dropout -> dense logits, for single texts and text pairs.

    The model outputs logits (batch, num_classes); probabilities are `softmax(logits)` (the export
    adds them). Logits stay the output so distillation and FGM can use them.

    Args:
        backbone: a `keras.Model` taking `{"token_ids", "segment_ids", "padding_mask"}` and returning
            `{"sequence_output", "pooled_output"}` (KerasHub `BertBackbone`, kerastune `BertEncoder`).
        num_classes: int.
        pooling: `"pooled"` (the backbone's tanh pooler on [CLS], as BERT), `"mean"` (masked mean of
            the sequence output, as sentence-transformers) or `"cls"` (the raw [CLS] vector). With
            `"mean"` or `"cls"` the backbone's pooler is unused and is set `trainable=False`.
        dropout: float, dropout before the output layer.

    Call arguments:
        inputs: dict of int32 (batch, seq) tensors `token_ids`, `segment_ids`, `padding_mask`.

    Returns:
        logits, float (batch, num_classes).

    Example:

    >>> import numpy as np, keras_hub
    >>> backbone = keras_hub.models.BertBackbone(100, 1, 2, 8, 16, max_sequence_length=16)
    >>> model = TextClassifier(backbone, num_classes=3, pooling="mean")
    >>> x = {k: np.ones((2, 5), "int32") for k in ("token_ids", "segment_ids", "padding_mask")}
    >>> model(x).shape
    TensorShape([2, 3])
    """

    def __init__(self, backbone, num_classes, pooling="pooled", dropout=0.1, **kwargs):
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2; received {num_classes!r}")
        inputs, pooled = pooled_backbone(backbone, pooling)
        x = keras.layers.Dropout(dropout, name="output_dropout")(pooled)
        logits = logits_layer(num_classes)(x)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone = backbone
        self.num_classes = num_classes
        self.pooling = pooling
        self.dropout = dropout

    def head_from_backbone_outputs(self, features, padding_mask):
        """The head alone, at inference: pooling and the logits layer over the backbone's outputs.

        For a serving path that runs the backbone its own way (`kerastune.export.packed_rows`).

        Args:
            features: dict, `sequence_output` (batch, seq, hidden) and, for pooling `"pooled"`,
                `pooled_output` (batch, hidden).
            padding_mask: int/bool (batch, seq), 1 for real tokens.

        Returns:
            logits (batch, num_classes).
        """
        return self.get_layer("logits")(pool_features(self.pooling, features, padding_mask, self))

    def compile(self, optimizer="auto", loss="auto", metrics="auto", label_smoothing=0.0, **kwargs):
        """Compiles with fine-tuning defaults: `adamw(5e-5)`, sparse CE on logits (smoothed by
        `label_smoothing` > 0), accuracy."""
        super().compile(**classifier_compile_arguments(optimizer, loss, metrics, lambda: adamw(5e-5), label_smoothing), **kwargs)

    def get_config(self):
        return self.task_config(num_classes=self.num_classes, pooling=self.pooling, dropout=self.dropout)
