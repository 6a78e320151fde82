"""Seeded, stratified splits, shared by every method of a run.

Examples
--------
>>> import numpy as np
>>> labels = np.array([0] * 8 + [1] * 8)
>>> train, test = stratified_split(labels, test_size=0.25, seed=42)
>>> len(train), len(test), int(labels[test].sum())
(12, 4, 2)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.model_selection import train_test_split

from cvtoolkit.data.dataset import Dataset
from cvtoolkit.errors import DatasetError


def check_classification_data(dataset: Dataset, *, min_per_class: int = 1) -> None:
    """Raise :class:`DatasetError` unless the dataset can train a classifier.

    Needs at least one sample, at least two classes with samples, and
    ``min_per_class`` samples in every class.
    """
    where = dataset.source or "dataset"
    if len(dataset) == 0:
        skipped = f" ({len(dataset.skipped)} files skipped as unreadable)" if dataset.skipped else ""
        raise DatasetError(f"{where}: no usable images{skipped}. Check the path and the layout in datasets/README.md.")
    counts = {k: v for k, v in dataset.class_counts().items() if v > 0}
    if len(counts) < 2:
        only = next(iter(counts), "none")
        raise DatasetError(
            f"{where}: only one class ({only!r}); a classifier needs at least 2. "
            "Add one folder per class (root/<class>/<image>)."
        )
    small = {k: v for k, v in counts.items() if v < min_per_class}
    if small:
        listed = ", ".join(f"{k!r} ({v})" for k, v in sorted(small.items()))
        raise DatasetError(
            f"{where}: classes with fewer than {min_per_class} images: {listed}; a stratified split needs "
            f"at least {min_per_class} per class. Add images or remove those classes."
        )


def _class_label(label, class_names: Sequence[str] | None) -> str:
    """``'cat'`` when the label has a name, else ``label 3``."""
    if class_names is not None and 0 <= int(label) < len(class_names):
        return repr(class_names[int(label)])
    return f"label {label}"


def stratified_split(
    labels: np.ndarray, *, test_size: float | int = 0.25, seed: int = 42, class_names: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` of a seeded split that keeps class proportions.

    ``class_names`` (indexed by label) name the classes in error messages.

    Raises
    ------
    DatasetError
        A class has fewer than 2 samples, the test split would be smaller
        than the number of classes, or ``seed`` is not in 0 .. 2**32 - 1.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise DatasetError(f"seed {seed!r}: a seed must be a whole number from 0 to {2**32 - 1} (e.g. --seed 42)")
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    if (counts < 2).any():
        few = ", ".join(_class_label(c, class_names) for c in classes[counts < 2])
        raise DatasetError(
            f"class(es) {few} have a single sample; a stratified split needs at least 2 per class. "
            "Add images to those classes or remove them."
        )
    idx = np.arange(len(labels))
    try:
        train, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=labels)
    except ValueError as err:
        raise DatasetError(
            f"cannot split {len(labels)} samples of {len(classes)} classes: {err}. "
            "Add images, or change the test fraction so that each part gets every class."
        ) from err
    return np.sort(train), np.sort(test)


def per_class_split(
    labels: np.ndarray, *, train_per_class: int, test_per_class: int | None = None, seed: int = 42,
    class_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` of a published protocol: ``train_per_class`` images of every class for
    training, ``test_per_class`` (default: all the others) for testing.

    Caltech-101's protocol is 30 training and up to 50 test images per class,
    Flowers-17's 40 per class for training; the papers then report the mean
    per-class accuracy (balanced accuracy). Images are drawn at random (seeded)
    within each class.

    Raises
    ------
    DatasetError
        A class has fewer than ``train_per_class + 1`` images (or than
        ``train_per_class + test_per_class``); the message names it.

    Examples
    --------
    >>> train, test = per_class_split(np.repeat([0, 1], 10), train_per_class=3, test_per_class=5)
    >>> len(train), len(test), np.bincount(np.repeat([0, 1], 10)[test]).tolist()
    (6, 10, [5, 5])
    """
    labels = np.asarray(labels)
    if train_per_class < 1 or (test_per_class is not None and test_per_class < 1):
        raise DatasetError(f"--train-per-class {train_per_class} --test-per-class {test_per_class}: "
                           "expected counts of at least 1")
    rng = np.random.default_rng(seed)
    need = train_per_class + (test_per_class or 1)
    train, test, short = [], [], []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < need:
            short.append(f"{_class_label(c, class_names)} ({len(members)})")
            continue
        members = rng.permutation(members)
        train.append(members[:train_per_class])
        rest = members[train_per_class:]
        test.append(rest if test_per_class is None else rest[:test_per_class])
    if short:
        raise DatasetError(
            f"{train_per_class} training + {test_per_class or 'at least 1'} test image(s) per class need {need} "
            f"images in every class; too few in: {', '.join(short)}. Lower --train-per-class or remove those "
            "classes.")
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


