"""What every image descriptor shares: input handling, batching, parallelism.

A descriptor subclasses :class:`ImageTransformer` and implements
``_transform_batch(images)`` on a same-shaped ``uint8`` batch (already grey
or resized when the class asks for it) plus ``_n_features()`` from its
parameters. The base class then gives it:

- one input contract: a ``(N, H, W, 3)`` ``uint8`` RGB array, ``(N, H, W)``
  or ``(N, H, W, 1)`` grey, a list (or 1-D object array) of ``(H, W, 3)`` /
  ``(H, W)`` arrays of varying sizes, or a :class:`~cvtoolkit.data.Dataset`;
  float images are read as ``[0, 1]`` (scikit-image's convention);
- a fixed-width ``float32`` ``(N, D)`` output, in input order;
- chunked work in joblib processes (``n_jobs``), identical results for any
  ``n_jobs``, and a tqdm progress bar on stderr (``progress``);
- the scikit-learn protocol: parameters declared once in
  ``_parameter_constraints`` and checked by scikit-learn's own validation
  (``_validate_params``, ``_fit_context``), ``__init__`` stores keywords
  (keyword-only after the first one or two), ``fit`` returns ``self``,
  ``get_feature_names_out``.

Examples
--------
>>> import numpy as np
>>> batch = as_image_batch([np.zeros((5, 7, 3), np.uint8), np.zeros((4, 4), np.uint8)])
>>> [im.shape for im in batch]
[(5, 7, 3), (4, 4, 1)]
>>> to_gray(np.full((2, 3, 3, 3), 255, np.uint8)).shape
(2, 3, 3)
"""

from __future__ import annotations

import logging
import math
import os
import sys
from numbers import Integral
from typing import Any, Callable, Iterable, Sequence

import cv2
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval

from cvtoolkit.imageops import resize_batch, resize_image, size_hw, to_gray, to_rgb  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

MIN_CHUNK = 16
"""Smallest number of images one parallel task gets (process start-up and pickling cost)."""

MAX_CHUNK = 256
"""Largest number of images processed at once (bounds the vectorised temporaries)."""

PROGRESS_MIN_IMAGES = 500
"""``progress=None`` shows a bar only for at least this many images on a terminal."""


# --------------------------------------------------------------------------- input


def _as_uint8(image: np.ndarray, where: str) -> np.ndarray:
    """One image or batch as ``uint8`` by the one policy (:func:`cvtoolkit.imageops.to_uint8`); NaN is an error."""
    from cvtoolkit.imageops import to_uint8

    return to_uint8(image, where=where)


