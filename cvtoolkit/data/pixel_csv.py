"""Kaggle pixel CSVs: one image per row.

Two layouts are recognised from the header:

- Digit Recognizer: ``label,pixel0,...,pixelN`` (``test.csv`` has no
  ``label`` column: its rows get label ``-1`` and ids ``1..N``);
- FER2013: ``emotion,pixels[,Usage]`` with ``pixels`` a space-separated string.

Images are square, ``sqrt(N)`` pixels a side, grey: ``(N, S, S, 1)`` ``uint8``.

Examples
--------
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
>>> with open(path, "w") as fh:
...     _ = fh.write("label,pixel0,pixel1,pixel2,pixel3\\n1,0,255,0,255\\n0,9,9,9,9\\n")
>>> ds = load_pixel_csv(path)
>>> ds.images.shape, ds.labels.tolist(), ds.class_names
((2, 2, 2, 1), [1, 0], ['0', '1'])
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from cvtoolkit.data.dataset import Dataset
from cvtoolkit.errors import DatasetError

FER2013_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def _square(n: int, path: Path) -> int:
    side = int(round(math.sqrt(n)))
    if side * side != n:
        raise DatasetError(f"{path}: rows have {n} pixels, not a square image; expected N*N pixel columns.")
    return side


def load_pixel_csv(path: str | os.PathLike) -> Dataset:
    """Read a Digit Recognizer or FER2013 style CSV into a :class:`Dataset`."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file.")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise DatasetError(f"{path}: empty CSV file.") from None
        if "pixels" in header:
            return _read_fer(path, header, reader)
        pixel_cols = [i for i, h in enumerate(header) if h.startswith("pixel")]
        if not pixel_cols:
            raise DatasetError(
                f"{path}: no pixel columns; expected 'label,pixel0..pixelN' (Digit Recognizer) "
                "or 'emotion,pixels' (FER2013)."
            )
        label_col = header.index("label") if "label" in header else None
        try:
            rows = np.asarray([[int(float(v)) for v in row] for row in reader if row], dtype=np.int64)
        except ValueError as err:
            raise DatasetError(f"{path}: non-numeric value in the pixel columns ({err}).") from err
    if rows.size == 0:
        raise DatasetError(f"{path}: header only, no rows.")
    side = _square(len(pixel_cols), path)
    images = np.clip(rows[:, pixel_cols], 0, 255).astype(np.uint8).reshape(-1, side, side, 1)
    if label_col is None:
        labels = np.full(len(images), -1, np.int64)
        class_names = [str(i) for i in range(10)]
        ds = Dataset(images, labels, class_names, source=str(path))
        ds.attrs["ids"] = list(range(1, len(images) + 1))
        return ds
    raw = rows[:, label_col]
    class_names = [str(v) for v in range(int(raw.max()) + 1)]
    return Dataset(images, raw, class_names, source=str(path))


def _read_fer(path: Path, header: list[str], reader) -> Dataset:
    pix = header.index("pixels")
    lab = header.index("emotion") if "emotion" in header else None
    images, labels = [], []
    for n, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            images.append(np.asarray(row[pix].split(), dtype=np.int64))
            labels.append(int(row[lab]) if lab is not None else -1)
        except (ValueError, IndexError) as err:
            raise DatasetError(f"{path}: line {n}: cannot parse ({err}).") from err
    if not images:
        raise DatasetError(f"{path}: header only, no rows.")
    side = _square(len(images[0]), path)
    if any(len(im) != side * side for im in images):
        raise DatasetError(f"{path}: rows have different pixel counts.")
    arr = np.clip(np.stack(images), 0, 255).astype(np.uint8).reshape(-1, side, side, 1)
    return Dataset(arr, np.asarray(labels), FER2013_CLASSES, source=str(path))
