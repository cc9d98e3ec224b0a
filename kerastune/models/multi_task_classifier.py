"""One backbone, one classification head per task, the head chosen per example by a `task_ids` input."""

import keras
from keras import ops

from kerastune.api import register
from kerastune.models.backbone_task import BackboneTask, freeze_unused_pooler
from kerastune.models.bert_encoder import INPUT_NAMES
from kerastune.models.classifier_defaults import classifier_compile_arguments, logits_layer
from kerastune.models.sentence_pooling import MaskedMeanPooling
from kerastune.training import adamw

NEGATIVE = -1e9  # logit of a class the example's task does not have


@register
class MultiTaskClassifier(BackboneTask):
    """Backbone -> masked mean pooling -> dropout -> the head of each example's task.

    Task `t` has `num_classes[t]` classes; the logits are padded to `max(num_classes)` with a large
    negative value, so a softmax (and cross-entropy) over them sees only the task's own classes.
    Used by continual fine-tuning (`kerastune.recipes.continual`): a shared backbone and a head
    per task, the task chosen at serving time by the `task_ids` input.

    Args:
        backbone: a BERT-style backbone (KerasHub `BertBackbone` or kerastune `BertEncoder`).
        num_classes: list of int >= 2, the classes of each task.
        dropout: float, before the heads.

    Call arguments:
        inputs: dict of int32 (batch, seq) `token_ids`, `segment_ids`, `padding_mask` and int32
            (batch,) `task_ids`.

    Returns:
        logits, float32 (batch, max(num_classes)).

    Example:

    >>> import numpy as np, keras_hub
    >>> backbone = keras_hub.models.BertBackbone(100, 1, 2, 8, 16, max_sequence_length=16)
    >>> model = MultiTaskClassifier(backbone, num_classes=[2, 4])
    >>> x = {k: np.ones((2, 5), "int32") for k in ("token_ids", "segment_ids", "padding_mask")}
    >>> x["task_ids"] = np.array([0, 1], "int32")
    >>> model(x).shape
    TensorShape([2, 4])
    """

    def __init__(self, backbone, num_classes, dropout=0.1, **kwargs):
        num_classes = [int(n) for n in num_classes]
        if not num_classes or min(num_classes) < 2:
            raise ValueError(f"num_classes must list at least 2 classes per task. Received: num_classes={num_classes!r}")
        inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in INPUT_NAMES}
        inputs["task_ids"] = keras.Input((), dtype="int32", name="task_ids")
        features = backbone({name: inputs[name] for name in INPUT_NAMES})
        freeze_unused_pooler(backbone)
        pooled = MaskedMeanPooling(name="mean_pooling")(features["sequence_output"], inputs["padding_mask"])
        x = keras.layers.Dropout(dropout, name="output_dropout")(pooled)
        widest = max(num_classes)
        per_task = []
        for task, n in enumerate(num_classes):
            logits = logits_layer(n, name=f"task_{task}_logits")(x)  # (batch, n)
            if n < widest:
                logits = ops.pad(logits, [[0, 0], [0, widest - n]], constant_values=NEGATIVE)
            per_task.append(logits)
        stacked = ops.stack(per_task, axis=1)  # (batch, tasks, widest)
        chosen = ops.one_hot(inputs["task_ids"], len(num_classes), dtype="float32")[:, :, None]  # (batch, tasks, 1)
        outputs = ops.sum(stacked * chosen, axis=1)  # (batch, widest): the example's own task's logits
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.backbone = backbone
        self.num_classes = num_classes
        self.dropout = dropout
        self.heads = [self.get_layer(f"task_{t}_logits") for t in range(len(num_classes))]

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Defaults: `adamw(5e-5)`, sparse cross-entropy on logits, accuracy."""
        super().compile(**classifier_compile_arguments(optimizer, loss, metrics, lambda: adamw(5e-5)), **kwargs)

    def get_config(self):
        return self.task_config(num_classes=self.num_classes, dropout=self.dropout)
