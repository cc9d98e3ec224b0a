"""kerastune's own BERT-style encoder, a drop-in for KerasHub's `BertBackbone`."""

import keras

from kerastune.api import base_model_config, keep_dtype_policy, register, restore_dtype_policy
from kerastune.layers import LearnedPositionEmbedding, TransformerEncoderBlock

INPUT_NAMES = ("token_ids", "segment_ids", "padding_mask")


def _init(stddev=0.02):
    return keras.initializers.TruncatedNormal(stddev=stddev)


@register
class BertEncoder(keras.Model):
    """A BERT encoder (Devlin et al., 2019) built from kerastune's `TransformerEncoderBlock`.

    Same call interface as `keras_hub.models.BertBackbone`, so `TextClassifier` and the
    text-classifier recipe fine-tune either: token + segment + learned position embeddings, layer
    norm and dropout (the *embedding output*), `num_layers` post-LN encoder blocks, and a tanh
    pooler on the [CLS] position.

    For what comes next: `token_embedding` is the layer a tied masked-LM head reuses;
    `embed(inputs)` returns the embedding output and `encode(embedding_output, padding_mask)` runs
    the rest, so adversarial training (FGM) can perturb the embedding output between the two.

    Args:
        vocabulary_size: int.
        num_layers: int, encoder blocks.
        num_heads: int, attention heads (must divide `hidden_dim`).
        hidden_dim: int.
        intermediate_dim: int, feed-forward inner size.
        dropout: float, for embeddings, attention and residual branches.
        max_sequence_length: int, rows of the position table.
        num_segments: int, rows of the segment table.
        activation: feed-forward activation (exact `"gelu"`, as BERT and Hugging Face).
        layer_norm_epsilon: float (BERT: 1e-12).
        dtype: dtype or `keras.DTypePolicy`.

    Call arguments:
        inputs: dict of int32 (batch, seq): `token_ids`, `segment_ids`, `padding_mask` (1 = token).

    Returns:
        dict: `sequence_output` (batch, seq, hidden_dim), `pooled_output` (batch, hidden_dim).

    Example:

    >>> import numpy as np
    >>> encoder = BertEncoder(vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...                       intermediate_dim=32, max_sequence_length=32)
    >>> x = {k: np.ones((2, 7), "int32") for k in ("token_ids", "segment_ids", "padding_mask")}
    >>> encoder(x)["pooled_output"].shape
    TensorShape([2, 16])
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.1,
        max_sequence_length=512,
        num_segments=2,
        activation="gelu",
        layer_norm_epsilon=1e-12,
        dtype=None,
        **kwargs,
    ):
        for arg, value in (("vocabulary_size", vocabulary_size), ("num_layers", num_layers), ("hidden_dim", hidden_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be a positive integer; received {value!r}")
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim={hidden_dim} is not divisible by num_heads={num_heads}")
        common = {"dtype": dtype}
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, hidden_dim, embeddings_initializer=_init(), name="token_embedding", **common
        )
        self.segment_embedding = keras.layers.Embedding(
            num_segments, hidden_dim, embeddings_initializer=_init(), name="segment_embedding", **common
        )
        self.position_embedding = LearnedPositionEmbedding(
            max_sequence_length, initializer=_init(), name="position_embedding", **common
        )
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="embeddings_layer_norm", **common
        )
        self.embeddings_dropout = keras.layers.Dropout(dropout, name="embeddings_dropout", **common)
        self.transformer_layers = [
            TransformerEncoderBlock(
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                dropout=dropout,
                activation=activation,
                layer_norm_epsilon=layer_norm_epsilon,
                normalize_first=False,  # post-LN, as BERT
                kernel_initializer=_init(),
                name=f"transformer_layer_{i}",
                **common,
            )
            for i in range(num_layers)
        ]
        self.pooled_dense = keras.layers.Dense(
            hidden_dim, activation="tanh", kernel_initializer=_init(), name="pooled_dense", **common
        )

        inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in INPUT_NAMES}
        outputs = self.encode(self.embed(inputs), inputs["padding_mask"])
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)
        keep_dtype_policy(self, dtype)
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon

    def embed(self, inputs, training=None):
        """The embedding output: LN(token + position + segment embeddings), dropped out. (batch, seq, hidden)."""
        tokens = self.token_embedding(inputs["token_ids"])  # (batch, seq, hidden)
        x = tokens + self.position_embedding(tokens) + self.segment_embedding(inputs["segment_ids"])
        return self.embeddings_dropout(self.embeddings_layer_norm(x), training=training)

    def encode(self, embedding_output, padding_mask, training=None):
        """Encoder blocks and pooler on an embedding output; returns the output dict."""
        x = embedding_output
        for block in self.transformer_layers:
            x = block(x, padding_mask=padding_mask, training=training)  # (batch, seq, hidden)
        return {"sequence_output": x, "pooled_output": self.pooled_dense(x[:, 0, :])}

    @classmethod
    def from_bert_backbone(cls, backbone, **kwargs):
        """A `BertEncoder` holding a copy of a KerasHub `BertBackbone`'s weights (e.g. pretrained).

        KerasHub's BERT uses the tanh approximation of GELU; pass `activation=` to choose (default
        here: KerasHub's, so outputs match).
        """
        from keras_hub.src.utils.keras_utils import gelu_approximate

        kwargs.setdefault("activation", gelu_approximate)
        encoder = cls(
            vocabulary_size=backbone.vocabulary_size,
            num_layers=backbone.num_layers,
            num_heads=backbone.num_heads,
            hidden_dim=backbone.hidden_dim,
            intermediate_dim=backbone.intermediate_dim,
            dropout=backbone.dropout,
            max_sequence_length=backbone.max_sequence_length,
            num_segments=backbone.num_segments,
            **kwargs,
        )
        pairs = [
            (encoder.token_embedding, backbone.token_embedding),
            (encoder.segment_embedding, backbone.segment_embedding),
            (encoder.position_embedding, backbone.position_embedding),
            (encoder.embeddings_layer_norm, backbone.embeddings_layer_norm),
            (encoder.pooled_dense, backbone.pooled_dense),
        ]
        for ours, theirs in zip(encoder.transformer_layers, backbone.transformer_layers):
            attention = theirs._self_attention_layer
            pairs += [
                (ours.self_attention.query, attention._query_dense),
                (ours.self_attention.key, attention._key_dense),
                (ours.self_attention.value, attention._value_dense),
                (ours.self_attention.attention_output, attention._output_dense),
                (ours.self_attention_norm, theirs._self_attention_layer_norm),
                (ours.feed_forward_intermediate, theirs._feedforward_intermediate_dense),
                (ours.feed_forward_output, theirs._feedforward_output_dense),
                (ours.feed_forward_norm, theirs._feedforward_layer_norm),
            ]
        for ours, theirs in pairs:
            weights = [w.numpy() if hasattr(w, "numpy") else w for w in theirs.get_weights()]
            if ours is encoder.token_embedding:
                weights = weights[:1]  # ReversibleEmbedding may carry an untied output kernel
            ours.set_weights(weights)
        return encoder

    def get_config(self):
        return {
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "max_sequence_length": self.max_sequence_length,
            "num_segments": self.num_segments,
            "activation": keras.activations.serialize(keras.activations.get(self.activation)),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            **base_model_config(self),
        }

    @classmethod
    def from_config(cls, config):
        config = restore_dtype_policy(config)
        config["activation"] = keras.activations.deserialize(config["activation"])
        return cls(**config)
