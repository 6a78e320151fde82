"""Encodings of dense local descriptors: spatial-pyramid bags of words and Fisher vectors.

Both are scikit-learn transformers over images. ``fit`` describes a seeded
sample of the training images with :class:`~cvtoolkit.features.dense.DenseSIFT`
and learns the vocabulary from their descriptors only (k-means words, or PCA
and a diagonal Gaussian mixture), so inside a pipeline a fold or a learning
curve point never sees its test images; ``transform`` describes each image and
pools its descriptors over the cells of a spatial pyramid.

- :class:`SpatialPyramidBoW`: hard-assigned visual words counted in the cells
  of 1x1, 2x2 and 4x4 grids, weighted as in Lazebnik et al. (level ``l`` of
  ``L``: ``1 / 2^L`` for ``l = 0``, ``1 / 2^(L - l + 1)`` otherwise) and
  L1-normalised, so a histogram-intersection or chi-squared kernel on it is
  their pyramid match kernel. Feed it to ``chi2_svm`` (an explicit chi-squared
  feature map and a linear SVM).
- :class:`FisherVectors`: the gradient of the descriptors' log-likelihood under
  the mixture, with respect to its means and variances ("improved" Fisher
  vectors: signed square root and L2 normalisation per pyramid cell), for
  linear classifiers (``ridge``, ``logreg``).

References
----------
.. [1] S. Lazebnik, C. Schmid and J. Ponce, "Beyond bags of features: spatial
   pyramid matching for recognizing natural scene categories", CVPR 2006.
.. [2] F. Perronnin, J. Sanchez and T. Mensink, "Improving the Fisher kernel for
   large-scale image classification", ECCV 2010.
.. [3] K. Chatfield, V. Lempitsky, A. Vedaldi and A. Zisserman, "The devil is in
   the details: an evaluation of recent feature encoding methods", BMVC 2011.

Examples
--------
>>> import numpy as np
>>> from cvtoolkit.features.encoding import SpatialPyramidBoW
>>> images = np.random.default_rng(0).integers(0, 256, (6, 48, 48, 3), dtype=np.uint8)
>>> spm = SpatialPyramidBoW(n_words=8, pyramid=(1, 2), patch_sizes=(16,), step=8).fit(images)
>>> spm.transform(images).shape
(6, 40)
"""

from __future__ import annotations

import logging
import math
from numbers import Integral
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .base import as_image_batch, map_images
from .dense import COLOR_CHANNELS, DenseSIFT, root_sift

__all__ = ["SpatialPyramidBoW", "FisherVectors", "fisher_vector", "pyramid_cells", "pyramid_weights"]

logger = logging.getLogger(__name__)


def pyramid_cells(positions: np.ndarray, pyramid: Sequence[int]) -> np.ndarray:
    """The cell of every pyramid level each descriptor falls in, numbered across levels.

    Parameters
    ----------
    positions : ndarray of shape (K, 2)
        ``(x, y)`` in ``[0, 1)`` (see :meth:`DenseSIFT.describe`).
    pyramid : sequence of int
        Grid sides, e.g. ``(1, 2, 4)``: a 1x1, a 2x2 and a 4x4 grid (21 cells).

    Returns
    -------
    ndarray of shape (K, len(pyramid)), int64
        Column ``l`` holds the cell of level ``l``: cells of level ``l`` are
        numbered after those of the levels before it, row by row.

    Examples
    --------
    >>> pyramid_cells(np.array([[0.1, 0.1], [0.9, 0.6]]), (1, 2)).tolist()
    [[0, 1], [0, 4]]
    """
    positions = np.asarray(positions, np.float64).reshape(-1, 2)
    columns, offset = [], 0
    for side in pyramid:
        cx = np.minimum((positions[:, 0] * side).astype(np.int64), side - 1)
        cy = np.minimum((positions[:, 1] * side).astype(np.int64), side - 1)
        columns.append(offset + cy * side + cx)
        offset += side * side
    return np.stack(columns, axis=1) if columns else np.zeros((len(positions), 0), np.int64)


def pyramid_weights(pyramid: Sequence[int]) -> np.ndarray:
    """Lazebnik et al.'s weight of each level (the coarsest first), for grids that double.

    Level 0 (the whole image) weighs ``1 / 2^L``, level ``l >= 1`` weighs
    ``1 / 2^(L - l + 1)``, with ``L = len(pyramid) - 1``.

    Examples
    --------
    >>> pyramid_weights((1, 2, 4)).tolist()
    [0.25, 0.25, 0.5]
    >>> pyramid_weights((1,)).tolist()
    [1.0]
    """
    top = len(pyramid) - 1
    return np.array([1.0 / 2 ** top if level == 0 else 1.0 / 2 ** (top - level + 1)
                     for level in range(len(pyramid))])


