"""One entry point from a dataset spec to a :class:`Dataset`.

A spec is one of:

- ``digits``: scikit-learn's bundled 8x8 digits (the offline default);
- a Keras dataset name: ``mnist``, ``fashion_mnist``, ``cifar10``;
- a class-per-folder directory (``root/<class>/<image>``), or any folder of
  images with ``label_pattern`` (labels from file names);
- an HDF5 store written by cvtoolkit (``.h5``/``.hdf5``: images or features);
- a ``.npz`` in Keras's layout (``x_train, y_train, x_test, y_test``);
- a pixel CSV (``label,pixel0..`` or ``emotion,pixels``).

Examples
--------
>>> ds = load_dataset("digits", image_size=16, progress=False)
>>> ds.images.shape
(1797, 16, 16, 1)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from cvtoolkit.data.arrays import KERAS_DATASETS, load_digits, load_keras_dataset, load_npz
from cvtoolkit.data.dataset import Dataset
from cvtoolkit.data.filename_labels import list_by_filename
from cvtoolkit.data.folder import list_image_folder, load_images
from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS
from cvtoolkit.data.pixel_csv import load_pixel_csv
from cvtoolkit.data.preprocessing import Resize
from cvtoolkit.errors import DatasetError
from cvtoolkit.imageops import size_hw

logger = logging.getLogger(__name__)

BUILTIN_DATASETS = ("digits",) + tuple(KERAS_DATASETS)
HDF5_SUFFIXES = (".h5", ".hdf5")


def resize_images(images: np.ndarray, image_size: int | tuple[int, int]) -> np.ndarray:
    """Resize a batch ``(N, H, W, C)`` to ``image_size``, keeping the channel count."""
    resize = Resize(image_size)
    if len(images) == 0:
        return images
    return np.stack([resize(im) for im in images])


def describe_spec(spec: str) -> str:
    """What kind of source a spec names (for messages and reports)."""
    path = Path(spec)
    if spec in BUILTIN_DATASETS and not path.exists():
        return "builtin"
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in HDF5_SUFFIXES:
        return "hdf5"
    if suffix == ".npz":
        return "npz"
    if suffix == ".csv":
        return "csv"
    return "unknown"


def _check_resize_memory(n: int, image_size: "int | tuple[int, int]", channels: int, spec: str) -> None:
    """Refuse an ``image_size`` whose resized images cannot fit in memory (before decoding any)."""
    from cvtoolkit.memory import check_memory

    h, w = size_hw(image_size, "image_size")
    # the stacked dataset, plus one image's decode/resize buffers
    check_memory(float(h) * w * channels * (max(n, 1) + 2),
                 f"{spec}: {n} images at --image-size {h if h == w else f'{h}x{w}'} ({h}x{w}x{channels} bytes each)",
                 "Use a smaller --image-size.")


def load_dataset(
    spec: str | os.PathLike,
    *,
    image_size: int | tuple[int, int] | None = None,
    label_pattern: str | None = None,
    n_jobs: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    progress: bool = True,
) -> Dataset:
    """Load any dataset spec into memory.

    Parameters
    ----------
    spec : str or path
        See the module docstring.
    image_size : int or (height, width), optional
        Resize every image to this size. Folder datasets without it keep each
        image's own size (an object array); array datasets keep theirs.
        Ignored for feature stores.
    label_pattern : str, optional
        For a flat folder: a regular expression whose first group, matched
        against each file name, is the class (e.g. ``'^(cat|dog)\\.'``).
    n_jobs : int, optional
        Decoding threads for folders.
    max_pixels : int or None
        Decompression-bomb limit per image.
    progress : bool
        tqdm progress bar while decoding.

    Raises
    ------
    DatasetError
        The spec names nothing loadable; the message says what was expected.
    """
    spec = str(spec)
    kind = describe_spec(spec)
    if kind == "builtin":
        ds = load_digits() if spec == "digits" else load_keras_dataset(spec)
    elif kind == "folder":
        listing = list_by_filename(spec, label_pattern) if label_pattern else list_image_folder(spec)
        if image_size is not None:
            _check_resize_memory(len(listing.paths), image_size, 3, spec)
        images, kept, skipped = load_images(
            listing.paths, image_size=image_size, n_jobs=n_jobs, max_pixels=max_pixels, progress=progress
        )
        ds = Dataset(
            images,
            listing.labels[kept],
            listing.class_names,
            paths=[listing.paths[i] for i in kept],
            source=spec,
            skipped=listing.skipped + skipped,
        )
        if getattr(listing, "empty_classes", None):
            ds.attrs["empty_classes"] = list(listing.empty_classes)
        if image_size is not None:
            ds.attrs["preprocessing"] = f"Resize({image_size})"
        return ds
    elif kind == "hdf5":
        from cvtoolkit.io import read_store

        ds = read_store(spec)
        if ds.kind == "features" or image_size is None:
            return ds
    elif kind == "npz":
        ds = load_npz(spec)
    elif kind == "csv":
        ds = load_pixel_csv(spec)
    else:
        if not Path(spec).exists():
            raise DatasetError(
                f"{spec}: no such file or folder, and not a dataset name ({', '.join(BUILTIN_DATASETS)}). "
                "Pass a class-per-folder directory, an .h5, .npz or .csv file, or a dataset name."
            )
        raise DatasetError(
            f"{spec}: unsupported file type; expected a folder, .h5/.hdf5, .npz or .csv."
        )
    if image_size is not None and ds.kind == "images" and ds.images.ndim == 4:
        if tuple(ds.images.shape[1:3]) != size_hw(image_size, "image_size"):
            _check_resize_memory(len(ds.images), image_size, int(ds.images.shape[3]), spec)
            ds.attrs.setdefault("source_size", [int(ds.images.shape[1]), int(ds.images.shape[2])])
            ds.images = resize_images(ds.images, image_size)
            ds.attrs["preprocessing"] = f"Resize({image_size})"
    return ds
