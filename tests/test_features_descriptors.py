"""Each descriptor computes what it claims: checked against scikit-image / OpenCV on tiny images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.feature import graycomatrix, graycoprops, hog, local_binary_pattern

from cvtoolkit.features import (
    HOG,
    LBP,
    ColorHistogram,
    ColorStats,
    Haralick,
    HuMoments,
    RawPixels,
    glcm_batch,
    hog_batch,
    lbp_codes,
)


def _smooth(n, h, w, seed=0, channels=0):
    rng = np.random.default_rng(seed)
    shape = (n, h, w, channels) if channels else (n, h, w)
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    flat = x.reshape(n * h, w, -1)
    return cv2.GaussianBlur(flat, (3, 3), 0).reshape(shape)


# ------------------------------------------------------------------ HOG

@pytest.mark.parametrize("kw", [
    {},
    {"pixels_per_cell": (7, 5), "cells_per_block": (2, 3), "orientations": 8},
    {"block_norm": "L1"},
    {"block_norm": "L1-sqrt", "orientations": 6},
    {"block_norm": "L2", "transform_sqrt": True},
    {"pixels_per_cell": (3, 3), "cells_per_block": (1, 1), "orientations": 4},
])
def test_hog_batch_matches_skimage(kw):
    grey = _smooth(4, 37, 41, seed=1)
    grey[:, :9, :9] = 77  # flat patch: zero gradients, angle exactly 0
    grey[:, 20:30, 7] = 200  # pure horizontal/vertical gradients sit on bin edges for even orientations
    ours = hog_batch(grey, **kw)
    ref = np.stack([hog(im, **kw) for im in grey])
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=2e-6)
    colour = _smooth(3, 30, 26, seed=2, channels=3)
    ours = hog_batch(colour, **kw)
    ref = np.stack([hog(im, channel_axis=-1, **kw) for im in colour])
    np.testing.assert_allclose(ours, ref, atol=2e-6)


def test_hog_transformer_resizes_and_methods_agree_in_width():
    images = _smooth(3, 50, 70, seed=3, channels=3)
    numpy_ = HOG(size=32, cells_per_block=2).fit_transform(images)
    skimage_ = HOG(size=32, cells_per_block=2, method="skimage").fit_transform(images)
    np.testing.assert_allclose(numpy_, skimage_, atol=2e-6)
    opencv_ = HOG(size=32, cells_per_block=2, method="opencv").fit_transform(images)
    assert opencv_.shape == numpy_.shape
    assert not np.allclose(opencv_, numpy_, atol=1e-3)  # a different descriptor: never mix them
    # the OpenCV path is cv2.HOGDescriptor on the resized grey image (transform_sqrt=False: no gamma correction)
    grey = cv2.cvtColor(cv2.resize(images[0], (32, 32), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    descriptor = cv2.HOGDescriptor((32, 32), (16, 16), (8, 8), (8, 8), 9, 1, -1.0, 0, 0.2, False, 64, False)
    ref = descriptor.compute(grey).ravel()
    np.testing.assert_allclose(opencv_[0], ref, atol=1e-6)


def test_hog_too_small_for_cells_is_a_clear_value_error():
    with pytest.raises(ValueError, match=r"too small .* need at least 24x24"):
        HOG(size=16).fit(None)  # 8x8 cells, 3x3 blocks
    with pytest.raises(ValueError, match="too small"):
        hog_batch(np.zeros((1, 10, 10), np.uint8))


# ------------------------------------------------------------------ LBP

@pytest.mark.parametrize("method", ["uniform", "nri_uniform", "default"])
@pytest.mark.parametrize("P,R", [(4, 1), (4, 2), (8, 1)])
def test_lbp_codes_equal_skimage_when_points_fall_on_pixels_or_need_no_ties(P, R, method):
    grey = _smooth(3, 19, 23, seed=4)
    ours = lbp_codes(grey, P, R, method)
    ref = np.stack([local_binary_pattern(im, P, R, method) for im in grey])
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("P,R,method", [(8, 2, "uniform"), (16, 2, "nri_uniform"), (24, 3, "uniform"), (20, 2, "nri_uniform"),
                                        (12, 1.5, "default")])
def test_lbp_codes_agree_with_skimage_off_grid(P, R, method):
    grey = _smooth(3, 30, 30, seed=5)
    ours = lbp_codes(grey, P, R, method)
    ref = np.stack([local_binary_pattern(im, P, R, method) for im in grey])
    assert (ours == ref).mean() > 0.99


def test_lbp_histogram_and_grid():
    grey = _smooth(2, 16, 20, seed=6)
    codes = np.stack([local_binary_pattern(im, 8, 1, "uniform") for im in grey]).astype(int)
    full = LBP(P=8, R=1).fit_transform(grey)
    ref = np.stack([np.bincount(c.ravel(), minlength=10) / c.size for c in codes])
    np.testing.assert_allclose(full, ref, atol=1e-6)
    grid = LBP(P=8, R=1, grid=(2, 2)).fit_transform(grey)
    top_left = np.bincount(codes[0, :8, :10].ravel(), minlength=10) / 80
    np.testing.assert_allclose(grid[0, :10], top_left, atol=1e-6)
    np.testing.assert_allclose(grid.reshape(2, 4, 10).sum(-1), 1.0, atol=1e-6)


def test_lbp_flat_image_and_too_small_image():
    flat = np.full((1, 6, 6), 9, np.uint8)
    codes = lbp_codes(flat, 8, 1.5, "uniform")
    assert (codes[0, 2:-2, 2:-2] == 8).all()  # inside: all neighbours >= centre, whatever the interpolation
    assert LBP(P=8, R=1).fit_transform(flat)[0, 8] == pytest.approx(16 / 36)  # outside the image counts as 0
    with pytest.raises(ValueError, match="too small for a 4x4 grid"):
        LBP(grid=4).fit_transform(np.zeros((1, 3, 9), np.uint8))


# ------------------------------------------------------------------ colour

def test_color_histogram_matches_cv2_calchist():
    images = _smooth(2, 12, 14, seed=7, channels=3)
    ours = ColorHistogram(bins=(8, 4, 2), color_space="hsv", norm=None).fit_transform(images)
    hsv = cv2.cvtColor(images[1], cv2.COLOR_RGB2HSV)
    ref = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 2], [0, 180, 0, 256, 0, 256]).ravel()
    np.testing.assert_array_equal(ours[1], ref)
    per_channel = ColorHistogram(bins=4, color_space="rgb", joint=False).fit_transform(images)
    ref_r = cv2.calcHist([images[0]], [0], None, [4], [0, 256]).ravel() / (12 * 14)
    np.testing.assert_allclose(per_channel[0, :4], ref_r, atol=1e-6)
    np.testing.assert_allclose(per_channel.reshape(2, 3, 4).sum(-1), 1.0, atol=1e-6)


def test_color_histogram_masks():
    img = np.zeros((1, 20, 20, 3), np.uint8)
    img[0, 8:12, 8:12] = (255, 0, 0)  # a red centre on black
    centre = ColorHistogram(bins=2, color_space="rgb", mask="center").fit_transform(img)
    whole = ColorHistogram(bins=2, color_space="rgb").fit_transform(img)
    assert centre[0, 4] > whole[0, 4]  # red weighs more inside the central ellipse
    box = np.zeros((10, 10), bool)
    box[4:6, 4:6] = True  # resized to 20x20: exactly the red square
    only_red = ColorHistogram(bins=2, color_space="rgb", mask=box).fit_transform(img)
    assert only_red[0, 4] == 1.0
    by_callable = ColorHistogram(bins=2, color_space="rgb", mask=lambda im: im[..., 0] > 0).fit_transform(img)
    np.testing.assert_array_equal(by_callable, only_red)


def test_color_stats_and_raw_pixels():
    img = np.zeros((1, 4, 4, 3), np.uint8)
    img[0, :, :2, 0] = 255  # red channel: half 255, half 0
    stats = ColorStats(color_space="rgb").fit_transform(img)[0]
    np.testing.assert_allclose(stats, [0.5, 0.5, 0, 0, 0, 0], atol=1e-6)
    lab = ColorStats(color_space="lab").fit_transform(img)[0]
    ref = cv2.cvtColor(img[0], cv2.COLOR_RGB2LAB).reshape(-1, 3).mean(0) / 255
    np.testing.assert_allclose(lab[0::2], ref, atol=1e-6)
    raw = RawPixels(size=(2, 2)).fit_transform(img)
    assert raw.shape == (1, 12) and raw.max() == 1.0
    np.testing.assert_allclose(raw[0].reshape(2, 2, 3)[:, 0, 0], [1.0, 1.0])


# ------------------------------------------------------------------ Haralick and Hu

def test_glcm_and_haralick_match_skimage_for_axis_aligned_angles():
    grey = (_smooth(2, 15, 17, seed=8) // 32).astype(np.uint8)  # 8 levels
    angles = [0.0, np.pi / 2]
    ours = glcm_batch(grey, [1, 3], angles, levels=8)
    for i, im in enumerate(grey):
        ref = graycomatrix(im, [1, 3], angles, levels=8, symmetric=True, normed=True)
        np.testing.assert_allclose(ours[i], ref, atol=1e-12)
    props = ("contrast", "dissimilarity", "homogeneity", "ASM", "energy", "correlation")
    est = Haralick(distances=(1, 3), angles=angles, levels=8, properties=props, average_angles=False)
    X = est.fit_transform((grey.astype(np.uint16) * 32).astype(np.uint8))
    ref = np.concatenate([graycoprops(graycomatrix(grey[0], [1, 3], angles, levels=8, symmetric=True,
                                                   normed=True), p).ravel() for p in props])
    np.testing.assert_allclose(X[0], ref, rtol=1e-5, atol=1e-6)


def test_haralick_too_small_image():
    with pytest.raises(ValueError, match="too small for distance 4"):
        Haralick(distances=(1, 4)).fit_transform(np.zeros((1, 4, 30), np.uint8))


def test_hu_moments_match_opencv_and_are_rotation_invariant():
    img = np.zeros((1, 40, 40), np.uint8)
    cv2.ellipse(img[0], (20, 20), (12, 6), 30, 0, 360, 255, -1)
    hu = HuMoments(source="silhouette").fit_transform(img)[0]
    raw = cv2.HuMoments(cv2.moments(img[0], binaryImage=True)).ravel()
    expected = -np.sign(raw) * np.log10(np.abs(raw))
    np.testing.assert_allclose(hu, expected, rtol=1e-5)
    turned = np.ascontiguousarray(np.rot90(img, axes=(1, 2)))
    np.testing.assert_allclose(HuMoments(source="silhouette").fit_transform(turned)[0, :4], hu[:4], rtol=1e-3)
    inverted = HuMoments(source="silhouette", invert=True).fit_transform(255 - img)[0]
    np.testing.assert_allclose(inverted, hu, rtol=1e-5)


def test_lbp_large_images_are_done_in_strips_with_the_same_codes(monkeypatch):
    import cvtoolkit.features.texture as texture

    grey = _smooth(1, 90, 40, seed=9)
    whole = lbp_codes(grey, 16, 2.5, "nri_uniform")
    monkeypatch.setattr(texture, "_SUB_PIXELS", 256)  # force strips of a few rows
    np.testing.assert_array_equal(lbp_codes(grey, 16, 2.5, "nri_uniform"), whole)