def fisher_vector(x: np.ndarray, weights: np.ndarray, means: np.ndarray, variances: np.ndarray, *,
                  improved: bool = True) -> np.ndarray:
    """The Fisher vector of descriptors ``x`` under a diagonal Gaussian mixture.

    With posteriors ``g_ik`` of component ``k`` for descriptor ``i`` and
    ``u_ik = (x_i - m_k) / s_k``:

    - ``G_mu_k = sum_i g_ik u_ik / (N sqrt(w_k))``
    - ``G_sigma_k = sum_i g_ik (u_ik^2 - 1) / (N sqrt(2 w_k))``

    concatenated as ``[G_mu_1 .. G_mu_K, G_sigma_1 .. G_sigma_K]`` (``2 K D``
    values). ``improved`` applies the signed square root and L2 normalisation.
    No descriptors give a zero vector.

    Parameters
    ----------
    x : ndarray of shape (N, D)
    weights : ndarray of shape (K,)
    means, variances : ndarray of shape (K, D)
    improved : bool, default=True

    Examples
    --------
    One component, one dimension, unit variance: ``G_mu`` is the mean of ``x``
    and ``G_sigma`` the mean of ``(x^2 - 1) / sqrt 2``.

    >>> fisher_vector(np.array([[1.0], [3.0]]), np.array([1.0]), np.zeros((1, 1)), np.ones((1, 1)),
    ...               improved=False).astype(float).round(4).tolist()
    [2.0, 2.8284]
    """
    x = np.asarray(x, np.float64)
    means = np.asarray(means, np.float64)
    variances = np.asarray(variances, np.float64)
    weights = np.asarray(weights, np.float64)
    k, d = means.shape
    if len(x) == 0:
        return np.zeros(2 * k * d, np.float32)
    gamma = _posteriors(x, weights, means, variances)
    return _fisher_from_posteriors(x, gamma, weights, means, variances, improved=improved)


