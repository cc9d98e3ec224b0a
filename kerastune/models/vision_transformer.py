"""kerastune's Vision Transformer backbone: patch embedding + kerastune's own encoder blocks."""

import keras

from kerastune.api import base_model_config, keep_dtype_policy, register, restore_dtype_policy
from kerastune.arguments import check_positive_ints
from kerastune.layers import LearnedPositionEmbedding, PatchEmbedding, TransformerEncoderBlock


@register
class VisionTransformer(keras.Model):
    """A Vision Transformer (ViT, Dosovitskiy et al., 2021) built from kerastune's layers.

    An image is read as a sequence: `PatchEmbedding` cuts it into `patch_size` x `patch_size`
    patches and projects each one, a learned class token goes first, learned position embeddings are
    added, then dropout, `num_layers` pre-LN `TransformerEncoderBlock`s (the same blocks as the
    text encoders) and a final layer norm (ViT eq. 1-4). Same layout and outputs as KerasHub's
    `ViTBackbone`, whose weights (e.g. a pretrained preset) `from_vit_backbone` copies in.

    Args:
        image_shape: tuple of ints, `(height, width, channels)` or `(height, width)` for grey images
            (a channel axis is added inside); both sides must be multiples of `patch_size`.
        patch_size: int, the side of a square patch in pixels.
        num_layers: int, encoder blocks.
        num_heads: int, attention heads (must divide `hidden_dim`).
        hidden_dim: int, the size of each patch vector.
        intermediate_dim: int, the feed-forward inner size (ViT: 4 x hidden_dim).
        dropout: float, after the embeddings, on attention weights and on each residual branch.
        activation: feed-forward activation (exact `"gelu"`, as ViT).
        layer_norm_epsilon: float (ViT: 1e-6).
        use_class_token: bool, prepend the class token (else a classifier averages the patches).
        dtype: dtype or `keras.DTypePolicy`.

    Call arguments:
        images: float (batch, *image_shape), already scaled (the classifier scales raw pixels).

    Returns:
        float (batch, [1 +] num_patches, hidden_dim): the class token's vector first when there is one.

    Example:

    >>> import numpy as np
    >>> vit = VisionTransformer(image_shape=(8, 8), patch_size=2, num_layers=1, num_heads=2,
    ...                         hidden_dim=16, intermediate_dim=32)
    >>> vit(np.zeros((3, 8, 8), "float32")).shape
    TensorShape([3, 17, 16])
    """

    def __init__(
        self,
        image_shape,
        patch_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.0,
        activation="gelu",
        layer_norm_epsilon=1e-6,
        use_class_token=True,
        dtype=None,
        **kwargs,
    ):
        image_shape = tuple(image_shape)
        if len(image_shape) not in (2, 3) or not all(isinstance(d, int) and d > 0 for d in image_shape):
            raise ValueError(
                "image_shape must be (height, width) or (height, width, channels) in positive ints, e.g. (8, 8) "
                f"or (28, 28, 1). Received: image_shape={image_shape!r}"
            )
        check_positive_ints(num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
                            intermediate_dim=intermediate_dim)
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim must be a multiple of num_heads. Received: hidden_dim={hidden_dim}, "
                             f"num_heads={num_heads}")
        common = {"dtype": dtype}
        channels_shape = image_shape if len(image_shape) == 3 else image_shape + (1,)
        self.patch_embedding = PatchEmbedding(
            patch_size, hidden_dim, use_class_token=use_class_token, name="patch_embedding", **common
        )
        self.position_embedding = LearnedPositionEmbedding(
            self.patch_embedding.compute_output_shape((None, *channels_shape))[1],
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="position_embedding",
            **common,
        )
        self.embeddings_dropout = keras.layers.Dropout(dropout, name="embeddings_dropout", **common)
        self.transformer_layers = [
            TransformerEncoderBlock(
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                dropout=dropout,
                activation=activation,
                layer_norm_epsilon=layer_norm_epsilon,
                normalize_first=True,  # pre-LN, as ViT
                name=f"transformer_layer_{i}",
                **common,
            )
            for i in range(num_layers)
        ]
        self.output_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="output_layer_norm", **common
        )

        images = keras.Input(image_shape, dtype="float32", name="images")
        x = images if len(image_shape) == 3 else keras.layers.Reshape(channels_shape, name="channel_axis")(images)
        x = self.patch_embedding(x)  # (batch, [1 +] num_patches, hidden)
        x = self.embeddings_dropout(x + self.position_embedding(x))
        for block in self.transformer_layers:
            x = block(x)
        super().__init__(inputs=images, outputs=self.output_layer_norm(x), dtype=dtype, **kwargs)
        keep_dtype_policy(self, dtype)
        self.image_shape = image_shape
        self.patch_size = patch_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.use_class_token = use_class_token

    @classmethod
    def from_vit_backbone(cls, backbone, **kwargs):
        """A `VisionTransformer` holding a copy of a KerasHub `ViTBackbone`'s weights.

        For a pretrained preset: `VisionTransformer.from_vit_backbone(keras_hub.models.ViTBackbone.from_preset(...))`
        (the preset's image converter says how to scale pixels: `ImageClassifier(pixel_scale=, pixel_offset=)`).
        Only KerasHub's default layout is read (channels last, biases everywhere).

        Args:
            backbone: a `keras_hub.models.ViTBackbone`.
            **kwargs: other `VisionTransformer` arguments (e.g. `dropout`, `name`).
        """
        if not (backbone.use_mha_bias and backbone.use_mlp_bias and backbone.use_patch_bias):
            raise ValueError("from_vit_backbone copies KerasHub's default ViT (biases everywhere). Received: "
                             f"use_mha_bias={backbone.use_mha_bias}, use_mlp_bias={backbone.use_mlp_bias}, "
                             f"use_patch_bias={backbone.use_patch_bias}")
        patch_size = backbone.patch_size
        if isinstance(patch_size, (tuple, list)):
            if patch_size[0] != patch_size[1]:
                raise ValueError(f"VisionTransformer takes square patches. Received: patch_size={tuple(patch_size)}")
            patch_size = patch_size[0]
        kwargs.setdefault("dropout", backbone.dropout_rate)
        vit = cls(
            image_shape=tuple(backbone.image_shape),
            patch_size=int(patch_size),
            num_layers=backbone.num_layers,
            num_heads=backbone.num_heads,
            hidden_dim=backbone.hidden_dim,
            intermediate_dim=backbone.mlp_dim,
            layer_norm_epsilon=backbone.layer_norm_epsilon,
            use_class_token=backbone.use_class_token,
            **kwargs,
        )
        embedding = backbone.get_layer("vit_patching_and_embedding")
        encoder = backbone.get_layer("vit_encoder")
        pairs = [
            (vit.patch_embedding.projection, embedding.patch_embedding),
            (vit.position_embedding, embedding.position_embedding),
            (vit.output_layer_norm, encoder.layer_norm),
        ]
        for ours, theirs in zip(vit.transformer_layers, encoder.encoder_layers):
            pairs += [
                (ours.self_attention_norm, theirs.layer_norm_1),
                (ours.self_attention.query, theirs.mha.query_dense),
                (ours.self_attention.key, theirs.mha.key_dense),
                (ours.self_attention.value, theirs.mha.value_dense),
                (ours.self_attention.attention_output, theirs.mha.output_dense),
                (ours.feed_forward_norm, theirs.layer_norm_2),
                (ours.feed_forward_intermediate, theirs.mlp.dense_1),
                (ours.feed_forward_output, theirs.mlp.dense_2),
            ]
        for ours, theirs in pairs:
            ours.set_weights(theirs.get_weights())  # same shapes, same order
        if vit.use_class_token:
            vit.patch_embedding.class_token.assign(keras.ops.reshape(embedding.class_token, (-1,)))  # (1, 1, hidden)
        return vit

    def get_config(self):
        return {
            "image_shape": list(self.image_shape),
            "patch_size": self.patch_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "activation": keras.activations.serialize(keras.activations.get(self.activation)),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "use_class_token": self.use_class_token,
            **base_model_config(self),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**restore_dtype_policy(config))
