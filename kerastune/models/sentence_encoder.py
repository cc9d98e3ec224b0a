"""Sentence embeddings from any BERT-style backbone: one vector per text, for semantic search."""

import keras

from kerastune.api import register
from kerastune.models.backbone_task import BackboneTask
from kerastune.models.sentence_pooling import pool_features, pooled_backbone


@register
class SentenceEncoder(BackboneTask):
    """Backbone -> pooling -> L2 normalisation: a text's embedding, as sentence-transformers computes it.

    Texts whose embeddings have a high cosine similarity (with `normalize=True`, a dot product) mean
    similar things once the encoder is trained for it (`InBatchContrastive`). all-MiniLM-L6-v2 is
    such an encoder with mean pooling.

    Args:
        backbone: a `keras.Model` taking `{"token_ids", "segment_ids", "padding_mask"}` and returning
            `{"sequence_output", "pooled_output"}` (KerasHub `BertBackbone`, kerastune `BertEncoder`).
        pooling: `"mean"` (masked mean of the sequence output, sentence-transformers' default),
            `"cls"` (the raw [CLS] vector) or `"pooled"` (the backbone's tanh pooler). With `"mean"` or
            `"cls"` the backbone's pooler is unused and is set `trainable=False`.
        normalize: bool, divide each embedding by its L2 norm (cosine similarity is then a dot product).

    Call arguments:
        inputs: dict of int32 (batch, seq) tensors `token_ids`, `segment_ids`, `padding_mask`.

    Returns:
        embeddings, float (batch, hidden_dim).

    Example:

    >>> import numpy as np, keras_hub
    >>> backbone = keras_hub.models.BertBackbone(100, 1, 2, 8, 16, max_sequence_length=16)
    >>> encoder = SentenceEncoder(backbone)
    >>> x = {k: np.ones((2, 5), "int32") for k in ("token_ids", "segment_ids", "padding_mask")}
    >>> encoder(x).shape
    TensorShape([2, 8])
    """

    def __init__(self, backbone, pooling="mean", normalize=True, **kwargs):
        inputs, embeddings = pooled_backbone(backbone, pooling)
        if normalize:
            embeddings = keras.layers.UnitNormalization(name="unit_normalization")(embeddings)
        super().__init__(inputs=inputs, outputs=embeddings, **kwargs)
        self.backbone = backbone
        self.pooling = pooling
        self.normalize = normalize

    @property
    def embedding_dim(self):
        """int, the width of an embedding."""
        return int(self.outputs[0].shape[-1])

    def head_from_backbone_outputs(self, features, padding_mask):
        """Pooling and normalisation over the backbone's outputs, for a serving path that runs the
        backbone its own way (`kerastune.export.packed_rows`).

        Args:
            features: dict, `sequence_output` (batch, seq, hidden) and, for pooling `"pooled"`,
                `pooled_output` (batch, hidden).
            padding_mask: int/bool (batch, seq), 1 for real tokens.

        Returns:
            embeddings (batch, hidden).
        """
        embeddings = pool_features(self.pooling, features, padding_mask, self)
        return self.get_layer("unit_normalization")(embeddings) if self.normalize else embeddings

    def get_config(self):
        return self.task_config(pooling=self.pooling, normalize=self.normalize)