def _posteriors(x: np.ndarray, weights: np.ndarray, means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """``(N, K)`` posteriors of the diagonal mixture components (log-sum-exp stable)."""
    precision = 1.0 / variances
    log_prob = (-0.5 * ((x * x) @ precision.T - 2.0 * x @ (means * precision).T
                        + (means * means * precision).sum(axis=1))
                - 0.5 * np.log(variances).sum(axis=1) + np.log(weights))
    log_prob -= log_prob.max(axis=1, keepdims=True)
    gamma = np.exp(log_prob)
    gamma /= gamma.sum(axis=1, keepdims=True)
    return gamma


def _fisher_from_posteriors(x, gamma, weights, means, variances, *, improved: bool) -> np.ndarray:
    n = len(x)
    s0 = gamma.sum(axis=0)                       # (K,)
    s1 = gamma.T @ x                             # (K, D)
    s2 = gamma.T @ (x * x)                       # (K, D)
    sigma = np.sqrt(variances)
    g_mu = (s1 - means * s0[:, None]) / sigma / (n * np.sqrt(weights)[:, None])
    g_sigma = ((s2 - 2.0 * means * s1 + means * means * s0[:, None]) / variances - s0[:, None]) / (
        n * np.sqrt(2.0 * weights)[:, None])
    fv = np.concatenate([g_mu.ravel(), g_sigma.ravel()])
    if improved:
        fv = np.sign(fv) * np.sqrt(np.abs(fv))
        norm = np.linalg.norm(fv)
        if norm > 0:
            fv /= norm
    return fv.astype(np.float32)


TINY = 1e-12
"""Fisher-vector values below this (in a unit-length row) are set to 0."""

_DENSE_CONSTRAINTS: dict = {
    "patch_sizes": [tuple, list],
    "step": [Interval(Integral, 1, None, closed="left")],
    "max_side": [Interval(Integral, 16, None, closed="left"), None],
    "color": [StrOptions(set(COLOR_CHANNELS))],
    "root": ["boolean"],
    "pyramid": [tuple, list],
    "sample_images": [Interval(Integral, 1, None, closed="left")],
    "sample_descriptors": [Interval(Integral, 1, None, closed="left")],
    "random_state": ["random_state"],
    "n_jobs": [Integral, None],
    "progress": ["boolean", None],
}


class _DenseEncoder(TransformerMixin, BaseEstimator):
    """What both encodings share: describing, sampling, the pyramid, threads.

    A subclass implements ``_learn(sample)`` (float descriptors of the
    training sample), ``_encode(x, cells)`` (one image's float descriptors and
    pyramid cells to its row) and ``_width()``.
    """

    _parameter_constraints: dict = dict(_DENSE_CONSTRAINTS)

    # -- helpers -----------------------------------------------------------

    def _dense(self) -> DenseSIFT:
        return DenseSIFT(self.patch_sizes, self.step, max_side=self.max_side, color=self.color)

    def _check(self) -> None:
        self._dense().check()
        if not self.pyramid or not all(isinstance(s, Integral) and 1 <= s <= 16 for s in self.pyramid):
            raise ValueError(f"pyramid={self.pyramid!r}: expected grid sides from 1 to 16, e.g. (1, 2, 4)")

    def _float(self, descriptors: np.ndarray) -> np.ndarray:
        channels = COLOR_CHANNELS[self.color]
        if self.root:
            return root_sift(descriptors, channels=channels)
        return descriptors.astype(np.float32) / 255.0

    def _map(self, function: Callable[[int, np.ndarray], Any], images: Sequence[np.ndarray], what: str) -> list:
        """``function(index, image)`` for every image, in threads (:func:`~cvtoolkit.features.base.map_images`)."""
        return map_images(function, images, n_jobs=self.n_jobs, progress=self.progress, what=what)

    def _sample(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Float descriptors of a seeded sample of images (at most ``sample_descriptors`` rows)."""
        rng = check_random_state(self.random_state)
        n = len(images)
        chosen = np.sort(rng.choice(n, min(n, self.sample_images), replace=False))
        per_image = max(1, math.ceil(self.sample_descriptors / len(chosen)))
        seed = int(rng.randint(2**31 - 1))
        dense = self._dense()

        def sample_one(i: int, image: np.ndarray) -> np.ndarray:
            descriptors, _ = dense.describe(image)
            if len(descriptors) > per_image:
                keep = np.random.default_rng([seed, i]).choice(len(descriptors), per_image, replace=False)
                descriptors = descriptors[np.sort(keep)]
            return descriptors

        parts = self._map(sample_one, [images[i] for i in chosen], "dense descriptors (vocabulary)")
        descriptors = np.concatenate(parts) if parts else np.zeros((0, dense.n_values), np.uint8)
        return self._float(descriptors)

    # -- scikit-learn protocol ---------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> "_DenseEncoder":
        """Learn the vocabulary from a seeded sample of the training images' descriptors.

        Parameters
        ----------
        X : ndarray of shape (N, H, W, 3) or (N, H, W), or list of images
            ``uint8`` training images; sizes may vary in a list.
        y : ignored

        Returns
        -------
        self
        """
        self._check()
        images = as_image_batch(X)
        if len(images) == 0:
            raise ValueError(f"cannot fit {type(self).__name__} on 0 images.")
        sample = self._sample(images)
        if len(sample) < self._min_sample():
            raise ValueError(
                f"found only {len(sample)} dense descriptors in {len(images)} images; need at least "
                f"{self._min_sample()} to learn the vocabulary. Use larger images (patches of "
                f"{min(self.patch_sizes)} px or more must fit), a smaller step, or a smaller vocabulary.")
        logger.info("%s: learning the vocabulary from %d descriptors of %d values", type(self).__name__,
                    len(sample), sample.shape[1])
        self._learn(sample)
        self.n_descriptors_fit_ = int(len(sample))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Describe every image and pool its descriptors: ``(N, width)`` ``float32``.

        Parameters
        ----------
        X : ndarray of shape (N, H, W, 3) or (N, H, W), or list of images

        Returns
        -------
        ndarray of shape (N, n_features_out)
            Images too small for any patch give a zero row.
        """
        check_is_fitted(self, "n_descriptors_fit_")
        self._validate_params()
        self._check()
        images = as_image_batch(X)
        dense = self._dense()
        def encode_one(i: int, image: np.ndarray) -> np.ndarray:
            descriptors, positions = dense.describe(image)
            if len(descriptors) == 0:
                return np.zeros(self._width(), np.float32)
            return self._encode(self._float(descriptors), pyramid_cells(positions, self.pyramid))

        rows = self._map(encode_one, images, f"{type(self).__name__} encoding")
        return np.vstack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, self._width()), np.float32)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """One name per output value."""
        check_is_fitted(self, "n_descriptors_fit_")
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self._width())], dtype=object)

    def _n_cells(self) -> int:
        return int(sum(s * s for s in self.pyramid))


