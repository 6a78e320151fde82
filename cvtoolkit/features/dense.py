"""Dense local descriptors: SIFT / RootSIFT on a multi-scale grid, in grey or colour.

The literature's strongest classical image classifiers (Lazebnik et al.
2006, Perronnin et al. 2010, Chatfield et al. 2011) describe every image with
SIFT on a dense, multi-scale grid of patches, then pool the descriptors with a
spatial pyramid of visual words or a Fisher vector
(:mod:`cvtoolkit.features.encoding`). This module is the first half:
:class:`DenseSIFT` turns one image into ``(descriptors, positions)``.

- **Patch width, not keypoint size.** OpenCV's SIFT window spans about six
  times ``KeyPoint.size`` (4 x 4 cells of ``1.5 * size`` pixels), so a 16-px
  patch is a keypoint of size ``16 / 6``; ``patch_sizes`` are patch widths in
  pixels, as the papers state them (a keypoint of size 16 would describe a
  96-px window: 51.5% instead of 61.9% on a 101-class set).
- **Natural size.** Images are shrunk (never enlarged) so their longer side is
  at most ``max_side`` pixels before they are described: the papers use about
  300 px; descriptors of 32-px thumbnails mean little.
- **Colour.** ``color="opponent"`` describes the three opponent channels
  (``(R - G) / sqrt 2``, ``(R + G - 2B) / sqrt 6``, ``(R + G + B) / sqrt 3``)
  and concatenates them (384 values; van de Sande et al. 2010); ``"hsv"``
  the H, S and V channels.
- **Compact.** OpenCV's SIFT values are integers in ``[0, 255]``, so
  descriptors are returned as ``uint8`` (lossless, a quarter of the memory);
  :func:`root_sift` maps them to RootSIFT floats when they are encoded.

References
----------
.. [1] S. Lazebnik, C. Schmid and J. Ponce, "Beyond bags of features: spatial
   pyramid matching for recognizing natural scene categories", CVPR 2006.
.. [2] A. Bosch, A. Zisserman and X. Munoz, "Image classification using random
   forests and ferns", ICCV 2007 (dense multi-scale "PHOW" descriptors).
.. [3] K. van de Sande, T. Gevers and C. Snoek, "Evaluating color descriptors
   for object and scene recognition", PAMI 32(9), 2010.
.. [4] R. Arandjelovic and A. Zisserman, "Three things everyone should know to
   improve object retrieval", CVPR 2012 (RootSIFT).

Examples
--------
>>> import numpy as np
>>> from cvtoolkit.features.dense import DenseSIFT
>>> image = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
>>> desc, xy = DenseSIFT(patch_sizes=(16,), step=16).describe(image)
>>> desc.shape, desc.dtype, xy.shape
((24, 128), dtype('uint8'), (24, 2))
>>> bool((xy >= 0).all() and (xy < 1).all())
True
"""

from __future__ import annotations

from functools import lru_cache
from numbers import Integral, Real
from typing import Any, Sequence

import cv2
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

__all__ = ["DenseSIFT", "root_sift", "grid_keypoints", "SIFT_WINDOW_PER_SIZE", "COLOR_CHANNELS"]

SIFT_WINDOW_PER_SIZE = 6.0
"""Width of OpenCV's SIFT descriptor window, in units of ``KeyPoint.size`` (4 cells of 1.5 x size)."""

COLOR_CHANNELS = {"grey": 1, "opponent": 3, "hsv": 3}
"""Channels each ``color`` describes (128 values each)."""


