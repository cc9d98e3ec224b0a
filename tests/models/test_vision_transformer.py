"""`VisionTransformer` and `ImageClassifier`: KerasHub's ViTBackbone with copied weights is the reference."""

import keras
import keras_hub
import numpy as np
import pytest

from kerastune.models import ImageClassifier, VisionTransformer
from tests.helpers import assert_config_round_trip, assert_keras_save_load, randomize_weights

SMALL = dict(patch_size=2, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16)


def images(shape=(3, 4, 6, 3), seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")


@pytest.mark.parametrize("use_class_token", [True, False])
def test_matches_keras_hubs_vit_backbone_with_copied_weights(use_class_token):
    reference = keras_hub.models.ViTBackbone(
        image_shape=(4, 6, 3), patch_size=2, num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=16,
        use_class_token=use_class_token,
    )
    randomize_weights(reference.weights, seed=1, scale=0.5)  # away from init, where a swapped weight could hide
    ours = VisionTransformer.from_vit_backbone(reference)
    assert ours.count_params() == reference.count_params()
    x = images()
    expected = keras.ops.convert_to_numpy(reference(x))
    assert expected.shape == (3, 6 + int(use_class_token), 8)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x)), expected, rtol=1e-4, atol=1e-4)


def test_grey_images_get_a_channel_axis_inside():
    grey = VisionTransformer(image_shape=(4, 6), **SMALL)
    explicit = VisionTransformer(image_shape=(4, 6, 1), **SMALL)
    explicit.set_weights(grey.get_weights())
    x = images((2, 4, 6))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(grey(x)), keras.ops.convert_to_numpy(explicit(x[..., None])), atol=1e-6
    )


def test_every_patch_sees_every_other_one():
    vit = VisionTransformer(image_shape=(4, 4), use_class_token=False, **SMALL)
    x = images((1, 4, 4))
    before = keras.ops.convert_to_numpy(vit(x))
    x[0, 3, 3] += 1.0  # one pixel of the last patch
    after = keras.ops.convert_to_numpy(vit(x))
    assert (np.abs(after - before).max(-1) > 1e-6).all()  # attention carries it to the first patch too


def test_classifier_is_the_head_over_the_backbone_on_rescaled_pixels():
    vit = VisionTransformer(image_shape=(4, 6), dropout=0.3, **SMALL)
    for pooling in ("class_token", "mean"):
        model = ImageClassifier(vit, num_classes=3, pooling=pooling, dropout=0.5, pixel_scale=1 / 16,
                                pixel_offset=-0.5)
        pixels = np.random.default_rng(2).uniform(0, 16, (2, 4, 6)).astype("float32")
        sequence = keras.ops.convert_to_numpy(vit(pixels / 16 - 0.5))  # dropout off outside training
        pooled = sequence[:, 0] if pooling == "class_token" else sequence[:, 1:].mean(1)  # patches, not the token
        kernel, bias = model.get_layer("logits").get_weights()
        logits = keras.ops.convert_to_numpy(model(pixels))
        np.testing.assert_allclose(logits, pooled @ kernel + bias, rtol=1e-5, atol=1e-5)


def test_round_trip_save_and_a_training_step(tmp_path):
    vit = VisionTransformer(image_shape=(4, 6), dropout=0.1, **SMALL)
    model = ImageClassifier(vit, num_classes=3, pooling="mean", pixel_scale=0.5)
    clone = assert_config_round_trip(vit)
    assert clone.image_shape == (4, 6) and clone.count_params() == vit.count_params()
    assert_config_round_trip(model)
    assert_keras_save_load(model, images((2, 4, 6)), tmp_path)
    model.compile()
    first = model.train_on_batch(images((6, 4, 6)), np.array([0, 1, 2, 0, 1, 2]), return_dict=True)
    for _ in range(20):
        logs = model.train_on_batch(images((6, 4, 6)), np.array([0, 1, 2, 0, 1, 2]), return_dict=True)
    assert logs["loss"] < first["loss"]  # it fits six images


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_shape": (8,)}, r"Received: image_shape=\(8,\)"),
        ({"image_shape": (7, 8)}, "height 7 is not a multiple of patch_size=2"),
        ({"num_layers": 0}, "Received: num_layers=0"),
        ({"hidden_dim": 9}, "Received: hidden_dim=9, num_heads=2"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VisionTransformer(**{"image_shape": (8, 8), **SMALL, **kwargs})


def test_classifier_refuses_a_class_token_the_backbone_lacks():
    vit = VisionTransformer(image_shape=(4, 4), use_class_token=False, **SMALL)
    with pytest.raises(ValueError, match="has none"):
        ImageClassifier(vit, num_classes=2)
    with pytest.raises(ValueError, match="Received: pooling='max'"):
        ImageClassifier(vit, num_classes=2, pooling="max")