class SpatialPyramidBoW(_DenseEncoder):
    """Dense SIFT words counted over a spatial pyramid (Lazebnik et al. 2006).

    Parameters
    ----------
    n_words : int, default=400
        Vocabulary size (k-means on a sample of training descriptors).
    pyramid : tuple of int, default=(1, 2, 4)
        Grid sides of the pyramid levels (the paper's 1x1, 2x2, 4x4).
    patch_sizes : tuple of int, default=(16,)
        Patch widths in pixels (the paper: 16x16 patches every 8 px).
    step : int, default=8
        Pixels between patch centres.
    max_side : int or None, default=300
        Longer side images are shrunk to before describing.
    color : {"grey", "opponent", "hsv"}, default="grey"
        Channels described.
    root : bool, default=True
        RootSIFT (square root of L1-normalised SIFT) instead of SIFT.
    sample_images : int, default=400
        Training images (a seeded sample) whose descriptors learn the words.
    sample_descriptors : int, default=100000
        Descriptors, spread evenly over those images, that k-means sees.
    random_state : int or None, default=42
    n_jobs : int or None, default=None
        Threads describing images; ``-1`` = all cores.
    progress : bool or None, default=None
        tqdm bar on stderr (None: big jobs on a terminal only).

    Attributes
    ----------
    codebook_ : ndarray of shape (n_words, 128 * channels)
        The visual words.
    n_descriptors_fit_ : int
        Descriptors the words were learned from.

    Examples
    --------
    >>> import numpy as np
    >>> images = np.random.default_rng(1).integers(0, 256, (4, 40, 40, 3), dtype=np.uint8)
    >>> rows = SpatialPyramidBoW(n_words=4, pyramid=(1, 2), patch_sizes=(16,)).fit_transform(images)
    >>> rows.shape, bool(np.allclose(rows.sum(axis=1), 1.0))
    ((4, 20), True)
    """

    _parameter_constraints: dict = {**_DENSE_CONSTRAINTS, "n_words": [Interval(Integral, 2, None, closed="left")]}

    def __init__(self, n_words: int = 400, *, pyramid: Sequence[int] = (1, 2, 4),
                 patch_sizes: Sequence[int] = (16,), step: int = 8, max_side: int | None = 300,
                 color: str = "grey", root: bool = True, sample_images: int = 400,
                 sample_descriptors: int = 100000, random_state: int | None = 42, n_jobs: int | None = None,
                 progress: bool | None = None):
        self.n_words = n_words
        self.pyramid = pyramid
        self.patch_sizes = patch_sizes
        self.step = step
        self.max_side = max_side
        self.color = color
        self.root = root
        self.sample_images = sample_images
        self.sample_descriptors = sample_descriptors
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    def _min_sample(self) -> int:
        return self.n_words

    def _learn(self, sample: np.ndarray) -> None:
        from sklearn.cluster import MiniBatchKMeans

        kmeans = MiniBatchKMeans(n_clusters=self.n_words, batch_size=4096, n_init=3, max_iter=200,
                                 random_state=self.random_state).fit(sample)
        self.codebook_ = kmeans.cluster_centers_.astype(np.float32)
        self.level_weights_ = pyramid_weights(self.pyramid).astype(np.float32)

    def _width(self) -> int:
        return self._n_cells() * self.n_words

    def _encode(self, x: np.ndarray, cells: np.ndarray) -> np.ndarray:
        centers = self.codebook_
        words = np.argmin((centers * centers).sum(axis=1) - 2.0 * (x @ centers.T), axis=1)
        n_cells = self._n_cells()
        counts = np.bincount((cells * self.n_words + words[:, None]).ravel(),
                             minlength=n_cells * self.n_words).astype(np.float32)
        counts = counts.reshape(n_cells, self.n_words)
        level_of_cell = np.repeat(np.arange(len(self.pyramid)), [s * s for s in self.pyramid])
        counts *= self.level_weights_[level_of_cell][:, None]
        total = counts.sum()
        return (counts.ravel() / total) if total > 0 else counts.ravel()