DEFAULT_TEST_SIZE = 0.25
"""Test fraction of a stratified split (and of ``"auto"`` without an official split)."""

OFFICIAL_TEST_START = "official_test_start"
"""``Dataset.attrs`` key: index where a dataset's own test part starts (Keras datasets, Keras-layout ``.npz``)."""


def official_split(dataset: Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """Indices ``(train, test)`` of the dataset's own split, or None when it has none.

    Keras datasets and Keras-layout ``.npz`` files keep their training
    samples first and record where the test samples start.
    """
    start = dataset.attrs.get(OFFICIAL_TEST_START)
    if start is None or not 0 < int(start) < len(dataset):
        return None
    idx = np.arange(len(dataset))
    return idx[: int(start)], idx[int(start):]


def resolve_test_size(dataset: Dataset, test_size: float | int | str) -> float | int | str:
    """``"auto"`` made concrete: ``"official"`` when the dataset has its own split, else :data:`DEFAULT_TEST_SIZE`.

    Other values are returned as they are.
    """
    if test_size == "auto":
        return "official" if official_split(dataset) is not None else DEFAULT_TEST_SIZE
    return test_size


def split_dataset(
    dataset: Dataset, *, test_size: float | int | str = DEFAULT_TEST_SIZE, seed: int = 42
) -> tuple[Dataset, Dataset]:
    """Split a dataset into ``(train, test)`` datasets.

    Parameters
    ----------
    dataset : Dataset
    test_size : float, int, "official" or "auto"
        A fraction (or a count) for a seeded stratified split;
        ``"official"``: the dataset's own test part (see
        :func:`official_split`); ``"auto"``: the official split when there
        is one, else a stratified 0.25.
    seed : int
        Seed of a stratified split.

    The chosen indices are kept in ``attrs["split_indices"]`` of each part.

    Raises
    ------
    DatasetError
        The data cannot be split (see :func:`stratified_split`), or
        ``"official"`` for a dataset without its own split.
    """
    check_classification_data(dataset, min_per_class=2)
    test_size = resolve_test_size(dataset, test_size)
    if test_size == "official":
        official = official_split(dataset)
        if official is None:
            raise DatasetError(
                f"{dataset.source or 'the dataset'} has no official test split (only Keras datasets and "
                "Keras-layout .npz files have one); give a test fraction such as 0.25 instead."
            )
        train_idx, test_idx = official
    elif isinstance(test_size, str):
        raise DatasetError(f"test size {test_size!r}: expected a fraction such as 0.25, 'official' or 'auto'")
    else:
        train_idx, test_idx = stratified_split(dataset.labels, test_size=test_size, seed=seed,
                                               class_names=dataset.class_names)
    train, test = dataset.subset(train_idx), dataset.subset(test_idx)
    train.attrs["split_indices"] = train_idx
    test.attrs["split_indices"] = test_idx
    return train, test
