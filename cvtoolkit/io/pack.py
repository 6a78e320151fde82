"""Stream image files into an images store, chunk by chunk, in bounded memory.

:func:`write_store` writes a :class:`~cvtoolkit.data.dataset.Dataset` that is
already in memory. :func:`pack_image_files` never holds more than one chunk
of decoded images: it decodes ``chunk_rows`` files (in threads), resizes
them, and hands them to :class:`~cvtoolkit.io.HDF5Writer`, so a folder of
any size can be packed. Unreadable files (and files over ``max_pixels``)
are skipped, named and counted, in the store's ``skipped`` list too. The
store is atomic, as every store: an interrupted run leaves no file at
``out``.

Examples
--------
>>> import os, tempfile, numpy as np, cv2
>>> root = tempfile.mkdtemp()
>>> paths = []
>>> for i, size in enumerate([(9, 7), (12, 12), (5, 8)]):
...     paths.append(os.path.join(root, f"{i}.png"))
...     _ = cv2.imwrite(paths[-1], np.full((*size, 3), 40 * i, np.uint8))
>>> summary = pack_image_files(paths, [0, 1, 0], ["cat", "dog"], os.path.join(root, "s.h5"), image_size=8)
>>> summary.n_rows, summary.sample_shape, summary.class_counts
(3, (8, 8, 3), {'cat': 2, 'dog': 1})
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS
from cvtoolkit.errors import StoreError


@dataclass
class PackSummary:
    """What :func:`pack_image_files` wrote."""

    path: Path
    n_rows: int
    sample_shape: tuple[int, ...]
    class_counts: dict[str, int]
    skipped: list[Any] = field(default_factory=list)
    n_unlabelled: int = 0


def pack_image_files(
    paths: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    out: str | os.PathLike,
    *,
    image_size: int | tuple[int, int] | None = None,
    preprocessors: Sequence[Any] | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    chunk_rows: int = 1024,
    compression: str | None = None,
    skipped: Sequence[Any] = (),
    attrs: dict[str, Any] | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
) -> PackSummary:
    """Decode, resize and write image files into the images store ``out``, one chunk at a time.

    Parameters
    ----------
    paths, labels, class_names
        The files, their labels (indices into ``class_names``; -1 for
        unlabelled) and the class names, as a folder listing gives them.
    out : path-like
        The store (replaced atomically if it exists).
    image_size : int or (height, width), optional
        Resize every image to this; needed unless the files (or
        ``preprocessors``) already give one size.
    preprocessors : sequence of callables, optional
        ``image -> image`` steps after the resize (e.g.
        :class:`~cvtoolkit.data.AspectAwareResize`).
    max_pixels : int or None
        Files of more than this many pixels are skipped as decompression
        bombs (None: no limit).
    chunk_rows : int
        Files decoded (and rows written) at a time: bounds the memory.
    compression : {None, "gzip", "lzf"}
        HDF5 compression of the images.
    skipped : sequence, optional
        Files already skipped while listing; kept in the store's list.
    attrs : dict, optional
        Store attributes (``source``, ``preprocessing``, ...).
    n_jobs : int, optional
        Decoding threads (default: all cores).
    progress : bool
        A tqdm bar on stderr.

    Returns
    -------
    PackSummary

    Raises
    ------
    StoreError
        No file could be decoded, or the images do not share one size
        (give ``image_size``).
    """
    from tqdm.auto import tqdm

    from cvtoolkit.data.folder import load_images
    from cvtoolkit.io.hdf5_writer import HDF5Writer

    labels = np.asarray(labels, np.int64)
    if len(labels) != len(paths):
        raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
    chunk = max(1, int(chunk_rows))
    dropped = list(skipped)
    counts = np.zeros(len(class_names), np.int64)
    unlabelled = 0
    writer: HDF5Writer | None = None
    bar = tqdm(total=len(paths), desc=f"packing {Path(out).name}", unit="img", disable=not progress, leave=False)
    try:
        for start in range(0, len(paths), chunk):
            part = list(paths[start : start + chunk])
            images, kept, bad = load_images(part, image_size=image_size, preprocessors=preprocessors,
                                            n_jobs=n_jobs, max_pixels=max_pixels, progress=False)
            dropped.extend(bad)
            bar.update(len(part))
            if len(kept) == 0:
                continue
            if images.dtype == object or (writer is not None and images.shape[1:] != writer.sample_shape):
                raise StoreError(
                    f"cannot pack into {out}: the images have different sizes (e.g. {part[0]}); "
                    "give an image size (--image-size N) to resize them all."
                )
            if writer is None:
                writer = HDF5Writer(out, kind="images", sample_shape=tuple(images.shape[1:]), dtype="uint8",
                                    class_names=list(class_names), attrs=dict(attrs or {}), chunk_rows=chunk,
                                    with_paths=True, compression=compression)
            kept_labels = labels[start : start + chunk][kept]
            writer.add(images, kept_labels, paths=[part[i] for i in kept])
            counts += np.bincount(kept_labels[kept_labels >= 0], minlength=len(class_names))
            unlabelled += int(np.count_nonzero(kept_labels < 0))
        if writer is None:
            raise StoreError(f"cannot pack into {out}: none of the {len(paths)} files could be decoded "
                             f"({len(dropped)} skipped, e.g. {dropped[0] if dropped else 'none'})")
        writer.skipped = dropped
        shape, rows = writer.sample_shape, writer.n_rows
        writer.close()
    except BaseException:
        if writer is not None and not writer.closed:
            writer.abort()
        raise
    finally:
        bar.close()
    return PackSummary(Path(out), rows, tuple(shape), {n: int(c) for n, c in zip(class_names, counts)}, dropped,
                       unlabelled)