def _one_image(image: Any, index: int) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise ValueError(
            f"image {index} has shape {arr.shape}; expected (H, W, 3) RGB, (H, W, 1) or (H, W) grey"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image {index} is empty (shape {arr.shape}); every image needs at least one pixel")
    return _as_uint8(arr, f"image {index}")


def as_image_batch(X: Any) -> np.ndarray | list[np.ndarray]:
    """Normalise any accepted input to a batch of ``uint8`` images with a channel axis.

    Returns a ``(N, H, W, C)`` array (``C`` 1 or 3) when the input is one
    array, otherwise a list of ``(H, W, C)`` arrays.

    Raises
    ------
    ValueError
        A 2-D array (one image, or a table of numbers), images with 2 or 4
        channels, empty images, or NaN values.

    Examples
    --------
    >>> import numpy as np
    >>> as_image_batch(np.zeros((2, 4, 5), np.uint8)).shape
    (2, 4, 5, 1)
    """
    images = getattr(X, "images", None)
    if images is not None and getattr(X, "kind", "images") == "images":
        X = images
    elif images is not None:
        raise ValueError(
            "this dataset holds feature vectors (kind='features'), not images; "
            "descriptors need images. Load the image dataset instead."
        )
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim == 4:
            if X.shape[3] not in (1, 3):
                raise ValueError(
                    f"expected images with 1 or 3 channels (N, H, W, 3); got shape {X.shape}. "
                    "Drop the alpha channel or convert with cvtoolkit.data.to_rgb_uint8."
                )
            if len(X) and (X.shape[1] == 0 or X.shape[2] == 0):
                raise ValueError(f"images of shape {X.shape[1:]} are empty")
            return _as_uint8(X, "the image batch")
        if X.ndim == 3:
            if len(X) and (X.shape[1] == 0 or X.shape[2] == 0):
                raise ValueError(f"images of shape {X.shape[1:]} are empty")
            return _as_uint8(X, "the image batch")[..., None]
        raise ValueError(
            f"expected a batch of images (N, H, W, 3), (N, H, W) or a list of images; got an array of "
            f"shape {X.shape}. For one image pass image[None]; feature tables are not images."
        )
    if isinstance(X, (str, bytes)) or not isinstance(X, Iterable):
        raise ValueError(f"expected a batch of images (array or list of arrays); got {type(X).__name__}")
    return [_one_image(im, i) for i, im in enumerate(X)]


_COLOR_CODES = {"hsv": cv2.COLOR_RGB2HSV, "lab": cv2.COLOR_RGB2LAB}

COLOR_SPACES = ("rgb", "hsv", "lab")
"""Colour spaces descriptors accept. ``uint8`` ranges: RGB 0-255; HSV: H 0-179,
S and V 0-255 (OpenCV); Lab: L 0-255 (``L * 255 / 100``), a and b offset by 128."""

CHANNEL_RANGES = {"rgb": (256, 256, 256), "hsv": (180, 256, 256), "lab": (256, 256, 256)}
"""Exclusive upper bound of each ``uint8`` channel per colour space."""


def convert_color(images: np.ndarray, color_space: str) -> np.ndarray:
    """RGB (or grey) ``uint8`` ``(N, H, W, C)`` batch to ``color_space``, 3 channels."""
    rgb = to_rgb(images)
    if color_space == "rgb":
        return rgb
    n, h, w, _ = rgb.shape
    if n == 0:
        return rgb
    flat = np.ascontiguousarray(rgb).reshape(n * h, w, 3)
    return cv2.cvtColor(flat, _COLOR_CODES[color_space]).reshape(n, h, w, 3)


def pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair (``pixels_per_cell=8`` means ``(8, 8)``)."""
    return size_hw(value, name)


def group_by_shape(batch: np.ndarray | list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(indices, stacked_images), ...]`` with one entry per distinct image shape."""
    if isinstance(batch, np.ndarray):
        return [(np.arange(len(batch)), batch)]
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, im in enumerate(batch):
        groups.setdefault(im.shape, []).append(i)
    return [(np.asarray(idx), np.stack([batch[i] for i in idx])) for idx in groups.values()]


# --------------------------------------------------------------------------- running


def effective_n_jobs(n_jobs: int | None) -> int:
    """Worker processes for ``n_jobs`` (joblib's rules: None is 1, -1 all CPUs)."""
    from joblib import effective_n_jobs as _eff

    return max(1, int(_eff(n_jobs)))


def chunk_bounds(n: int, n_jobs: int, *, min_chunk: int = MIN_CHUNK, max_chunk: int = MAX_CHUNK) -> list[tuple[int, int]]:
    """Split ``range(n)`` into contiguous ``(start, stop)`` chunks.

    One process gets about four chunks (for balance), each between
    ``min_chunk`` and ``max_chunk`` images.

    Examples
    --------
    >>> chunk_bounds(10, 1)
    [(0, 10)]
    >>> chunk_bounds(100, 2, min_chunk=16)
    [(0, 16), (16, 32), (32, 48), (48, 64), (64, 80), (80, 96), (96, 100)]
    """
    if n <= 0:
        return []
    size = max_chunk if n_jobs <= 1 else min(max_chunk, max(min_chunk, math.ceil(n / (4 * n_jobs))))
    return [(s, min(n, s + size)) for s in range(0, n, size)]


def show_progress(progress: bool | None, n: int) -> bool:
    """Whether to draw a bar: ``progress`` if given, else only on a terminal for big jobs."""
    if progress is not None:
        return bool(progress)
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and n >= PROGRESS_MIN_IMAGES and not os.environ.get("CVTOOLKIT_NO_PROGRESS")


def map_images(function: Callable[[int, Any], Any], images: Sequence[Any], *, n_jobs: int | None,
               progress: bool | None, what: str) -> list:
    """``function(index, image)`` for every image, in order, in ``n_jobs`` threads.

    For per-image work that releases the GIL (OpenCV, NumPy's BLAS): the
    threads fill the cores, so BLAS runs one thread each. A tqdm bar on stderr
    as :func:`show_progress` decides.

    Examples
    --------
    >>> map_images(lambda i, im: i * im, [1, 2, 3], n_jobs=2, progress=False, what="x")
    [0, 2, 6]
    """
    from tqdm.auto import tqdm

    indexed = tqdm(enumerate(images), total=len(images), desc=what, unit="img", leave=False, file=sys.stderr,
                   disable=not show_progress(progress, len(images)))
    if n_jobs in (None, 1):
        return [function(i, image) for i, image in indexed]
    from joblib import Parallel, delayed
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return Parallel(n_jobs=n_jobs, prefer="threads")(delayed(function)(i, image) for i, image in indexed)


def run_chunked(
    func: Callable[[Any], np.ndarray],
    batch: np.ndarray | list[np.ndarray],
    *,
    n_jobs: int | None = None,
    progress: bool | None = None,
    desc: str = "features",
) -> list[np.ndarray]:
    """Apply ``func`` to contiguous chunks of ``batch`` (in joblib processes when ``n_jobs > 1``).

    Results come back in input order. ``func`` must be picklable (a bound
    method of an estimator is).
    """
    n = len(batch)
    jobs = effective_n_jobs(n_jobs)
    bounds = chunk_bounds(n, jobs)
    jobs = min(jobs, len(bounds))
    from tqdm.auto import tqdm

    bar = tqdm(total=n, desc=desc, unit="img", disable=not show_progress(progress, n), leave=False, file=sys.stderr)
    results: list[np.ndarray] = []
    try:
        if jobs <= 1:
            for s, e in bounds:
                results.append(func(batch[s:e]))
                bar.update(e - s)
        else:
            from joblib import Parallel, delayed

            parallel = Parallel(n_jobs=jobs, return_as="generator")
            outputs = parallel(delayed(func)(batch[s:e]) for s, e in bounds)
            for (s, e), out in zip(bounds, outputs):
                results.append(out)
                bar.update(e - s)
    finally:
        bar.close()
    return results


# --------------------------------------------------------------------------- base class


SIZE_CONSTRAINT = [Interval(Integral, 1, None, closed="left"), tuple, list]
"""scikit-learn constraint of an image size or a cell grid: an int (a square) or ``(height, width)``."""


class ImageTransformer(TransformerMixin, BaseEstimator):
    """Base class of the descriptors: a stateless scikit-learn transformer over images.

    Subclasses set the class attributes below, declare their parameters in
    ``_parameter_constraints`` (extending this class's), and implement
    :meth:`_n_features`, :meth:`_transform_batch` and optionally
    :meth:`_check_values` (checks across parameters), :meth:`_feature_names`.

    Attributes
    ----------
    _input : {"rgb", "gray", "any"}
        What :meth:`_transform_batch` receives: ``(n, H, W, 3)`` RGB (grey
        inputs repeated), ``(n, H, W)`` grey, or ``(n, H, W, C)`` as given.
    _size_attr : str or None
        Name of a ``size`` parameter: when set (not None) every image is
        resized to it before :meth:`_transform_batch`.
    """

    _input = "rgb"
    _size_attr: str | None = None
    _prefix = "f"

    _parameter_constraints: dict = {
        "n_jobs": [Integral, None],
        "progress": ["boolean", None],
    }

    # ---- to implement
    def _n_features(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform_batch(self, images: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_params(self) -> None:
        """Raise ValueError for invalid parameters (called by transform; ``fit`` validates through ``_fit_context``).

        scikit-learn's ``_validate_params`` checks each parameter against
        ``_parameter_constraints``; :meth:`_check_values` then checks what
        one constraint cannot say.
        """
        self._validate_params()
        self._check_values()

    def _check_values(self) -> None:
        """Raise ValueError for parameter values valid alone but unusable (override, calling super)."""
        if getattr(self, "n_jobs", None) == 0:
            raise ValueError("n_jobs must be None, a positive int or -1; got 0")

    def _check_image_size(self, h: int, w: int) -> None:
        """Raise ValueError when an image of ``h`` x ``w`` is too small (after resizing)."""

    def _feature_names(self) -> list[str]:
        return [f"{self._prefix}{i}" for i in range(self._n_features())]

    # ---- scikit-learn protocol
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = []
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any = None, y: Any = None) -> "ImageTransformer":
        """Check the parameters; nothing is learned (returns ``self``).

        ``X`` is checked to be a batch of images when given.
        """
        self._check_values()
        if X is not None:
            as_image_batch(X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Describe each image: ``(N, D)`` ``float32``, ``D`` fixed by the parameters.

        Parameters
        ----------
        X : array or list of arrays
            ``(N, H, W, 3)`` ``uint8`` RGB, ``(N, H, W)`` / ``(N, H, W, 1)``
            grey, or a list of ``(H, W, 3)`` / ``(H, W)`` images of any sizes.

        Raises
        ------
        ValueError
            Invalid parameters, input that is not a batch of images, or an
            image too small for the descriptor.
        """
        self._check_params()
        batch = as_image_batch(X)
        d = self._n_features()
        if len(batch) == 0:
            return np.zeros((0, d), np.float32)
        from cvtoolkit.memory import check_memory

        # the output, and a chunk's working copy of it, as float32 (before any allocation)
        check_memory(4.0 * d * (len(batch) + min(len(batch), MAX_CHUNK)),
                     f"{type(self).__name__} gives {d} features per image; describing {len(batch)} images",
                     "Use smaller descriptor parameters (--set), or describe fewer images at a time.")
        parts = run_chunked(
            self._transform_chunk,
            batch,
            n_jobs=getattr(self, "n_jobs", None),
            progress=getattr(self, "progress", None),
            desc=type(self).__name__,
        )
        out = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return np.ascontiguousarray(out, dtype=np.float32)

    def _prepare(self, batch: np.ndarray | list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
        size = getattr(self, self._size_attr) if self._size_attr else None
        if size is not None:
            hw = size_hw(size, self._size_attr or "size")
            self._check_image_size(*hw)
            batch = resize_batch(batch, hw)
        return batch

    def _transform_chunk(self, batch: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """Features of one chunk (runs in a worker process when ``n_jobs > 1``)."""
        batch = self._prepare(batch)
        d = self._n_features()
        groups = group_by_shape(batch)
        out = None if len(groups) == 1 else np.empty((len(batch), d), np.float32)
        for idx, group in groups:
            self._check_image_size(group.shape[1], group.shape[2])
            if self._input == "gray":
                group = to_gray(group)
            elif self._input == "rgb":
                group = to_rgb(group)
            feats = self._transform_batch(group)
            if feats.shape != (len(idx), d):  # pragma: no cover - a bug in a subclass
                raise RuntimeError(f"{type(self).__name__} produced {feats.shape}, expected {(len(idx), d)}")
            if out is None:
                return np.asarray(feats, dtype=np.float32)
            out[idx] = feats
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns (``D`` strings, fixed by the parameters)."""
        self._check_params()
        return np.asarray(self._feature_names(), dtype=object)

    @property
    def n_features_out(self) -> int:
        """Width ``D`` of the output for the current parameters."""
        self._check_params()
        return self._n_features()
