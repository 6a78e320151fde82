"""Files: atomic writes and the HDF5 store (no Keras here).

- :func:`atomic_path` and the ``write_*_atomic`` helpers: every file the
  toolkit writes appears at its final name only once complete.
- :class:`HDF5Writer`: streams images or feature vectors into one HDF5 store
  (chunked, atomic, resumable after a crash); :func:`write_store` writes a
  whole :class:`~cvtoolkit.data.dataset.Dataset`; :func:`pack_image_files`
  streams image files into a store, one chunk in memory at a time.
- :func:`read_store`, :func:`store_info`, :func:`is_store`: read a store back;
  :func:`open_store` and :func:`read_rows` stream rows from it.

The Keras batch source over a store is :class:`cvtoolkit.train.HDF5Batches`
(``cvtoolkit.io.HDF5Batches``, its old home, raises an ``AttributeError``
naming the new one: ``io`` is a floor below ``train`` and imports nothing
from it).

Only :mod:`cvtoolkit.io.atomic` is imported eagerly; the HDF5 parts
load on first use, so ``from cvtoolkit.io import atomic_path`` stays cheap.

Examples
--------
>>> import os, tempfile, numpy as np
>>> from cvtoolkit.io import HDF5Writer, read_store
>>> path = os.path.join(tempfile.mkdtemp(), "tiny.h5")
>>> with HDF5Writer(path, kind="images", sample_shape=(4, 4, 3), dtype="uint8",
...                 class_names=["cat", "dog"]) as writer:
...     writer.add(np.zeros((3, 4, 4, 3), np.uint8), [0, 1, 0])
>>> ds = read_store(path)
>>> len(ds), ds.class_names
(3, ['cat', 'dog'])
"""

from __future__ import annotations

from cvtoolkit._lazy import lazy_attributes

from cvtoolkit.io.atomic import (
    TEMP_MARKER,
    atomic_path,
    save_figure_atomic,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)

_LAZY = {
    "HDF5Writer": "cvtoolkit.io.hdf5_writer",
    "write_store": "cvtoolkit.io.hdf5_writer",
    "pack_image_files": "cvtoolkit.io.pack",
    "FORMAT_VERSION": "cvtoolkit.io.hdf5_format",
    "PARTIAL_SUFFIX": "cvtoolkit.io.hdf5_format",
    "read_store": "cvtoolkit.io.hdf5_reader",
    "store_info": "cvtoolkit.io.hdf5_reader",
    "is_store": "cvtoolkit.io.hdf5_reader",
    "open_store": "cvtoolkit.io.hdf5_reader",
    "read_rows": "cvtoolkit.io.hdf5_reader",
    "read_committed": "cvtoolkit.io.hdf5_reader",
}

__all__ = [
    "TEMP_MARKER",
    "atomic_path",
    "save_figure_atomic",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
    *_LAZY,
]


_lazy_getattr, __dir__ = lazy_attributes(__name__, _LAZY)


def __getattr__(name: str):
    if name == "HDF5Batches":  # its old home: say where it went (io does not import train, a floor above)
        raise AttributeError("cvtoolkit.io.HDF5Batches moved to cvtoolkit.train.HDF5Batches: "
                             "use from cvtoolkit.train import HDF5Batches")
    return _lazy_getattr(name)
