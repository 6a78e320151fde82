"""Local keypoint descriptors: SIFT, RootSIFT and ORB.

These are not transformers: an image gives a variable number of descriptors
(possibly none). :class:`~cvtoolkit.features.bovw.BagOfVisualWords` turns
them into fixed-width histograms. Each extractor has

- ``keypoints(grey)``: the keypoints it describes (detected, or a dense grid
  when ``dense=True``);
- ``compute(image)``: ``(keypoints, descriptors)`` as OpenCV returns them
  (``descriptors`` is ``None`` when there are no keypoints), for matching and
  drawing;
- ``describe(image)``: a ``(K, d)`` ``float32`` array, ``K`` possibly 0,
  ready for clustering.

Images are ``(H, W, 3)`` ``uint8`` RGB (converted to grey inside), ``(H, W)``
or ``(H, W, 1)`` grey. OpenCV detector objects are created per call, so the
extractors pickle and can be used from several threads at once.

References
----------
.. [1] D. G. Lowe, "Distinctive image features from scale-invariant
   keypoints", IJCV 60(2), 2004.
.. [2] R. Arandjelović and A. Zisserman, "Three things everyone should know
   to improve object retrieval", CVPR 2012 (RootSIFT).
.. [3] E. Rublee, V. Rabaud, K. Konolige and G. Bradski, "ORB: an efficient
   alternative to SIFT or SURF", ICCV 2011.

Examples
--------
>>> import numpy as np
>>> from cvtoolkit.features.keypoints import RootSIFT
>>> image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
>>> RootSIFT(dense=True, step=16).describe(image).shape
(16, 128)
"""

from __future__ import annotations

from typing import Any

from numbers import Integral, Real

import cv2
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

from cvtoolkit.imageops import to_gray

__all__ = ["SIFT", "RootSIFT", "ORB", "to_grey", "dense_keypoints", "root_normalise",
           "make_extractor",
           "EXTRACTORS"]


to_grey = to_gray
"""Old name of :func:`cvtoolkit.imageops.to_gray` (one image to a 2-D ``uint8`` grey array)."""


def dense_keypoints(shape: tuple[int, ...], step: int, size: float,
                    margin: int = 0) -> list[cv2.KeyPoint]:
    """Return a regular grid of upright keypoints over an image.

    Parameters
    ----------
    shape : tuple
        The image's shape; only ``(H, W)`` is used.
    step : int
        Pixels between neighbouring keypoints.
    size : float
        Keypoint diameter (the descriptor's support grows with it).
    margin : int, default=0
        Keep keypoints at least this far from every border; with 0 the grid
        starts half a step in.

    Examples
    --------
    >>> len(dense_keypoints((32, 32), step=8, size=8))
    16
    """
    height, width = int(shape[0]), int(shape[1])
    start = margin if margin > 0 else step // 2
    ys = range(start, height - margin, step) if margin > 0 else range(start, height, step)
    xs = range(start, width - margin, step) if margin > 0 else range(start, width, step)
    return [cv2.KeyPoint(float(x), float(y), float(size), 0.0) for y in ys for x in xs]


_KEYPOINT_CONSTRAINTS: dict = {
    "dense": ["boolean"],
    "step": [Interval(Integral, 1, None, closed="left")],
    "size": [Interval(Real, 0, None, closed="neither"), None],
    "max_keypoints": [Interval(Integral, 1, None, closed="left"), None],
}


class _LocalDescriptor:
    """What SIFT and ORB share: keypoints (``keypoints``) described by an OpenCV detector (``_detector``)."""

    def compute(self, image: Any) -> tuple[list[cv2.KeyPoint], np.ndarray | None]:
        """Return OpenCV's ``(keypoints, descriptors)`` for an image (ORB's are packed ``uint8``)."""
        grey = to_grey(image)
        keypoints = self.keypoints(grey)
        if not keypoints:
            return [], None
        keypoints, descriptors = self._detector().compute(grey, keypoints)
        return list(keypoints), descriptors


