"""Datasets that arrive as arrays: the embedded ``digits``, Keras datasets, ``.npz`` files.

Grey sources stay one-channel: images are ``(N, H, W, 1)`` ``uint8``.

Examples
--------
>>> ds = load_digits()
>>> ds.images.shape, ds.images.dtype.name, ds.n_classes
((1797, 8, 8, 1), 'uint8', 10)
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from cvtoolkit.data.dataset import Dataset
from cvtoolkit.errors import DatasetError, MissingDownloadError

logger = logging.getLogger(__name__)

KERAS_DATASETS = {
    # name: (module under keras.datasets, file Keras caches, class names)
    "mnist": ("mnist", "mnist.npz", [str(i) for i in range(10)]),
    "fashion_mnist": (
        "fashion_mnist",
        "fashion-mnist/ (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)",
        ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"],
    ),
    "cifar10": (
        "cifar10",
        "cifar-10-batches-py/ (extracted from cifar-10-python.tar.gz)",
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    ),
}
"""Keras datasets by name, with the file Keras needs in its cache when offline."""


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded datasets (``$KERAS_HOME/datasets``, default ``~/.keras/datasets``)."""
    from cvtoolkit.data.keras_home import keras_home

    return keras_home() / "datasets"


def _as_images(x: np.ndarray) -> np.ndarray:
    """Arrays of images as ``uint8`` (:func:`cvtoolkit.imageops.to_uint8`), saying when values were clipped."""
    from cvtoolkit.imageops import to_uint8  # the one policy (docs/design.md, "Data in memory")

    x = np.asarray(x)
    if x.dtype != np.uint8:
        if x.dtype.kind in "iuf" and x.dtype != np.uint16 and x.size:
            finite = x[np.isfinite(x)] if x.dtype.kind == "f" else x
            unit = x.dtype.kind == "f" and finite.size and finite.min() >= 0.0 and finite.max() <= 1.0
            if finite.size and not unit and (finite.min() < 0 or finite.max() > 255):
                logger.warning("pixel values outside 0..255 (%s to %s) were clipped", finite.min(), finite.max())
        x = to_uint8(x)
    if x.ndim == 3:
        x = x[..., None]
    return x


def _from_train_test(x_train, y_train, x_test, y_test, class_names, source) -> Dataset:
    images = np.concatenate([_as_images(x_train), _as_images(x_test)])
    labels = np.concatenate([np.ravel(y_train), np.ravel(y_test)]).astype(np.int64)
    ds = Dataset(images, labels, class_names, source=source)
    # Keep the official split (cvtoolkit.data.split.official_split; compare's default --test-size auto uses it).
    ds.attrs["official_test_start"] = int(len(x_train))
    return ds


def load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes).

    Pixel values 0..16 are scaled to 0..255; no download is needed.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return Dataset(images, bunch.target, [str(c) for c in bunch.target_names], source="digits")


def load_npz(path: str | os.PathLike) -> Dataset:
    """A local ``.npz`` in Keras's layout (``x_train, y_train, x_test, y_test``).

    For example the MNIST file ``mnist.npz``. Class names are the sorted label
    values as strings.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file. Expected an .npz with x_train, y_train, x_test, y_test.")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(data.files)
            if missing:
                raise DatasetError(
                    f"{path}: missing arrays {sorted(missing)}; expected Keras's layout "
                    "(x_train, y_train, x_test, y_test), as in keras.datasets.mnist's mnist.npz."
                )
            xtr, ytr, xte, yte = (data[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        if isinstance(err, DatasetError):
            raise
        raise DatasetError(f"{path}: cannot read as .npz ({err}).") from err
    for split, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[3] not in (1, 3)) or x.dtype.kind not in "biuf":
            raise DatasetError(
                f"{path}: x_{split} has shape {x.shape} and dtype {x.dtype}; expected images (N, H, W) or "
                "(N, H, W, 1|3) of numbers, as in Keras's mnist.npz. Reshape flat pixel rows to (N, H, W) first."
            )
        if len(x) != np.size(y):
            raise DatasetError(f"{path}: x_{split} has {len(x)} images but y_{split} has {np.size(y)} labels.")
    if _as_images(xtr[:0]).shape[1:] != _as_images(xte[:0]).shape[1:]:
        raise DatasetError(
            f"{path}: x_train images are {xtr.shape[1:]} but x_test images are {xte.shape[1:]}; both need one shape."
        )
    values = np.unique(np.concatenate([np.ravel(ytr), np.ravel(yte)]))
    if len(values) == 0:
        raise DatasetError(f"{path}: no images (x_train and x_test are empty).")
    if not np.issubdtype(values.dtype, np.integer) or values.min() < 0:
        raise DatasetError(f"{path}: labels must be non-negative integers.")
    class_names = [str(v) for v in range(int(values.max()) + 1)]
    return _from_train_test(xtr, ytr, xte, yte, class_names, str(path))


def load_keras_dataset(name: str) -> Dataset:
    """A dataset from ``keras.datasets`` by name (``mnist``, ``fashion_mnist``, ``cifar10``).

    Keras downloads the data on first use into ``~/.keras/datasets``. Offline,
    a :class:`MissingDownloadError` names the file to put there (or suggests a
    local ``.npz``).
    """
    if name not in KERAS_DATASETS:
        raise DatasetError(f"unknown Keras dataset {name!r}; known: {', '.join(KERAS_DATASETS)}")
    module_name, file_name, class_names = KERAS_DATASETS[name]
    import keras

    module = getattr(keras.datasets, module_name)
    try:
        (xtr, ytr), (xte, yte) = module.load_data()
    except Exception as err:  # Keras raises plain Exception on a failed fetch
        raise MissingDownloadError(
            f"cannot download Keras dataset {name!r} ({type(err).__name__}: {str(err).splitlines()[0][:120]}). "
            f"Offline, put {file_name} in {keras_cache_dir()}"
            + (", or pass a local copy: --dataset path/to/mnist.npz" if name == "mnist" else "")
            + "."
        ) from err
    return _from_train_test(xtr, ytr, xte, yte, class_names, f"keras:{name}")