class FisherVectors(_DenseEncoder):
    """Improved Fisher vectors of dense (Root)SIFT over a spatial pyramid (Perronnin et al. 2010).

    Descriptors are PCA-reduced to ``n_dims`` values (fitted on the training
    sample), described by a diagonal Gaussian mixture of ``n_components``
    components, and each pyramid cell gives a Fisher vector (``2 *
    n_components * n_dims`` values, signed square root and L2 normalised);
    the cells are concatenated and the whole row scaled to unit length.

    Parameters
    ----------
    n_components : int, default=64
        Gaussians in the mixture.
    n_dims : int, default=64
        PCA dimensions of each descriptor.
    pyramid : tuple of int, default=(1, 2)
        Grid sides of the pyramid levels.
    patch_sizes : tuple of int, default=(16, 24, 32)
        Patch widths in pixels (multi-scale, as Chatfield et al.).
    step : int, default=8
    max_side : int or None, default=300
    color : {"grey", "opponent", "hsv"}, default="grey"
    root : bool, default=True
    sample_images : int, default=400
    sample_descriptors : int, default=100000
    random_state : int or None, default=42
    n_jobs : int or None, default=None
    progress : bool or None, default=None
        As in :class:`SpatialPyramidBoW`.

    Attributes
    ----------
    pca_mean_, pca_components_ : ndarray
        The projection ``(x - pca_mean_) @ pca_components_.T``.
    weights_, means_, variances_ : ndarray
        The mixture.
    n_descriptors_fit_ : int

    Examples
    --------
    >>> import numpy as np
    >>> images = np.random.default_rng(2).integers(0, 256, (4, 40, 40, 3), dtype=np.uint8)
    >>> fv = FisherVectors(n_components=2, n_dims=4, pyramid=(1,), patch_sizes=(16,)).fit(images)
    >>> rows = fv.transform(images)
    >>> rows.shape, bool(np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5))
    ((4, 16), True)
    """

    _parameter_constraints: dict = {
        **_DENSE_CONSTRAINTS,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "n_dims": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_components: int = 64, n_dims: int = 64, *, pyramid: Sequence[int] = (1, 2),
                 patch_sizes: Sequence[int] = (16, 24, 32), step: int = 8, max_side: int | None = 300,
                 color: str = "grey", root: bool = True, sample_images: int = 400,
                 sample_descriptors: int = 100000, random_state: int | None = 42, n_jobs: int | None = None,
                 progress: bool | None = None):
        self.n_components = n_components
        self.n_dims = n_dims
        self.pyramid = pyramid
        self.patch_sizes = patch_sizes
        self.step = step
        self.max_side = max_side
        self.color = color
        self.root = root
        self.sample_images = sample_images
        self.sample_descriptors = sample_descriptors
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    def _min_sample(self) -> int:
        return max(self.n_components * 2, self.n_dims + 1)

    def _learn(self, sample: np.ndarray) -> None:
        from sklearn.decomposition import PCA
        from sklearn.mixture import GaussianMixture

        n_dims = min(self.n_dims, sample.shape[1])
        pca = PCA(n_components=n_dims, random_state=self.random_state).fit(sample)
        self.pca_mean_ = pca.mean_.astype(np.float32)
        self.pca_components_ = pca.components_.astype(np.float32)
        projected = (sample - self.pca_mean_) @ self.pca_components_.T
        gmm = GaussianMixture(n_components=self.n_components, covariance_type="diag", reg_covar=1e-4,
                              max_iter=100, init_params="k-means++", random_state=self.random_state)
        gmm.fit(projected)
        self.weights_ = gmm.weights_.astype(np.float64)
        self.means_ = gmm.means_.astype(np.float64)
        self.variances_ = gmm.covariances_.astype(np.float64)

    def _width(self) -> int:
        return self._n_cells() * 2 * self.n_components * self.pca_components_.shape[0]

    def _encode(self, x: np.ndarray, cells: np.ndarray) -> np.ndarray:
        projected = ((x - self.pca_mean_) @ self.pca_components_.T).astype(np.float64)
        gamma = _posteriors(projected, self.weights_, self.means_, self.variances_)
        per_cell = 2 * self.n_components * self.pca_components_.shape[0]
        out = np.zeros((self._n_cells(), per_cell), np.float32)
        for level in range(cells.shape[1]):
            column = cells[:, level]
            for cell in np.unique(column):
                inside = column == cell
                out[cell] = _fisher_from_posteriors(projected[inside], gamma[inside], self.weights_, self.means_,
                                                    self.variances_, improved=True)
        row = out.ravel()
        norm = np.linalg.norm(row)
        if norm > 0:
            row /= norm
        # Components no descriptor is near give values far below float32's precision (down to denormals,
        # 1e-45): they carry nothing, and a StandardScaler would divide by their ~1e-46 spread.
        row[np.abs(row) < TINY] = 0.0
        return row