class SIFT(_LocalDescriptor, BaseEstimator):
    """SIFT descriptors (128-D) at detected or dense keypoints.

    Parameters
    ----------
    dense : bool, default=False
        Describe a regular grid of upright keypoints instead of detected
        ones: every image then gets descriptors (good for classification).
    step : int, default=8
        Grid spacing in pixels when ``dense``.
    size : float, optional
        Keypoint diameter when ``dense``; default ``step``. OpenCV's SIFT
        window spans about ``6 * size`` pixels.
    max_keypoints : int, optional
        Keep at most this many detected keypoints (the strongest); ``None``
        keeps all. Ignored when ``dense``.
    contrast_threshold : float, default=0.04
        Detector threshold; lower finds more keypoints in flat images.

    Examples
    --------
    >>> import numpy as np
    >>> SIFT(dense=True, step=8).describe(np.zeros((32, 32), np.uint8)).shape
    (16, 128)
    """

    #: Length of one descriptor returned by :meth:`describe`.
    descriptor_size = 128

    _parameter_constraints: dict = {
        **_KEYPOINT_CONSTRAINTS,
        "contrast_threshold": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, dense: bool = False, *, step: int = 8, size: float | None = None,
                 max_keypoints: int | None = None, contrast_threshold: float = 0.04):
        self.dense = dense
        self.step = step
        self.size = size
        self.max_keypoints = max_keypoints
        self.contrast_threshold = contrast_threshold

    def _detector(self) -> Any:
        return cv2.SIFT_create(nfeatures=int(self.max_keypoints or 0),
                               contrastThreshold=float(self.contrast_threshold))

    def keypoints(self, grey: np.ndarray) -> list[cv2.KeyPoint]:
        """Return the keypoints described in a grey image."""
        self._validate_params()  # scikit-learn's, against _parameter_constraints
        if self.dense:
            return dense_keypoints(grey.shape, self.step, self.size or self.step)
        return list(self._detector().detect(grey, None))

    def describe(self, image: Any) -> np.ndarray:
        """Return the ``(K, 128)`` ``float32`` descriptors of an image."""
        _, descriptors = self.compute(image)
        if descriptors is None or len(descriptors) == 0:
            return np.zeros((0, self.descriptor_size), np.float32)
        return np.asarray(descriptors, np.float32)


class RootSIFT(SIFT):
    """RootSIFT: SIFT rows L1-normalised, then square-rooted.

    Euclidean distance between RootSIFT vectors equals the Hellinger kernel
    distance between the SIFT histograms [2]_; each row has unit L2 norm
    (rows that were all zero stay zero).

    Parameters are those of :class:`SIFT`, plus ``eps`` (added to the L1
    norm so flat patches do not divide by zero).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> d = RootSIFT(dense=True).describe(rng.integers(0, 256, (32, 32), dtype=np.uint8))
    >>> bool(np.allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-3))
    True
    """

    _parameter_constraints: dict = {**SIFT._parameter_constraints, "eps": [Interval(Real, 0, None, closed="left")]}

    def __init__(self, dense: bool = False, *, step: int = 8, size: float | None = None,
                 max_keypoints: int | None = None, contrast_threshold: float = 0.04,
                 eps: float = 1e-7):
        super().__init__(dense=dense, step=step, size=size,
                         max_keypoints=max_keypoints,
                         contrast_threshold=contrast_threshold)
        self.eps = eps

    def describe(self, image: Any) -> np.ndarray:
        """Return the ``(K, 128)`` ``float32`` RootSIFT descriptors."""
        return root_normalise(super().describe(image), self.eps)


