"""A classification head over an image backbone that returns a sequence of patch vectors (ViT)."""

import keras

from kerastune.api import register
from kerastune.arguments import check_num_classes, check_rates
from kerastune.models.backbone_task import BackboneTask
from kerastune.models.classifier_defaults import classifier_compile_arguments, logits_layer
from kerastune.training import adamw

POOLINGS = ("class_token", "mean")


@register
class ImageClassifier(BackboneTask):
    """Raw pixels -> rescaling -> backbone -> pooling -> dropout -> dense logits.

    The scaling lives in the model (a `Rescaling` layer, `pixels * pixel_scale + pixel_offset`), so a
    served model takes the pixels as the dataset stores them. Logits out, as every kerastune
    classifier; the export adds `softmax`.

    Args:
        backbone: a `keras.Model` from images (batch, *image_shape) to (batch, seq, hidden), e.g.
            `VisionTransformer`; its `image_shape` is the classifier's input shape.
        num_classes: int >= 2.
        pooling: `"class_token"` (the first vector, ViT's classifier) or `"mean"` (the average of the
            patch vectors, the class token left out when there is one: "global average pooling", which
            ViT's appendix D.3 finds as good with a tuned learning rate).
        dropout: float, dropout before the output layer.
        pixel_scale, pixel_offset: floats, `Rescaling`'s; e.g. `1 / 255` and 0 for [0, 1],
            `1 / 127.5` and -1 for [-1, 1] (KerasHub ViT presets).

    Call arguments:
        pixels: float (batch, *image_shape), raw values.

    Returns:
        float32 logits (batch, num_classes).

    Example:

    >>> import numpy as np
    >>> from kerastune.models import VisionTransformer
    >>> vit = VisionTransformer(image_shape=(8, 8), patch_size=2, num_layers=1, num_heads=2,
    ...                         hidden_dim=16, intermediate_dim=32)
    >>> model = ImageClassifier(vit, num_classes=10, pixel_scale=1 / 16)
    >>> model(np.zeros((2, 8, 8), "float32")).shape
    TensorShape([2, 10])
    >>> model.compile()  # adamw(1e-3), sparse categorical crossentropy on logits, accuracy
    """

    def __init__(self, backbone, num_classes, pooling="class_token", dropout=0.0, pixel_scale=1.0, pixel_offset=0.0,
                 **kwargs):
        check_num_classes(num_classes)
        check_rates(dropout=dropout)
        if not pixel_scale > 0:
            raise ValueError(f"pixel_scale must be a positive float. Received: pixel_scale={pixel_scale!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}. Received: pooling={pooling!r}")
        if pooling == "class_token" and not getattr(backbone, "use_class_token", True):
            raise ValueError("pooling='class_token' reads the class token, and this backbone has none "
                             "(use_class_token=False); use pooling='mean'")
        has_class_token = getattr(backbone, "use_class_token", False)
        self.rescaling = keras.layers.Rescaling(pixel_scale, pixel_offset, name="rescaling")
        self.output_dropout = keras.layers.Dropout(dropout, name="output_dropout")
        self.output_dense = logits_layer(num_classes)
        pixels = keras.Input(backbone.input_shape[1:], dtype="float32", name="pixels")
        sequence = backbone(self.rescaling(pixels))  # (batch, [1 +] num_patches, hidden)
        if pooling == "class_token":
            pooled = sequence[:, 0, :]  # the class token's vector
        else:
            patches = sequence[:, 1:, :] if has_class_token else sequence
            pooled = keras.layers.GlobalAveragePooling1D(name="mean_pooling")(patches)
        x = self.output_dropout(pooled)  # (batch, hidden)
        super().__init__(inputs=pixels, outputs=self.output_dense(x), **kwargs)
        self.backbone = backbone
        self.num_classes = num_classes
        self.pooling = pooling
        self.dropout = dropout
        self.pixel_scale = float(pixel_scale)
        self.pixel_offset = float(pixel_offset)
        self.image_shape = tuple(backbone.input_shape[1:])

    def compile(self, optimizer="auto", loss="auto", metrics="auto", label_smoothing=0.0, **kwargs):
        """Compiles with training-from-scratch defaults: `adamw(1e-3)`, sparse CE on logits (smoothed
        by `label_smoothing` > 0), accuracy."""
        super().compile(
            **classifier_compile_arguments(optimizer, loss, metrics, lambda: adamw(1e-3), label_smoothing), **kwargs
        )

    def get_config(self):
        return self.task_config(num_classes=self.num_classes, pooling=self.pooling, dropout=self.dropout,
                                pixel_scale=self.pixel_scale, pixel_offset=self.pixel_offset)
