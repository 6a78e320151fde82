"""Bag of visual words over local keypoint descriptors.

:class:`BagOfVisualWords` describes each image with SIFT, RootSIFT or ORB
(:mod:`cvtoolkit.features.keypoints`), learns a codebook of ``n_words``
visual words with :class:`~sklearn.cluster.MiniBatchKMeans` on a random
sample of the training descriptors, and turns every image into a normalised
histogram of its words (optionally tf-idf weighted). The registry names
``sift_bovw``, ``rootsift_bovw`` and ``orb_bovw`` call the factories at the
bottom of this module (``functools.partial`` presets of the class).

ORB descriptors are binary: they are clustered as 256 float 0/1 bits
(see :class:`~cvtoolkit.features.keypoints.ORB`), so the k-means distance is
the Hamming distance and the centroids are per-bit frequencies.

References
----------
.. [1] J. Sivic and A. Zisserman, "Video Google: a text retrieval approach to
   object matching in videos", ICCV 2003.
.. [2] G. Csurka, C. Dance, L. Fan, J. Willamowski and C. Bray, "Visual
   categorization with bags of keypoints", ECCV workshop 2004.

Examples
--------
>>> import numpy as np
>>> from cvtoolkit.features.bovw import BagOfVisualWords
>>> images = np.random.default_rng(0).integers(0, 256, (6, 48, 48, 3), dtype=np.uint8)
>>> bovw = BagOfVisualWords("sift", n_words=8, dense=True, step=12).fit(images)
>>> histograms = bovw.transform(images)
>>> histograms.shape, histograms.dtype
((6, 8), dtype('float32'))
>>> bool(np.allclose(histograms.sum(axis=1), 1.0))
True
"""

from __future__ import annotations

import logging
import math
from functools import partial
from numbers import Integral, Real
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .base import as_image_batch, map_images
from .keypoints import EXTRACTORS, make_extractor

__all__ = [
    "BagOfVisualWords",
    "make_sift_bovw",
    "make_rootsift_bovw",
    "make_orb_bovw",
]

logger = logging.getLogger(__name__)