def root_normalise(descriptors: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """L1-normalise non-negative descriptor rows, then take the square root.

    Examples
    --------
    >>> root_normalise(np.array([[1.0, 3.0]])).astype(float).round(3).tolist()
    [[0.5, 0.866]]
    """
    descriptors = np.asarray(descriptors, np.float32)
    norms = np.abs(descriptors).sum(axis=1, keepdims=True) + np.float32(eps)
    return np.sqrt(np.maximum(descriptors, 0) / norms).astype(np.float32)


class ORB(_LocalDescriptor, BaseEstimator):
    """ORB binary descriptors, returned as 256 float 0/1 bits.

    :meth:`describe` unpacks OpenCV's 32 bytes per keypoint into 256 bits
    (``float32`` 0.0 or 1.0), so the squared Euclidean distance between two
    rows is their Hamming distance and k-means clusters them meaningfully;
    :meth:`compute` returns the packed ``uint8`` bytes for Hamming matching.

    Parameters
    ----------
    dense : bool, default=False
        Describe a regular grid instead of detected FAST corners.
    step : int, default=8
        Grid spacing when ``dense``.
    size : float, optional
        Patch size (OpenCV's ``patchSize``); default 31. Dense keypoints stay
        ``size // 2 + 1`` pixels from the border (ORB drops those closer), so
        images of ``size + 1`` pixels a side or fewer (32 by default) get no
        dense descriptors.
    max_keypoints : int, optional
        Most detected keypoints (OpenCV's ``nfeatures``); default 500.
    fast_threshold : int, default=20
        FAST corner threshold; lower finds more keypoints in flat images.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ORB(dense=True, step=8).describe(rng.integers(0, 256, (48, 48), dtype=np.uint8)).shape
    (4, 256)
    """

    #: Length of one descriptor returned by :meth:`describe` (bits).
    descriptor_size = 256

    _parameter_constraints: dict = {
        **_KEYPOINT_CONSTRAINTS,
        "fast_threshold": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, dense: bool = False, *, step: int = 8, size: float | None = None,
                 max_keypoints: int | None = None, fast_threshold: int = 20):
        self.dense = dense
        self.step = step
        self.size = size
        self.max_keypoints = max_keypoints
        self.fast_threshold = fast_threshold

    def _patch(self) -> int:
        return int(round(self.size)) if self.size else 31

    def _margin(self) -> int:
        return self._patch() // 2 + 1

    def _detector(self) -> Any:
        patch = self._patch()
        # Detected: OpenCV's default border; dense: the smallest border the
        # descriptor's patch allows, so the grid reaches closer to the edge.
        edge = self._margin() if self.dense else max(31, patch)
        return cv2.ORB_create(nfeatures=int(self.max_keypoints or 500),
                              edgeThreshold=edge, patchSize=patch,
                              fastThreshold=int(self.fast_threshold))

    def keypoints(self, grey: np.ndarray) -> list[cv2.KeyPoint]:
        """Return the keypoints described in a grey image."""
        self._validate_params()  # scikit-learn's, against _parameter_constraints
        if self.dense:
            return dense_keypoints(grey.shape, self.step, self._patch(),
                                   margin=self._margin())
        return list(self._detector().detect(grey, None))

    def describe(self, image: Any) -> np.ndarray:
        """Return the ``(K, 256)`` ``float32`` 0/1 bit descriptors."""
        _, descriptors = self.compute(image)
        if descriptors is None or len(descriptors) == 0:
            return np.zeros((0, self.descriptor_size), np.float32)
        return np.unpackbits(np.asarray(descriptors, np.uint8), axis=1).astype(np.float32)


#: Descriptor names :func:`make_extractor` accepts.
EXTRACTORS: dict[str, type] = {"sift": SIFT, "rootsift": RootSIFT, "orb": ORB}


def make_extractor(name: str, **params: Any) -> SIFT | ORB:
    """Build a local-descriptor extractor by name (``sift``, ``rootsift``, ``orb``).

    Examples
    --------
    >>> make_extractor("orb", dense=True)
    ORB(dense=True)
    """
    try:
        cls = EXTRACTORS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown descriptor {name!r}; expected one of {', '.join(EXTRACTORS)}."
        ) from None
    return cls(**params)
