"""The dataset object every loader returns and every method consumes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from cvtoolkit.hashing import dataset_fingerprint


@dataclass(frozen=True)
class SkippedFile:
    """A file a loader could not use, and why.

    Examples
    --------
    >>> SkippedFile("data/cats/x.jpg", "not an image (cannot be decoded)")
    SkippedFile(path='data/cats/x.jpg', reason='not an image (cannot be decoded)')
    """

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Dataset:
    """Images (or features), integer labels and class names, in one object.

    Parameters
    ----------
    images : ndarray
        ``(N, H, W, C)`` ``uint8`` RGB images (``C`` is 3, or 1 for grey
        sources kept grey), or ``(N, D)`` ``float32`` feature vectors when
        ``kind == "features"``.
    labels : ndarray
        ``(N,)`` ``int64`` indices into ``class_names``; ``-1`` marks an
        unlabelled sample (a Kaggle test set).
    class_names : list of str
        Name of each class, in label order.
    paths : list of str, optional
        Source file of each sample, when it came from files.
    kind : {"images", "features"}
        What ``images`` holds.
    source : str
        Where the data came from (a path or a name), for reports.
    skipped : list of SkippedFile
        Files found but not used, with the reason.
    attrs : dict
        Free-form metadata (preprocessing, extractor parameters, ...).

    Examples
    --------
    >>> import numpy as np
    >>> ds = Dataset(np.zeros((4, 8, 8, 3), np.uint8), np.array([0, 1, 0, 1]),
    ...              ["cat", "dog"])
    >>> len(ds), ds.n_classes, ds.subset([1, 3]).labels.tolist()
    (4, 2, [1, 1])
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    paths: list[str] | None = None
    kind: str = "images"
    source: str = ""
    skipped: list[SkippedFile] = field(default_factory=list)
    attrs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.class_names = [str(c) for c in self.class_names]
        if len(self.images) != len(self.labels):
            raise ValueError(
                f"images ({len(self.images)}) and labels ({len(self.labels)}) "
                "must have the same length"
            )
        if self.paths is not None and len(self.paths) != len(self.labels):
            raise ValueError("paths must have one entry per image")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one sample: ``(H, W, C)`` for images, ``(D,)`` for features."""
        return tuple(self.images.shape[1:])

    def subset(self, indices: Sequence[int] | np.ndarray) -> "Dataset":
        """The samples at ``indices``, in that order (class names kept)."""
        idx = np.asarray(indices, dtype=np.int64)
        attrs = dict(self.attrs)
        start = attrs.pop("official_test_start", None)
        if start is not None:  # still an official split if training samples still come first
            is_test = idx >= int(start)
            if not np.any(np.diff(is_test.astype(np.int8)) < 0):
                attrs["official_test_start"] = int(np.count_nonzero(~is_test))
        return replace(
            self,
            images=self.images[idx],
            labels=self.labels[idx],
            paths=None if self.paths is None else [self.paths[i] for i in idx],
            skipped=list(self.skipped),
            attrs=attrs,
        )

    def class_counts(self) -> dict[str, int]:
        """Number of samples per class name (unlabelled samples left out)."""
        counts = np.bincount(self.labels[self.labels >= 0], minlength=self.n_classes)
        return {name: int(n) for name, n in zip(self.class_names, counts)}

    def fingerprint(self) -> str:
        """A short hash of the content (pixels, labels, class names).

        Two datasets with the same fingerprint hold the same samples in the
        same order; feature caches are keyed on it
        (:func:`cvtoolkit.hashing.dataset_fingerprint`).
        """
        return dataset_fingerprint(self)
