"""Preprocessors: sizes, crops, scaling, composition."""

import numpy as np
import pytest

from cvtoolkit.data import AspectAwareResize, Compose, RandomPatch, Resize, Scale, TenCrop, ten_crops


@pytest.fixture
def image():
    return np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)


def test_resize_and_aspect_aware(image):
    assert Resize(8)(image).shape == (8, 8, 3)
    assert Resize((6, 9))(image).shape == (6, 9, 3)
    grey = image[:, :, :1]
    assert Resize(8)(grey).shape == (8, 8, 1)
    out = AspectAwareResize(10)(image)
    assert out.shape == (10, 10, 3)
    # short side 20 -> 10 halves the image; the centre crop drops the sides, not the top rows
    half = Resize((10, 15))(image)
    np.testing.assert_array_equal(out, half[:, 2:12])


def test_scale_and_compose(image):
    out = Compose([Resize(4), Scale()])(image)
    assert out.dtype == np.float32 and 0.0 <= out.min() and out.max() <= 1.0


def test_random_patch_seeded(image):
    a = RandomPatch(5, seed=3)(image)
    b = RandomPatch(5, seed=3)(image)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (5, 5, 3)
    with pytest.raises(ValueError, match="larger"):
        RandomPatch(50)(image)


def test_ten_crop_geometry(image):
    crops = TenCrop((8, 10))(image)
    assert crops.shape == (10, 8, 10, 3)
    np.testing.assert_array_equal(crops[0], image[:8, :10])
    np.testing.assert_array_equal(crops[3], image[-8:, -10:])
    np.testing.assert_array_equal(crops[4], image[6:14, 10:20])
    np.testing.assert_array_equal(crops[5], image[:8, :10][:, ::-1])
    with pytest.raises(ValueError):
        ten_crops(image, 40)
