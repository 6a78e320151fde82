"""The unit of work of a feature extraction: a chunk of samples, planned, decoded and described.

Both schedulers of :func:`cvtoolkit.features.extraction.extract_to_store`
hand out the same units: the local one (the main process and joblib
worker processes, in :mod:`cvtoolkit.features.extraction`) and the Dask one
(:mod:`cvtoolkit.features.distributed`). This module holds what they share
and imports neither:

- :class:`ChunkSource` (made by :func:`open_source`): the samples, as file
  paths decoded on demand or images in memory;
- :func:`plan_chunks`: the ``(start, stop)`` ranges, in order;
- :func:`describe_chunk` = :func:`decode_chunk` then :func:`describe_decoded`:
  what a worker runs on one chunk;
- :func:`single_process` and :func:`fit_needs_data`: how the extractor is
  prepared for the workers.

The schedulers call ``describe_chunk`` as
``cvtoolkit.features.extraction.describe_chunk`` (looked up when the run
starts and handed to the Dask scheduler), so replacing that attribute
(a test counting or failing chunks) reaches every scheduler.

Examples
--------
>>> import numpy as np
>>> plan_chunks(5, 2)
[(0, 2), (2, 4), (4, 5)]
>>> X, kept, skipped = describe_chunk(Identity(), "images", np.zeros((2, 4, 4), np.uint8), 2)
>>> X.shape, kept.tolist(), skipped
((2, 2, 2, 1), [0, 1], [])
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS
from cvtoolkit.errors import DatasetError

__all__ = [
    "ChunkSource",
    "Identity",
    "decode_chunk",
    "describe_chunk",
    "describe_decoded",
    "fit_needs_data",
    "open_source",
    "plan_chunks",
    "single_process",
]


@dataclass
class ChunkSource:
    """Samples to describe: file paths (decoded on demand) or images in memory.

    :meth:`payload` is what a chunk sends to a worker: ``("paths", [...])``
    (the worker decodes) or ``("images", batch)``. Made by :func:`open_source`.
    """

    labels: np.ndarray
    class_names: list[str]
    description: str
    paths: list[str] | None = None
    images: Any = None
    skipped: list[Any] = field(default_factory=list)
    preprocessing: str = ""
    max_pixels: int | None = DEFAULT_MAX_PIXELS  # files larger than this are skipped when decoded

    def __len__(self) -> int:
        return len(self.labels)

    def payload(self, indices: np.ndarray) -> tuple[str, Any]:
        if self.images is None:
            assert self.paths is not None
            return "paths", [self.paths[i] for i in indices]
        if isinstance(self.images, np.ndarray):
            return "images", self.images[indices]
        return "images", [self.images[i] for i in indices]

    def subset(self, indices: np.ndarray) -> "ChunkSource":
        return ChunkSource(
            labels=self.labels[indices],
            class_names=self.class_names,
            description=self.description,
            paths=None if self.paths is None else [self.paths[i] for i in indices],
            images=None if self.images is None else (
                self.images[indices] if isinstance(self.images, np.ndarray) else [self.images[i] for i in indices]),
            skipped=self.skipped,
            preprocessing=self.preprocessing,
            max_pixels=self.max_pixels,
        )


def open_source(source: Any, image_size: Any, progress: bool, max_pixels: int | None = DEFAULT_MAX_PIXELS
                 ) -> tuple[ChunkSource, Any]:
    """The samples of ``source`` (a dataset spec, a Dataset or a folder listing), and the size chunks
    must still be resized to (None when already done).

    Examples
    --------
    >>> import numpy as np
    >>> from cvtoolkit.data import Dataset
    >>> src, size = open_source(Dataset(np.zeros((3, 8, 8), np.uint8), [0, 1, 0], ["a", "b"]), 4, False)
    >>> len(src), size, src.payload(np.array([0, 2]))[1].shape
    (3, 4, (2, 8, 8))
    """
    import functools

    from cvtoolkit.data import Dataset, describe_spec, list_image_folder, load_dataset

    make = functools.partial(ChunkSource, max_pixels=max_pixels)
    resize = f"Resize({image_size})" if image_size is not None else ""
    if isinstance(source, (str, os.PathLike)):
        spec = str(source)
        if describe_spec(spec) == "folder":
            listing = list_image_folder(spec)
            if not listing.paths:
                raise DatasetError(f"{spec}: no image files found in its class folders.")
            return make(listing.labels, listing.class_names, spec, paths=list(listing.paths),
                        skipped=list(listing.skipped), preprocessing=resize), image_size
        ds = load_dataset(spec, image_size=image_size, progress=progress, max_pixels=max_pixels)
        if ds.kind != "images":
            raise DatasetError(f"{spec} holds feature vectors, not images; extract from the images.")
        return make(np.asarray(ds.labels), list(ds.class_names), spec, paths=ds.paths, images=ds.images,
                    skipped=list(ds.skipped), preprocessing=str(ds.attrs.get("preprocessing", ""))), None
    if isinstance(source, Dataset):
        if source.kind != "images":
            raise DatasetError(
                f"{source.source or 'the dataset'} holds feature vectors, not images; extract from the images."
            )
        pre = "; ".join(p for p in (str(source.attrs.get("preprocessing", "")), resize) if p)
        return make(np.asarray(source.labels), list(source.class_names), source.source or "dataset",
                    paths=source.paths, images=source.images, skipped=list(source.skipped),
                    preprocessing=pre), image_size
    if hasattr(source, "paths") and hasattr(source, "labels") and hasattr(source, "class_names"):
        return make(np.asarray(source.labels), list(source.class_names), str(getattr(source, "root", "listing")),
                    paths=list(source.paths), skipped=list(getattr(source, "skipped", [])),
                    preprocessing=resize), image_size
    raise TypeError(f"cannot extract from {type(source).__name__}; pass a dataset spec, a Dataset or a FolderListing")


def plan_chunks(n: int, batch_size: int) -> list[tuple[int, int]]:
    """The ``(start, stop)`` sample ranges extraction works on, in order.

    Examples
    --------
    >>> plan_chunks(5, 2)
    [(0, 2), (2, 4), (4, 5)]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    return [(s, min(n, s + batch_size)) for s in range(0, n, batch_size)]


