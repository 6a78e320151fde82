"""Feed a cvtoolkit HDF5 store to ``model.fit`` in batches, without loading it all.

:class:`HDF5Batches` is a finite ``keras.utils.PyDataset``: ``len()`` is the
number of batches, ``batches[i]`` is ``(x, y)``, and with ``shuffle=True``
the samples are drawn in a new random order every epoch. Rows are read from
the file on demand, each run of consecutive rows as one slice (h5py's fancy
indexing is much slower on chunked data); every process opens its own
read-only file handle, so ``use_multiprocessing=True`` is safe.

Examples
--------
>>> import os, tempfile, numpy as np
>>> from cvtoolkit.io import HDF5Writer
>>> from cvtoolkit.train import HDF5Batches
>>> path = os.path.join(tempfile.mkdtemp(), "images.h5")
>>> with HDF5Writer(path, kind="images", sample_shape=(8, 8, 3), dtype="uint8",
...                 class_names=["cat", "dog"]) as w:
...     w.add(np.zeros((10, 8, 8, 3), np.uint8), [0, 1] * 5)
>>> batches = HDF5Batches(path, batch_size=4, scale=1 / 255, one_hot=True, seed=0)
>>> len(batches)
3
>>> x, y = batches[0]
>>> x.shape, x.dtype.name, y.shape
((4, 8, 8, 3), 'float32', (4, 2))

Train a model on it::

    model.fit(HDF5Batches("images.h5", 32, indices=train_idx, scale=1 / 255),
              validation_data=HDF5Batches("images.h5", 64, indices=val_idx,
                                          shuffle=False, scale=1 / 255),
              epochs=10)
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import h5py
import keras
import numpy as np

from cvtoolkit.errors import StoreError
from cvtoolkit.io.hdf5_format import plain
from cvtoolkit.io.hdf5_reader import check_labels, open_store, read_rows

_COMPRESSED_CACHE_BYTES = 64 << 20
"""Chunk cache for compressed stores (a compressed chunk must be decoded whole)."""


class HDF5Batches(keras.utils.PyDataset):
    """Batches ``(x, y)`` read from a cvtoolkit store, for ``model.fit``/``predict``.

    Parameters
    ----------
    path : path-like
        A finished store (images or features).
    batch_size : int
        Samples per batch (the last batch may be smaller).
    shuffle : bool
        Draw the samples in a new random order every epoch. With
        ``shuffle=False`` the batches follow ``indices`` (or row) order
        exactly, so predictions line up with :attr:`labels`.
    preprocessors : list of callable, optional
        Functions ``sample -> sample`` applied in turn to every sample
        (resize, augmentation, ...). Their outputs are stacked.
    indices : array-like of int or bool mask, optional
        The rows to use (a train or validation split); default all rows.
    one_hot : bool
        Return ``y`` one-hot (``float32``) instead of integer labels.
    num_classes : int, optional
        Width of the one-hot vectors; default the store's class count.
    scale : float, optional
        Multiply ``x`` by this and return ``float32`` (``1 / 255`` for
        pixels in ``[0, 1]``). Default: ``x`` keeps the stored dtype
        (``uint8`` images, ``float32`` features).
    seed : int, optional
        Seed of the shuffling.
    workers, use_multiprocessing, max_queue_size
        Passed to ``keras.utils.PyDataset``.

    Attributes
    ----------
    class_names : list of str
    kind : str
    n_rows : int
        Rows in the store.
    indices : ndarray
        Rows this source draws from.
    labels : ndarray
        Labels of ``indices``, in that order.

    Raises
    ------
    StoreError
        ``path`` is not a finished store.
    ValueError
        ``indices`` out of range, empty selection, bad ``batch_size``, or
        ``one_hot`` with unlabelled rows.

    Examples
    --------
    >>> # model.fit(HDF5Batches("out/animals.h5", 32, scale=1 / 255), epochs=5)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        batch_size: int = 32,
        *,
        shuffle: bool = True,
        preprocessors: Sequence[Callable[[np.ndarray], np.ndarray]] | None = None,
        indices: Any = None,
        one_hot: bool = False,
        num_classes: int | None = None,
        scale: float | None = None,
        seed: int | None = None,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
    ) -> None:
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.path = Path(path)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.preprocessors = list(preprocessors or [])
        self.one_hot = bool(one_hot)
        self.scale = scale
        self.seed = seed

        with open_store(self.path) as f:
            self.kind = str(plain(f.attrs["kind"]))
            self.class_names = [str(c) for c in f["class_names"].asstr()[...]]
            all_labels = f["labels"][...].astype(np.int64)
            check_labels(all_labels, self.class_names, self.path)
            self.n_rows = len(all_labels)
            self.sample_shape = tuple(int(s) for s in f["data"].shape[1:])
            self._compressed = f["data"].compression is not None

        self.indices = self._select(indices)
        if len(self.indices) == 0:
            raise ValueError(f"no rows selected from {self.path} ({self.n_rows} rows in the store)")
        self.labels = all_labels[self.indices]
        self.num_classes = int(num_classes) if num_classes is not None else len(self.class_names)
        if self.one_hot:
            if np.any(self.labels < 0):
                raise ValueError(
                    f"{self.path} has unlabelled rows (label -1) among the selected ones; "
                    "one_hot needs labels. Select labelled rows with indices=."
                )
            if np.any(self.labels >= self.num_classes):
                raise ValueError(f"num_classes={self.num_classes} but labels go up to {self.labels.max()}")
        self._all_labels = all_labels
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(self.indices) if self.shuffle else self.indices
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def _select(self, indices: Any) -> np.ndarray:
        if indices is None:
            return np.arange(self.n_rows, dtype=np.int64)
        idx = np.asarray(indices)
        if idx.dtype == np.bool_:
            if idx.shape != (self.n_rows,):
                raise ValueError(f"a boolean mask needs {self.n_rows} entries, got shape {idx.shape}")
            return np.flatnonzero(idx).astype(np.int64)
        if idx.size and idx.dtype.kind not in "iu":
            raise ValueError(f"indices must be integers or a boolean mask, got dtype {idx.dtype}")
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_rows):
            raise ValueError(
                f"indices must be in [0, {self.n_rows - 1}] for {self.path}; "
                f"got range [{idx.min()}, {idx.max()}]"
            )
        return idx

    # -- file handle: one per process, opened lazily ---------------------------
    def _data(self) -> h5py.Dataset:
        pid = os.getpid()
        if self._file is None or self._pid != pid:
            # A handle inherited through fork belongs to the parent: never use it.
            cache = {"rdcc_nbytes": _COMPRESSED_CACHE_BYTES if self._compressed else 0}
            try:
                self._file = h5py.File(self.path, "r", **cache)
            except OSError as err:
                raise StoreError(f"cannot open {self.path} for reading batches: {err}") from err
            self._pid = pid
        return self._file["data"]

    def close(self) -> None:
        """Close this process's file handle (reopened if used again)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None
        self._pid = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state

    # -- PyDataset protocol ----------------------------------------------------
    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.batch_size)

    def batch_indices(self, index: int) -> np.ndarray:
        """Store rows of batch ``index`` for the current epoch."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        return self._order[index * self.batch_size : (index + 1) * self.batch_size]

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.batch_indices(index)
        x = read_rows(self._data(), rows)  # sorted, run by run, then back in `rows` order
        if self.preprocessors:
            samples = []
            for sample in x:
                for fn in self.preprocessors:
                    sample = fn(sample)
                samples.append(np.asarray(sample))
            x = np.stack(samples)
        if self.scale is not None:
            x = x.astype(np.float32) * np.float32(self.scale)
        elif self.kind == "features" and x.dtype != np.float32:
            x = x.astype(np.float32)
        y = self._all_labels[rows]
        if self.one_hot:
            y = np.eye(self.num_classes, dtype=np.float32)[y]
        return x, y

    def on_epoch_end(self) -> None:
        """Draw a new sample order (when shuffling)."""
        if self.shuffle:
            self._order = self._rng.permutation(self.indices)

    def __repr__(self) -> str:
        return (
            f"HDF5Batches({str(self.path)!r}, batch_size={self.batch_size}, rows={len(self.indices)}, "
            f"batches={len(self)}, shuffle={self.shuffle})"
        )
