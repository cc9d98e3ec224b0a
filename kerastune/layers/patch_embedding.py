"""Patch embedding: an image read as a sequence of patch vectors (the Vision Transformer's input)."""

import keras
from keras import ops

from kerastune.api import register
from kerastune.arguments import check_positive_ints


@register
class PatchEmbedding(keras.layers.Layer):
    """Cuts images into non-overlapping `patch_size` x `patch_size` patches and maps each flattened
    patch linearly to a `hidden_dim` vector, optionally behind a learned class token.

    ViT (Dosovitskiy et al., 2021, eq. 1): `z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos`. This
    layer computes everything but `E_pos` (add a `LearnedPositionEmbedding`). The projection `E` is a
    `Conv2D` whose kernel and stride are the patch size: the same linear map on each patch, with one
    kernel of shape (patch, patch, channels, hidden_dim). Patches are read row by row, left to right.
    An image whose height or width is not a multiple of `patch_size` is refused: no pixel is dropped.

    Args:
        patch_size: int, the side of a square patch in pixels.
        hidden_dim: int, the size of each patch vector.
        use_class_token: bool, prepend a learned vector (`x_class`) whose output a classifier reads.
        kernel_initializer: initializer for `E` (ViT's reference code: LeCun normal).
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        images: float (batch, height, width, channels).

    Returns:
        (batch, [1 +] (height / patch_size) * (width / patch_size), hidden_dim).

    Example:

    >>> images = keras.ops.zeros((2, 8, 8, 1))
    >>> tuple(PatchEmbedding(patch_size=2, hidden_dim=16)(images).shape)
    (2, 17, 16)
    """

    def __init__(self, patch_size, hidden_dim, use_class_token=True, kernel_initializer="lecun_normal", **kwargs):
        super().__init__(**kwargs)
        check_positive_ints(patch_size=patch_size, hidden_dim=hidden_dim)
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.use_class_token = use_class_token
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, images_shape):
        if len(images_shape) != 4:
            raise ValueError(
                "PatchEmbedding takes images of shape (batch, height, width, channels); add a channel axis "
                f"to grey images (x[..., None]). Received: images shape={tuple(images_shape)}"
            )
        for axis, size in (("height", images_shape[1]), ("width", images_shape[2])):
            if size is not None and size % self.patch_size:
                raise ValueError(
                    f"image {axis} {size} is not a multiple of patch_size={self.patch_size}, so the patches would "
                    f"leave pixels out; choose a patch_size that divides both sides, or pad or crop the images. "
                    f"Received: images shape={tuple(images_shape)}"
                )
        self.projection = keras.layers.Conv2D(
            self.hidden_dim,
            kernel_size=self.patch_size,
            strides=self.patch_size,
            padding="valid",
            kernel_initializer=self.kernel_initializer,
            name="projection",
            dtype=self.dtype_policy,
        )
        self.projection.build(images_shape)
        self.class_token = None
        if self.use_class_token:
            self.class_token = self.add_weight(
                shape=(self.hidden_dim,), initializer="zeros", name="class_token"  # zeros, as ViT's code
            )
        self.built = True

    def call(self, images):
        patches = self.projection(images)  # (batch, rows, columns, hidden)
        shape = ops.shape(patches)
        patches = ops.reshape(patches, (shape[0], -1, self.hidden_dim))  # (batch, rows * columns, hidden)
        if not self.use_class_token:
            return patches
        token = ops.cast(self.class_token, patches.dtype)
        token = ops.broadcast_to(token[None, None, :], (shape[0], 1, self.hidden_dim))  # (batch, 1, hidden)
        return ops.concatenate([token, patches], axis=1)

    def compute_output_shape(self, images_shape):
        rows, columns = (None if s is None else s // self.patch_size for s in images_shape[1:3])
        length = None if rows is None or columns is None else rows * columns + int(self.use_class_token)
        return (images_shape[0], length, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "hidden_dim": self.hidden_dim,
                "use_class_token": self.use_class_token,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