def grid_keypoints(height: int, width: int, *, patch_sizes: Sequence[int], step: int) -> list[cv2.KeyPoint]:
    """Upright keypoints on a regular grid, one per patch size, every patch inside the image.

    Parameters
    ----------
    height, width : int
        The image's size in pixels.
    patch_sizes : sequence of int
        Patch widths in pixels; each gives keypoints of size ``width / 6``
        (see :data:`SIFT_WINDOW_PER_SIZE`) whose patch lies inside the image.
    step : int
        Pixels between neighbouring patch centres.

    Returns
    -------
    list of cv2.KeyPoint
        Patch by patch size, then row by row. A patch size larger than the
        image gives no keypoints.

    Examples
    --------
    >>> kps = grid_keypoints(32, 48, patch_sizes=(16,), step=8)
    >>> len(kps), kps[0].pt, round(kps[0].size, 3)
    (15, (8.0, 8.0), 2.667)
    """
    keypoints: list[cv2.KeyPoint] = []
    for patch in patch_sizes:
        half = patch / 2.0
        ys = np.arange(half, height - half + 1e-9, step)
        xs = np.arange(half, width - half + 1e-9, step)
        size = float(patch) / SIFT_WINDOW_PER_SIZE
        keypoints.extend(cv2.KeyPoint(float(x), float(y), size) for y in ys for x in xs)
    return keypoints


@lru_cache(maxsize=256)
def _grid(height: int, width: int, patch_sizes: tuple[int, ...], step: int) -> tuple[list[cv2.KeyPoint], np.ndarray]:
    """The grid's keypoints and their ``(x / width, y / height)`` positions, built once per image size."""
    keypoints = grid_keypoints(height, width, patch_sizes=patch_sizes, step=step)
    xy = np.array([kp.pt for kp in keypoints], np.float32).reshape(-1, 2)
    xy /= np.array([width, height], np.float32)
    np.clip(xy, 0.0, np.nextafter(np.float32(1), np.float32(0)), out=xy)
    xy.setflags(write=False)
    return keypoints, xy


def root_sift(descriptors: np.ndarray, *, channels: int = 1) -> np.ndarray:
    """RootSIFT: each 128-value block L1-normalised, then square-rooted (``float32``).

    Euclidean distance between RootSIFT vectors is the Hellinger kernel
    between the SIFT histograms, which suits histograms better.

    Parameters
    ----------
    descriptors : ndarray of shape (K, 128 * channels)
        SIFT descriptors (any non-negative dtype).
    channels : int, default=1
        Blocks of 128 values, normalised one by one (colour SIFT).

    Examples
    --------
    >>> d = np.array([[4, 0, 0, 12] + [0] * 124], np.uint8)
    >>> root_sift(d)[0, :4].tolist()
    [0.5, 0.0, 0.0, 0.8660253882408142]
    """
    d = np.asarray(descriptors, dtype=np.float32).reshape(len(descriptors), channels, -1)
    norms = d.sum(axis=2, keepdims=True)
    np.divide(d, norms, out=d, where=norms > 0)
    np.sqrt(d, out=d)
    return d.reshape(len(descriptors), -1)


def _channels(image: np.ndarray, color: str) -> list[np.ndarray]:
    """The ``uint8`` planes SIFT describes for ``color``."""
    if image.ndim == 2 or image.shape[-1] == 1:
        grey = image.reshape(image.shape[:2])
        return [grey] * COLOR_CHANNELS[color]
    if color == "grey":
        return [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)]
    if color == "hsv":
        return list(cv2.split(cv2.cvtColor(image, cv2.COLOR_RGB2HSV)))
    rgb = image.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # Opponent channels scaled back to [0, 255] (O1, O2 centred at 128).
    o1 = (r - g) / 2.0 + 127.5
    o2 = (r + g - 2.0 * b) / 4.0 + 127.5
    o3 = (r + g + b) / 3.0
    return [np.clip(c + 0.5, 0, 255).astype(np.uint8) for c in (o1, o2, o3)]


