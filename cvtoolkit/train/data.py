"""Batch sources for ``model.fit``: in-memory arrays and streamed image folders.

Both are ``keras.utils.PyDataset`` subclasses, the portable way to feed
Keras on every backend (TensorFlow, JAX, PyTorch). Set ``workers`` to fetch
several batches at once in threads (OpenCV decodes without holding the GIL)
and ``max_queue_size`` for how many finished batches wait ahead of the model.

- :class:`ArrayBatches`: ``uint8`` images in memory, scaled to ``float32``
  one batch at a time (4x less memory than converting the whole array).
- :class:`FolderBatches`: a class-per-folder dataset decoded and resized
  batch by batch (``cvtoolkit.data.read_image``), so a folder far larger
  than memory trains with a bounded footprint.

HDF5 stores have their own source, :class:`cvtoolkit.train.HDF5Batches`.

Examples
--------
>>> import numpy as np
>>> batches = ArrayBatches(np.zeros((10, 4, 4, 3), np.uint8), np.arange(10) % 2, batch_size=4)
>>> len(batches), batches[0][0].dtype.name, batches[2][0].shape
(3, 'float32', (2, 4, 4, 3))
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Callable, Sequence

import keras
import numpy as np

from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS
from cvtoolkit.errors import DatasetError

logger = logging.getLogger(__name__)


def default_workers() -> int:
    """Threads for batch loading: the CPU count, at most 8.

    Examples
    --------
    >>> 1 <= default_workers() <= 8
    True
    """
    return max(1, min(8, os.cpu_count() or 1))


def _scaled(x: np.ndarray, scale: float | None) -> np.ndarray:
    if scale is None:
        return x if x.dtype == np.float32 or not np.issubdtype(x.dtype, np.floating) else x.astype(np.float32)
    out = x.astype(np.float32)
    out *= np.float32(scale)
    return out


_MAX_REPLACEMENTS = 20
"""Random draws tried to replace an unreadable file in a streamed batch."""


class ArrayBatches(keras.utils.PyDataset):
    """Batches ``(x, y)`` from arrays in memory, scaled per batch.

    Parameters
    ----------
    x : ndarray
        ``(N, ...)`` samples (typically ``uint8`` images).
    y : ndarray
        ``(N,)`` integer labels.
    batch_size : int
    shuffle : bool
        New random order every epoch.
    scale : float or None
        Multiply ``x`` by this (as ``float32``); ``None`` leaves it.
    seed : int, optional
        Seed of the shuffling.
    workers, use_multiprocessing, max_queue_size
        Passed to ``keras.utils.PyDataset``.

    Examples
    --------
    >>> import numpy as np
    >>> b = ArrayBatches(np.full((3, 2, 2, 1), 255, np.uint8), [0, 1, 0], batch_size=2, shuffle=False)
    >>> float(b[0][0].max()), b[1][1].tolist()
    (1.0, [0])
    """

    def __init__(
        self,
        x: np.ndarray,
        y: Any,
        batch_size: int = 32,
        *,
        shuffle: bool = True,
        scale: float | None = 1.0 / 255.0,
        seed: int | None = None,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
    ) -> None:
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        self.x = x
        self.y = np.asarray(y)
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} samples but y has {len(self.y)}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.scale = scale
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(len(self.y)) if self.shuffle else np.arange(len(self.y))

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        if not self.shuffle:
            return _scaled(self.x[rows[0] : rows[-1] + 1], self.scale), self.y[rows[0] : rows[-1] + 1]
        return _scaled(self.x[rows], self.scale), self.y[rows]

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._order = self._rng.permutation(len(self.y))


class FolderBatches(keras.utils.PyDataset):
    """Stream a class-per-folder dataset (``root/<class>/<image>``) batch by batch.

    The folder is listed once (no decoding); each batch is decoded with
    :func:`cvtoolkit.data.read_image` and resized to ``image_size``. Files
    that cannot be decoded are logged once, listed in :attr:`skipped` and
    replaced in their batch by another (random) file, so batches keep their
    size.

    Parameters
    ----------
    root : path-like or FolderListing
        The dataset folder (or a listing from
        :func:`cvtoolkit.data.folder.list_image_folder`).
    batch_size : int
    image_size : int or (height, width)
        Every image is resized to this (aspect ratio ignored, as in
        ``load_dataset(image_size=...)``).
    shuffle : bool
        New random order every epoch.
    scale : float or None
        Multiply pixels by this (``1/255``: ``float32`` in ``[0, 1]``);
        ``None`` returns ``uint8``.
    indices : array-like of int, optional
        The listed files to use (a train or validation split).
    preprocessors : list of callable, optional
        ``image -> image`` functions applied after the resize.
    seed : int, optional
        Seed of the shuffling.
    workers : int, optional
        Batches decoded in parallel (threads); default :func:`default_workers`.
    max_pixels : int or None
        Files of more than this many pixels (width x height) are skipped
        like unreadable ones, as decompression bombs; None: no limit.
    use_multiprocessing, max_queue_size
        Passed to ``keras.utils.PyDataset`` (``max_queue_size`` is the
        prefetch depth).

    Attributes
    ----------
    class_names : list of str
    paths : list of str
        Files used, in :attr:`labels` order.
    labels : ndarray
    skipped : list of SkippedFile
        Files dropped so far (unreadable, or not images at listing time).

    Raises
    ------
    DatasetError
        The folder has no class folders or images, or (almost) none can be decoded.

    Examples
    --------
    >>> import numpy as np, cv2, tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for cls in ("cat", "dog"):
    ...     (root / cls).mkdir()
    ...     for i in range(3):
    ...         _ = cv2.imwrite(str(root / cls / f"{i}.png"), np.zeros((9, 7, 3), np.uint8))
    >>> batches = FolderBatches(root, batch_size=4, image_size=8, workers=1)
    >>> len(batches), batches[0][0].shape, batches.class_names
    (2, (4, 8, 8, 3), ['cat', 'dog'])
    """

    def __init__(
        self,
        root: Any,
        batch_size: int = 32,
        *,
        image_size: int | tuple[int, int],
        shuffle: bool = True,
        scale: float | None = 1.0 / 255.0,
        indices: Any = None,
        preprocessors: Sequence[Callable[[np.ndarray], np.ndarray]] | None = None,
        seed: int | None = None,
        workers: int | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
    ) -> None:
        super().__init__(
            workers=default_workers() if workers is None else int(workers),
            use_multiprocessing=use_multiprocessing,
            max_queue_size=max_queue_size,
        )
        from cvtoolkit.data.folder import FolderListing, list_image_folder
        from cvtoolkit.data.preprocessing import Resize

        listing = root if isinstance(root, FolderListing) else list_image_folder(root)
        if not listing.paths:
            raise DatasetError(f"{listing.root}: no images found; expected root/<class>/<image> files")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        idx = np.arange(len(listing.paths)) if indices is None else np.asarray(indices, np.int64).reshape(-1)
        if idx.size == 0:
            raise ValueError(f"no files selected from {listing.root} ({len(listing.paths)} listed)")
        self.root = str(listing.root)
        self.class_names = list(listing.class_names)
        self.paths = [listing.paths[i] for i in idx]
        self.labels = np.asarray(listing.labels)[idx].astype(np.int64)
        self.skipped = list(listing.skipped)
        self.batch_size = int(batch_size)
        self.image_size = image_size
        self.shuffle = bool(shuffle)
        self.scale = scale
        self.steps = [Resize(image_size), *(preprocessors or [])]
        self.max_pixels = max_pixels
        self._bad: set[int] = set()
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(len(self.paths)) if self.shuffle else np.arange(len(self.paths))

    def __len__(self) -> int:
        return math.ceil(len(self.paths) / self.batch_size)

    def _load(self, i: int) -> np.ndarray | None:
        from cvtoolkit.data.dataset import SkippedFile
        from cvtoolkit.data.image_io import UnreadableImageError, read_image

        if i in self._bad:
            return None
        try:
            image = read_image(self.paths[i], max_pixels=self.max_pixels)
            for step in self.steps:
                image = step(image)
            return image
        except (UnreadableImageError, ValueError, OSError) as err:
            self._bad.add(i)
            self.skipped.append(SkippedFile(self.paths[i], str(err)))
            logger.warning("skipped %s: %s", self.paths[i], err)
            return None

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        images, labels = [], []
        rng = None
        for i in rows:
            j = int(i)
            image = self._load(j)
            tries = 0
            while image is None and tries < _MAX_REPLACEMENTS:
                # Keep the batch full: an unreadable file is replaced by a random readable one.
                rng = rng or np.random.default_rng([index, len(self._bad)])
                j = int(rng.integers(len(self.paths)))
                image = self._load(j)
                tries += 1
            if image is None:
                raise DatasetError(f"{self.root}: {len(self._bad)} files could not be decoded and no readable "
                                   f"replacement was found (e.g. {self.paths[int(i)]}); check the files "
                                   "(see the warnings above)")
            images.append(image)
            labels.append(self.labels[j])
        x = np.stack(images)
        if self.scale is not None:
            x = _scaled(x, self.scale)
        return x, np.asarray(labels, np.int64)

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._order = self._rng.permutation(len(self.paths))

    def __repr__(self) -> str:
        return (f"FolderBatches({self.root!r}, batch_size={self.batch_size}, image_size={self.image_size!r}, "
                f"files={len(self.paths)}, batches={len(self)}, shuffle={self.shuffle})")