class BagOfVisualWords(TransformerMixin, BaseEstimator):
    """Histograms of visual words over SIFT, RootSIFT or ORB descriptors.

    Parameters
    ----------
    descriptor : {"sift", "rootsift", "orb"}, default="sift"
        Local descriptor (see :mod:`cvtoolkit.features.keypoints`).
    n_words : int, default=256
        Codebook size: the width of the output.
    dense : bool, default=False
        Describe a regular grid of keypoints instead of detected ones. Dense
        grids give every image descriptors and usually classify better.
    step : int, default=8
        Grid spacing in pixels when ``dense``.
    size : float, optional
        Keypoint size when ``dense`` (SIFT: diameter, default ``step``;
        ORB: patch size, default 31).
    max_keypoints : int, optional
        Most detected keypoints per image (SIFT: all, ORB: 500 by default).
    sample_descriptors : int, default=50000
        Most descriptors, drawn at random from the training images (spread
        evenly over them), used to learn the codebook.
    tfidf : bool, default=False
        Weight word counts by inverse document frequency learned in ``fit``
        (``idf = ln((1 + n) / (1 + df)) + 1``, as scikit-learn's
        ``TfidfTransformer``) before normalising.
    normalize : {"l1", "l2"}, default="l1"
        Norm of each output row. Images without any keypoint give a zero row.
    batch_size : int, default=1024
        Mini-batch size of :class:`~sklearn.cluster.MiniBatchKMeans`.
    random_state : int or None, default=42
        Seed of the descriptor sample and of k-means.
    n_jobs : int or None, default=None
        Threads describing images (OpenCV releases the GIL); ``-1`` = all.
    progress : bool or None, default=None
        Draw a tqdm bar on stderr; ``None``: only for big jobs on a terminal.

    Attributes
    ----------
    codebook_ : MiniBatchKMeans
        The fitted codebook; ``codebook_.cluster_centers_`` is
        ``(n_words, d)``.
    idf_ : ndarray of shape (n_words,)
        Inverse document frequencies (``float32``); only when ``tfidf``.
    n_descriptors_fit_ : int
        Descriptors the codebook was learned from.

    Notes
    -----
    Images are described again by ``transform`` (descriptors are not kept
    after ``fit``, to bound memory): ``fit_transform`` describes the training
    images twice, once to learn the codebook and once to count words. The
    input is images, not a 2-D array, so scikit-learn's full
    ``check_estimator`` suite does not apply; the protocol checks that do
    (parameters, cloning, pickling) are tested.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> images = [rng.integers(0, 256, (40 + 8 * i, 48, 3), dtype=np.uint8)
    ...           for i in range(4)]
    >>> bovw = BagOfVisualWords("orb", n_words=4, dense=True, tfidf=True,
    ...                         normalize="l2")
    >>> bovw.fit_transform(images).shape
    (4, 4)
    >>> bovw.get_feature_names_out()[:2].tolist()
    ['orb_word0', 'orb_word1']
    """

    _parameter_constraints: dict = {
        "descriptor": [StrOptions(set(EXTRACTORS))],
        "n_words": [Interval(Integral, 1, None, closed="left")],
        "dense": ["boolean"],
        "step": [Interval(Integral, 1, None, closed="left")],
        "size": [Interval(Real, 0, None, closed="neither"), None],
        "max_keypoints": [Interval(Integral, 1, None, closed="left"), None],
        "sample_descriptors": [Interval(Integral, 1, None, closed="left")],
        "tfidf": ["boolean"],
        "normalize": [StrOptions({"l1", "l2"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "progress": ["boolean", None],
    }

    def __init__(
        self,
        descriptor: str = "sift",
        n_words: int = 256,
        *,
        dense: bool = False,
        step: int = 8,
        size: float | None = None,
        max_keypoints: int | None = None,
        sample_descriptors: int = 50000,
        tfidf: bool = False,
        normalize: str = "l1",
        batch_size: int = 1024,
        random_state: int | None = 42,
        n_jobs: int | None = None,
        progress: bool | None = None,
    ):
        self.descriptor = descriptor
        self.n_words = n_words
        self.dense = dense
        self.step = step
        self.size = size
        self.max_keypoints = max_keypoints
        self.sample_descriptors = sample_descriptors
        self.tfidf = tfidf
        self.normalize = normalize
        self.batch_size = batch_size
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    # -- helpers -----------------------------------------------------------

    def _check_values(self) -> None:
        """What the constraints cannot say alone (scikit-learn's ``_validate_params`` checks those)."""
        if self.sample_descriptors < self.n_words:
            raise ValueError(
                f"sample_descriptors={self.sample_descriptors} is smaller than "
                f"n_words={self.n_words}; k-means needs at least one descriptor per word."
            )

    def _extractor(self):
        return make_extractor(self.descriptor, dense=bool(self.dense), step=self.step,
                              size=self.size, max_keypoints=self.max_keypoints)

    def _map(self, function: Callable[[int, np.ndarray], Any],
             images: Sequence[np.ndarray], what: str) -> list:
        """Apply ``function(index, image)`` to every image, in threads (:func:`~cvtoolkit.features.base.map_images`)."""
        return map_images(function, images, n_jobs=self.n_jobs, progress=self.progress, what=what)

    def _sample(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Describe every image, keeping a bounded random sample of descriptors."""
        extractor = self._extractor()
        n_images = len(images)
        per_image = max(1, math.ceil(2 * self.sample_descriptors / n_images))
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))

        def sample_one(index: int, image: np.ndarray) -> np.ndarray:
            descriptors = extractor.describe(image)
            if len(descriptors) > per_image:
                rng = np.random.default_rng([seed, index])
                keep = np.sort(rng.choice(len(descriptors), per_image, replace=False))
                descriptors = descriptors[keep]
            return descriptors

        parts = self._map(sample_one, images, f"{self.descriptor} descriptors")
        descriptors = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
        if len(descriptors) > self.sample_descriptors:
            rng = np.random.default_rng([seed, n_images])
            keep = np.sort(rng.choice(len(descriptors), self.sample_descriptors,
                                      replace=False))
            descriptors = descriptors[keep]
        return descriptors

    def _fit_codebook(self, images: Sequence[np.ndarray]) -> None:
        from sklearn.cluster import MiniBatchKMeans

        self._check_values()
        if len(images) == 0:
            raise ValueError("cannot fit a bag of visual words on 0 images.")
        descriptors = self._sample(images)
        if len(descriptors) < self.n_words:
            raise ValueError(
                f"found only {len(descriptors)} {self.descriptor} descriptors in "
                f"{len(images)} images; need at least n_words={self.n_words} to learn "
                "the codebook. Use dense=True (or a smaller step), larger images, "
                "or fewer n_words."
            )
        logger.info("learning %d visual words from %d %s descriptors", self.n_words,
                    len(descriptors), self.descriptor)
        self.codebook_ = MiniBatchKMeans(
            n_clusters=self.n_words, batch_size=self.batch_size, n_init=3,
            random_state=self.random_state,
        ).fit(descriptors)
        self.n_descriptors_fit_ = int(len(descriptors))

    def _counts(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Word counts, ``(N, n_words)`` ``float32``."""
        extractor = self._extractor()
        centers = np.asarray(self.codebook_.cluster_centers_, np.float32)
        center_norms = (centers * centers).sum(axis=1)
        n_words = centers.shape[0]

        def count_one(index: int, image: np.ndarray) -> np.ndarray:
            descriptors = extractor.describe(image)
            if len(descriptors) == 0:
                return np.zeros(n_words, np.float32)
            # Nearest word: argmin |d - c|^2 = argmin (|c|^2 - 2 d.c), as
            # codebook_.predict, without its per-call validation and threads.
            words = np.argmin(center_norms - 2.0 * (descriptors @ centers.T), axis=1)
            return np.bincount(words, minlength=n_words).astype(np.float32)

        rows = self._map(count_one, images, f"{self.descriptor} words")
        return np.vstack(rows) if rows else np.zeros((0, n_words), np.float32)

    def _learn_idf(self, counts: np.ndarray) -> None:
        document_frequency = (counts > 0).sum(axis=0)
        n = counts.shape[0]
        self.idf_ = (np.log((1.0 + n) / (1.0 + document_frequency)) + 1.0).astype(
            np.float32)

    def _finish(self, counts: np.ndarray) -> np.ndarray:
        """tf-idf weighting (when learned) and row normalisation."""
        if self.tfidf:
            counts = counts * self.idf_
        if self.normalize == "l1":
            norms = np.abs(counts).sum(axis=1, keepdims=True)
        else:
            norms = np.sqrt((counts * counts).sum(axis=1, keepdims=True))
        np.divide(counts, norms, out=counts, where=norms > 0)
        return counts.astype(np.float32, copy=False)

    # -- scikit-learn protocol ---------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> "BagOfVisualWords":
        """Learn the codebook (and the idf weights when ``tfidf``).

        Parameters
        ----------
        X : ndarray of shape (N, H, W, 3) or (N, H, W), or list of images
            ``uint8`` RGB (or grey) training images; sizes may vary in a list.
        y : ignored

        Returns
        -------
        self
        """
        images = as_image_batch(X)
        self._fit_codebook(images)
        if self.tfidf:
            self._learn_idf(self._counts(images))
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit, then return the histograms of ``X`` (one pass fewer with tf-idf)."""
        images = as_image_batch(X)
        self._fit_codebook(images)
        counts = self._counts(images)
        if self.tfidf:
            self._learn_idf(counts)
        return self._finish(counts)

    def transform(self, X: Any) -> np.ndarray:
        """Return ``(N, n_words)`` ``float32`` normalised word histograms.

        Parameters
        ----------
        X : ndarray of shape (N, H, W, 3) or (N, H, W), or list of images

        Returns
        -------
        ndarray of shape (N, n_words)
            Each row sums to 1 (``l1``) or has unit length (``l2``); rows of
            images without keypoints are zero.
        """
        check_is_fitted(self, "codebook_")
        self._validate_params()  # scikit-learn's: parameters may have been set after fit
        self._check_values()
        if self.tfidf and not hasattr(self, "idf_"):
            raise ValueError("tfidf was switched on after fit; fit again to learn idf_.")
        return self._finish(self._counts(as_image_batch(X)))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Return ``["<descriptor>_word0", ...]``, one name per visual word."""
        check_is_fitted(self, "codebook_")
        n_words = self.codebook_.cluster_centers_.shape[0]
        return np.asarray([f"{self.descriptor}_word{i}" for i in range(n_words)],
                          dtype=object)


# Registry presets: dense grids (a descriptor for every image), 256 words.
make_sift_bovw = partial(BagOfVisualWords, "sift", dense=True)
"""Bag of visual words over dense SIFT (registry name ``sift_bovw``)."""

make_rootsift_bovw = partial(BagOfVisualWords, "rootsift", dense=True)
"""Bag of visual words over dense RootSIFT (registry name ``rootsift_bovw``)."""

make_orb_bovw = partial(BagOfVisualWords, "orb", dense=True)
"""Bag of visual words over dense ORB bits (registry name ``orb_bovw``).

Dense ORB keypoints stay 16 pixels from the border: images 32 pixels
a side or smaller give zero histograms; use larger images.
"""