class DenseSIFT(BaseEstimator):
    """SIFT (or colour SIFT) descriptors on a dense multi-scale grid, with their positions.

    Not a transformer: an image gives a variable number of descriptors.
    :class:`~cvtoolkit.features.encoding.SpatialPyramidBoW` and
    :class:`~cvtoolkit.features.encoding.FisherVectors` pool them into
    fixed-width vectors.

    Parameters
    ----------
    patch_sizes : tuple of int, default=(16, 24, 32)
        Patch widths in pixels (one grid per width; see the module notes).
    step : int, default=8
        Pixels between neighbouring patch centres.
    max_side : int or None, default=300
        Shrink images whose longer side is larger to this many pixels
        (area interpolation); None keeps every image as it is.
    color : {"grey", "opponent", "hsv"}, default="grey"
        Channels described (see the module notes).
    smoothing : float, default=1.0
        Gaussian sigma (pixels) applied before describing; 0 turns it off.

    Examples
    --------
    >>> image = np.zeros((40, 40, 3), np.uint8)
    >>> DenseSIFT(patch_sizes=(16, 24), step=8, color="opponent").describe(image)[0].shape
    (25, 384)
    """

    _parameter_constraints: dict = {
        "patch_sizes": [tuple, list],
        "step": [Interval(Integral, 1, None, closed="left")],
        "max_side": [Interval(Integral, 16, None, closed="left"), None],
        "color": [StrOptions(set(COLOR_CHANNELS))],
        "smoothing": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, patch_sizes: Sequence[int] = (16, 24, 32), step: int = 8, *, max_side: int | None = 300,
                 color: str = "grey", smoothing: float = 1.0):
        self.patch_sizes = patch_sizes
        self.step = step
        self.max_side = max_side
        self.color = color
        self.smoothing = smoothing

    @property
    def n_channels(self) -> int:
        """Blocks of 128 values per descriptor (1 grey, 3 colour)."""
        return COLOR_CHANNELS[self.color]

    @property
    def n_values(self) -> int:
        """Values per descriptor: ``128 * n_channels``."""
        return 128 * self.n_channels

    def check(self) -> None:
        """Validate the parameters (scikit-learn's constraints plus the patch sizes)."""
        self._validate_params()
        sizes = list(self.patch_sizes)
        if not sizes or not all(isinstance(p, Integral) and p >= 4 for p in sizes):
            raise ValueError(f"patch_sizes={self.patch_sizes!r}: expected one or more patch widths of at "
                             "least 4 pixels, e.g. (16, 24, 32)")

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The image as it is described: ``uint8``, longer side at most ``max_side`` (area-shrunk)."""
        from cvtoolkit.imageops import resize_pixels, shrunk_hw, to_uint8

        image = to_uint8(np.asarray(image), where="image")
        hw = shrunk_hw(image.shape[:2], self.max_side) if self.max_side is not None else None
        return resize_pixels(image, hw) if hw is not None else image

    def describe(self, image: Any) -> tuple[np.ndarray, np.ndarray]:
        """Describe one image.

        Parameters
        ----------
        image : ndarray of shape (H, W, 3) or (H, W)
            ``uint8`` RGB or grey (floats are read as ``[0, 1]``).

        Returns
        -------
        descriptors : ndarray of shape (K, 128 * channels), uint8
            SIFT values (``K`` is 0 for an image smaller than the smallest patch).
        positions : ndarray of shape (K, 2), float32
            Patch centres as ``(x / width, y / height)``, in ``[0, 1)``.
        """
        image = self.prepare(image)
        h, w = image.shape[:2]
        keypoints, xy = _grid(h, w, tuple(int(p) for p in self.patch_sizes), int(self.step))
        if not keypoints:
            return np.zeros((0, self.n_values), np.uint8), np.zeros((0, 2), np.float32)
        sift = cv2.SIFT_create()
        blocks = []
        for plane in _channels(image, self.color):
            if self.smoothing:
                plane = cv2.GaussianBlur(plane, (0, 0), float(self.smoothing))
            found, desc = sift.compute(plane, keypoints)
            if desc is None or len(found) != len(keypoints):  # OpenCV kept every given keypoint so far
                raise RuntimeError(f"OpenCV SIFT described {0 if desc is None else len(found)} of "
                                   f"{len(keypoints)} grid keypoints")
            blocks.append(desc)
        descriptors = np.clip(np.concatenate(blocks, axis=1) + 0.5, 0, 255).astype(np.uint8)
        return descriptors, xy.copy()
