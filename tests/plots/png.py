"""The check every picture test makes: the file is a PNG of the expected size, and not blank."""

import numpy as np
from PIL import Image


def assert_png(path, width, height):
    """`path` opens as a `width` x `height` PNG with more than one colour (pixel std > 0)."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (width, height)
        pixels = np.asarray(image.convert("RGB"), dtype="float32")  # (height, width, 3)
    assert pixels.std() > 0
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1
    return pixels


def assert_picture(path, min_side=100):
    """`path` opens as a PNG at least `min_side` pixels each way, not blank (any size)."""
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) >= min_side, (path, image.format, image.size)
        width, height = image.size
    return assert_png(path, width, height)