def describe_chunk(transformer: Any, kind: str, data: Any, image_size: Any = None,
                   max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Decode (when ``kind == "paths"``; ``"decoded"``: what :func:`decode_chunk` returned) and describe one chunk.

    Returns ``(features, kept, skipped)``: ``kept`` are positions within the
    chunk of the rows of ``features`` (unreadable files, and files of more
    than ``max_pixels`` pixels, are skipped). Runs in a worker process when
    extraction is parallel. ``kind == "decoded"``: ``data`` is what
    :func:`decode_chunk` returned (decoding was prefetched in a thread).
    """
    if kind == "decoded":  # what decode_chunk returned (a prefetching thread decoded it)
        images, kept, skipped = data
    else:
        images, kept, skipped = decode_chunk(kind, data, image_size, max_pixels)
    if len(kept) == 0 and kind in ("paths", "decoded"):
        return np.zeros((0, 0), np.float32), kept, skipped
    return describe_decoded(transformer, images, kept, skipped)


def decode_chunk(kind: str, data: Any, image_size: Any = None,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[Any, np.ndarray, list[Any]]:
    """The decoding half of :func:`describe_chunk`: ``(images, kept, skipped)``."""
    if kind == "paths":
        from cvtoolkit.data import load_images

        images, kept, skipped = load_images(data, image_size=image_size, n_jobs=1, progress=False,
                                            max_pixels=max_pixels)
        if len(kept) and images.dtype == object:
            images = list(images)
        return images, kept, skipped
    images, kept, skipped = data, np.arange(len(data)), []
    if image_size is not None:
        from cvtoolkit.features.base import as_image_batch, resize_batch, size_hw

        images = resize_batch(as_image_batch(images), size_hw(image_size))
    return images, kept, skipped


def describe_decoded(transformer: Any, images: Any, kept: Any, skipped: list[Any]) -> tuple[np.ndarray, np.ndarray,
                                                                                               list[Any]]:
    """The describing half of :func:`describe_chunk`, on what :func:`decode_chunk` returned."""
    X = transformer.transform(images)
    if not isinstance(transformer, Identity):
        X = np.asarray(X, dtype=np.float32)
    return X, np.asarray(kept, np.int64), list(skipped)


def single_process(transformer: Any) -> Any:
    """A copy of ``transformer`` (fitted state kept) with every ``n_jobs`` set to 1 and no progress bars.

    ``transformer`` itself when there is nothing to change (a CNN backbone:
    a copy would pickle its weights and build the model a second time).
    """
    if not hasattr(transformer, "get_params"):
        return copy.deepcopy(transformer)
    params = transformer.get_params(deep=True)
    updates = {k: 1 for k in params if (k == "n_jobs" or k.endswith("__n_jobs")) and params[k] != 1}
    updates.update({k: False for k in params if (k == "progress" or k.endswith("__progress")) and params[k]
                    is not False})
    if not updates:
        return transformer
    worker = copy.deepcopy(transformer)
    worker.set_params(**updates)
    return worker


def fit_needs_data(transformer: Any) -> bool:
    """Whether ``fit`` learns from the images (False for pretrained backbones: their fit only builds the model).

    A transformer says it does not with a class attribute ``fit_needs_data = False``;
    a ``FeatureUnion`` or ``Pipeline`` needs data when any part does.
    """
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(transformer, FeatureUnion):
        return any(fit_needs_data(t) for _, t in transformer.transformer_list if t not in ("drop", "passthrough"))
    if isinstance(transformer, Pipeline):
        return any(fit_needs_data(t) for _, t in transformer.steps if t not in (None, "passthrough"))
    return bool(getattr(transformer, "fit_needs_data", True))


class Identity:
    """A "transformer" that hands back the decoded images (to load a fitting sample)."""

    def transform(self, images: Any) -> Any:
        return images
