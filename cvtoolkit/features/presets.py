"""The registry's descriptor presets: each a ``functools.partial`` of its class.

Kept apart from :mod:`cvtoolkit.features.registry` so that listing names
(``cvtoolkit compare --list-methods``) does not import scikit-learn: the
registry refers to these as ``"cvtoolkit.features.presets:make_hog"`` and
imports this module on first use.

Examples
--------
>>> from cvtoolkit.features.presets import make_hog
>>> make_hog().pixels_per_cell, make_hog(orientations=12).orientations
(16, 12)
"""

from __future__ import annotations

from functools import partial

from cvtoolkit.features.color import ColorHistogram, ColorStats, RawPixels
from cvtoolkit.features.encoding import FisherVectors, SpatialPyramidBoW
from cvtoolkit.features.hog import HOG
from cvtoolkit.features.shape import HuMoments
from cvtoolkit.features.texture import LBP, Haralick

__all__ = ["make_color_stats", "make_combined", "make_dsift_fisher", "make_dsift_spm", "make_haralick", "make_hog",
           "make_hsv_hist", "make_hu", "make_lbp", "make_osift_fisher", "make_raw"]

# Registry presets (the classes themselves keep scikit-image's defaults).
# Chosen on the Animals set (3000 images, stratified 75/25 split, seed 42,
# images loaded at 128x128), with cvtoolkit.classifiers defaults:
# - combined = HSV 8x8x8 + HOG(96x96, 16-pixel cells, 2x2 blocks) +
#   LBP(24, 3, 3x3 grid), 1646 values: 0.757 with rbf_svm, 0.713-0.729 with
#   random_forest (seeds 42, 0, 1); hsv_hist + random_forest alone: 0.673.
# - hog: 96x96 with 16-pixel cells (900 values) scored 0.676 (rbf_svm) and
#   0.611 (linear_svm) against 0.656 and 0.596 for scikit-image's defaults at
#   64x64 (2916 values), whose classifiers are also ~5x slower to fit.
# - lbp: P=8, R=1 over a 4x4 grid (160 values) scored 0.687 with rbf_svm,
#   against 0.599 for one P=24, R=3 histogram.

make_raw = partial(RawPixels, size=32, color=True)
"""Raw pixels: 32x32 RGB resized and flattened, scaled to [0, 1]."""

make_color_stats = partial(ColorStats, color_space="hsv")
"""Colour statistics: mean and standard deviation of each HSV channel."""

make_hsv_hist = partial(ColorHistogram, bins=(8, 8, 8), color_space="hsv", joint=True, norm="l1")
"""HSV colour histogram: joint 8x8x8 bins, L1-normalised."""

make_hog = partial(HOG, size=96, pixels_per_cell=16, cells_per_block=2)
"""HOG: 96x96 grey, 9 orientations, 16x16-pixel cells, 2x2-cell blocks, L2-Hys."""

make_lbp = partial(LBP, P=8, R=1.0, method="uniform", grid=4)
"""LBP: uniform patterns, 8 points at radius 1, histograms over a 4x4 grid of cells."""

make_hu = partial(HuMoments, source="gray")
"""Hu moments: the seven log-scaled invariants of the grey image."""

make_haralick = partial(Haralick, distances=(1, 2, 4), levels=32, average_angles=True)
"""Haralick: 7 GLCM properties at distances 1, 2, 4, averaged over 4 angles, 32 grey levels."""


def make_combined(*, hist_bins: int | tuple[int, int, int] = (8, 8, 8), hog_size: int | tuple[int, int] = 96,
                  hog_pixels_per_cell: int | tuple[int, int] = 16, hog_cells_per_block: int | tuple[int, int] = 2,
                  lbp_P: int = 24, lbp_R: float = 3.0, lbp_grid: int | tuple[int, int] = 3,
                  n_jobs: int | None = None, progress: bool | None = None):
    """Combined: HSV histogram (8x8x8) + coarse HOG (96x96, 16-pixel cells) + LBP (24 points, 3x3 grid), as a FeatureUnion."""
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("hsv_hist", make_hsv_hist(bins=hist_bins, n_jobs=n_jobs, progress=progress)),
        ("hog", make_hog(size=hog_size, pixels_per_cell=hog_pixels_per_cell, cells_per_block=hog_cells_per_block,
                         n_jobs=n_jobs, progress=progress)),
        ("lbp", make_lbp(P=lbp_P, R=lbp_R, grid=lbp_grid, n_jobs=n_jobs, progress=progress)),
    ])


# Dense descriptors with their encodings (cvtoolkit.features.encoding), at the images' natural size
# (longer side at most 300 px). Measured on Flowers-17, stratified 75/25 split, seed 42, with
# LinearSVC(C=1) on the encodings (the rows themselves: cvtoolkit compare --dataset ../shared/data/flowers17
# --methods dsift_spm+chi2_svm,dsift_fisher+ridge,osift_fisher+ridge; speed: bench/bench_dense_sift.py):
# - dsift_spm (grey, Lazebnik's settings) with a chi-squared feature map: 0.574
# - dsift_fisher (grey, 16/24/32-px patches every 8 px, PCA 64, 64 Gaussians, 1x1 + 2x2): 0.756
# - osift_fisher (the same on the three opponent channels): 0.865 (0.897 with the calibrated ridge
#   classifier; Animals: 0.832 and 0.843)
make_dsift_spm = partial(SpatialPyramidBoW, n_words=400, pyramid=(1, 2, 4), patch_sizes=(16,), step=8, max_side=300)
"""Lazebnik et al.'s pipeline: dense RootSIFT (16-px patches every 8 px) + 400 words over a 1x1/2x2/4x4 pyramid."""

make_dsift_fisher = partial(FisherVectors, n_components=64, n_dims=64, pyramid=(1, 2), patch_sizes=(16, 24, 32), step=8, max_side=300)
"""Dense multi-scale RootSIFT + improved Fisher vectors (PCA 64, 64 Gaussians, 1x1 + 2x2 pyramid)."""

make_osift_fisher = partial(FisherVectors, n_components=64, n_dims=64, pyramid=(1, 2), patch_sizes=(16, 24, 32), step=8, max_side=300,
                            color="opponent")
"""Dense multi-scale opponent-colour RootSIFT + improved Fisher vectors (the strongest classical descriptor here)."""
