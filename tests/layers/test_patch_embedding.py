"""`PatchEmbedding`: ViT's patch projection and class token, checked against numpy patch cutting."""

import keras
import numpy as np
import pytest

from kerastune.layers import PatchEmbedding
from tests.helpers import assert_layer_saves, randomize_weights


def images(shape=(2, 6, 4, 3), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def numpy_patches(x, patch):
    """(batch, H, W, C) -> (batch, rows * columns, patch * patch * C), patches row by row, each in (p, p, C) order."""
    batch, height, width, channels = x.shape
    rows, columns = height // patch, width // patch
    cut = x.reshape(batch, rows, patch, columns, patch, channels).transpose(0, 1, 3, 2, 4, 5)
    return cut.reshape(batch, rows * columns, patch * patch * channels)


@pytest.mark.parametrize("use_class_token", [True, False])
def test_each_patch_is_the_same_linear_map_and_the_class_token_comes_first(use_class_token):
    layer = PatchEmbedding(patch_size=2, hidden_dim=5, use_class_token=use_class_token)
    x = images()
    layer.build(x.shape)
    randomize_weights(layer.weights, seed=1)
    kernel, bias = layer.projection.get_weights()  # (2, 2, 3, 5), (5,)
    expected = numpy_patches(x, 2) @ kernel.reshape(-1, 5) + bias  # (2, 6, 5): 3 rows x 2 columns
    out = keras.ops.convert_to_numpy(layer(x))
    if use_class_token:
        token = keras.ops.convert_to_numpy(layer.class_token)
        np.testing.assert_allclose(out[:, 0], np.broadcast_to(token, (2, 5)), atol=1e-6)
        out = out[:, 1:]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert layer.compute_output_shape(x.shape) == (2, 6 + int(use_class_token), 5)


def test_moving_one_patch_changes_only_its_own_vector():
    layer = PatchEmbedding(patch_size=2, hidden_dim=4, use_class_token=False)
    x = images((1, 4, 4, 1))
    before = keras.ops.convert_to_numpy(layer(x))
    x[0, 2:4, 0:2] += 1.0  # the patch in row 1, column 0: the third in reading order
    after = keras.ops.convert_to_numpy(layer(x))
    changed = np.abs(after - before).max(-1)[0] > 1e-6
    np.testing.assert_array_equal(changed, [False, False, True, False])


def test_sides_that_patches_do_not_tile_are_refused_not_cropped():
    with pytest.raises(ValueError, match=r"width 7 is not a multiple of patch_size=2.*\(1, 8, 7, 1\)"):
        PatchEmbedding(patch_size=2, hidden_dim=4)(np.zeros((1, 8, 7, 1), "float32"))
    with pytest.raises(ValueError, match=r"add a channel axis.*\(1, 8, 8\)"):
        PatchEmbedding(patch_size=2, hidden_dim=4)(np.zeros((1, 8, 8), "float32"))
    for arg in ("patch_size", "hidden_dim"):
        with pytest.raises(ValueError, match=f"Received: {arg}=0"):
            PatchEmbedding(**{"patch_size": 2, "hidden_dim": 4, arg: 0})


def test_serialization(tmp_path):
    assert_layer_saves(PatchEmbedding(patch_size=2, hidden_dim=4), images(), tmp_path)


def test_runs_under_mixed_bfloat16():
    layer = PatchEmbedding(patch_size=2, hidden_dim=4, dtype="mixed_bfloat16")
    out = layer(images())
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16" and layer.class_token.dtype == "float32"
