"""Read a cvtoolkit HDF5 store back, refusing anything that is not a finished store.

:func:`read_store` returns a :class:`~cvtoolkit.data.dataset.Dataset`;
:func:`store_info` describes a store without loading its rows;
:func:`is_store` answers yes/no; :func:`open_store` gives the checked,
read-only ``h5py.File`` for code that streams rows itself.

Every refusal is a :class:`~cvtoolkit.errors.StoreError` that names the file
and says what to do: not HDF5, not written by cvtoolkit, not finalised (an
interrupted write, or a ``.partial``), written by a newer cvtoolkit, or not
of the expected kind.

Examples
--------
>>> import os, tempfile, numpy as np
>>> from cvtoolkit.io import HDF5Writer
>>> path = os.path.join(tempfile.mkdtemp(), "f.h5")
>>> with HDF5Writer(path, kind="features", sample_shape=(3,), dtype="float32",
...                 class_names=["é", "b"], attrs={"extractor": "hog",
...                                                "extractor_params": {"orientations": 9}}) as w:
...     w.add(np.ones((2, 3)), [0, 1])
>>> ds = read_store(path, expect_kind="features")
>>> ds.class_names, ds.images.dtype.name, ds.attrs["extractor_params"]
(['é', 'b'], 'float32', {'orientations': 9})
>>> store_info(path)["sample_shape"]
(3,)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from cvtoolkit.errors import StoreError
from cvtoolkit.io.hdf5_format import (
    FORMAT_VERSION,
    KINDS,
    PARTIAL_SUFFIX,
    REQUIRED_ATTRS,
    REQUIRED_DATASETS,
    decode_attrs,
    partial_path,
    plain,
)

log = logging.getLogger(__name__)

_HOW_TO_MAKE = "Create a store with `cvtoolkit pack` (images) or `cvtoolkit extract` (features)."


def open_store(
    path: str | os.PathLike,
    *,
    expect_kind: str | None = None,
    allow_partial: bool = False,
    **h5py_kw: Any,
) -> h5py.File:
    """Open a store read-only after checking it is a finished cvtoolkit store.

    Parameters
    ----------
    path : path-like
        The ``.h5`` file.
    expect_kind : {"images", "features"}, optional
        Refuse a store of the other kind.
    allow_partial : bool
        Accept an unfinished store (for inspection only).
    **h5py_kw
        Passed to ``h5py.File`` (e.g. ``rdcc_nbytes`` for the chunk cache).

    Returns
    -------
    h5py.File
        Opened with mode ``"r"``; close it (or use ``with``).

    Raises
    ------
    StoreError
        The file is missing, not HDF5, not a cvtoolkit store, not finalised,
        too new, or of the wrong kind.
    """
    p = Path(path)
    if expect_kind is not None and expect_kind not in KINDS:
        raise ValueError(f"expect_kind must be one of {KINDS}, got {expect_kind!r}")
    if not p.exists():
        if partial_path(p).exists():
            raise StoreError(
                f"{p} does not exist, but {partial_path(p)} does: that write was interrupted "
                "and never finished. Rerun the command that writes it (extraction resumes "
                "from the rows already written)."
            )
        raise StoreError(f"{p} does not exist. {_HOW_TO_MAKE}")
    if p.is_dir():
        raise StoreError(f"{p} is a folder, expected an HDF5 store file (.h5). {_HOW_TO_MAKE}")
    if p.name.endswith(PARTIAL_SUFFIX) and not allow_partial:
        raise StoreError(
            f"{p} is an unfinished store (a '{PARTIAL_SUFFIX}' file left by an interrupted write); "
            "it cannot be read as complete. Rerun the command that writes it, or delete it."
        )
    try:
        hdf5 = h5py.is_hdf5(p)
    except OSError:
        hdf5 = False
    if not hdf5:
        raise StoreError(f"{p} is not an HDF5 file, expected a cvtoolkit store. {_HOW_TO_MAKE}")
    try:
        f = h5py.File(p, "r", **h5py_kw)
    except OSError as err:
        raise StoreError(f"cannot open {p} as HDF5 ({err}); the file may be damaged. {_HOW_TO_MAKE}") from err
    try:
        _check(f, p, expect_kind=expect_kind, allow_partial=allow_partial)
    except BaseException:
        f.close()
        raise
    return f


def _check(f: h5py.File, p: Path, *, expect_kind: str | None, allow_partial: bool) -> None:
    missing = [f"attribute '{a}'" for a in REQUIRED_ATTRS if a not in f.attrs]
    missing += [f"dataset '/{d}'" for d in REQUIRED_DATASETS if d not in f]
    if missing:
        raise StoreError(
            f"{p} is an HDF5 file but not a cvtoolkit store (missing {', '.join(missing)}). {_HOW_TO_MAKE}"
        )
    version = plain(f.attrs["format_version"])
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise StoreError(
            f"{p} uses store format {version!r}, newer than this cvtoolkit reads ({FORMAT_VERSION}). "
            "Upgrade cvtoolkit."
        )
    if not bool(plain(f.attrs["complete"])) and not allow_partial:
        raise StoreError(
            f"{p} was never finalised (its write was interrupted), so it may be incomplete. "
            "Rerun the command that writes it."
        )
    kind = plain(f.attrs["kind"])
    if kind not in KINDS:
        raise StoreError(f"{p} has kind {kind!r}; expected one of {KINDS}. {_HOW_TO_MAKE}")
    if expect_kind is not None and kind != expect_kind:
        hint = (
            "Extract features from it with `cvtoolkit extract`, or pass an images store."
            if kind == "images"
            else "Pass the images store (from `cvtoolkit pack`) or the image folder instead."
        )
        raise StoreError(f"{p} holds {kind}, expected {expect_kind}. {hint}")
    data, labels = f["data"], f["labels"]
    expected = "(N, H, W, C) integer images" if kind == "images" else "(N, D) float feature vectors"
    if data.ndim != (4 if kind == "images" else 2) or data.dtype.kind not in ("iu" if kind == "images" else "fiu"):
        raise StoreError(
            f"{p} is damaged or was not written by cvtoolkit: its {kind} dataset '/data' has shape {data.shape} "
            f"and dtype {data.dtype}, expected {expected}. Write it again. {_HOW_TO_MAKE}"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise StoreError(
            f"{p} is damaged or was not written by cvtoolkit: '/labels' has shape {labels.shape} and dtype "
            f"{labels.dtype}, expected one integer label per row. Write it again."
        )
    n_data, n_labels = len(data), len(labels)
    n_paths = len(f["paths"]) if "paths" in f else n_data
    if not allow_partial and not (n_data == n_labels == n_paths == int(plain(f.attrs["n_rows"]))):
        raise StoreError(
            f"{p} is damaged: {n_data} rows of data, {n_labels} labels, n_rows={plain(f.attrs['n_rows'])}. "
            "Write it again."
        )


def check_labels(labels: np.ndarray, class_names: list[str], path: str | os.PathLike) -> None:
    """Raise :class:`StoreError` unless every label is -1 (unlabelled) or a class index."""
    if len(labels) and (labels.min() < -1 or labels.max() >= len(class_names)):
        raise StoreError(
            f"{path} is damaged: labels run from {labels.min()} to {labels.max()} but the store names "
            f"{len(class_names)} classes (labels must be -1 for unlabelled, or 0..{len(class_names) - 1}). "
            "Write it again."
        )


def check_finite(features: np.ndarray, path: str | os.PathLike, paths: list[str] | None = None) -> None:
    """Raise :class:`StoreError` naming the first row with a NaN or infinite feature.

    Every classifier fails on such a row, so a store holding one is refused
    once, when it loads, instead of failing each row of a comparison.

    Examples
    --------
    >>> check_finite(np.array([[0.0, 1.0], [np.nan, 2.0]], np.float32), "f.h5")
    Traceback (most recent call last):
    ...
    cvtoolkit.errors.StoreError: f.h5: row 1 holds a NaN or infinite feature (column 0; 1 such row in all). Features must be finite: extract them again, or drop those rows.
    """
    ok = np.isfinite(features)
    if ok.all():
        return
    bad_rows = np.flatnonzero(~ok.reshape(len(features), -1).all(axis=1))
    row = int(bad_rows[0])
    column = int(np.flatnonzero(~ok[row].reshape(-1))[0])
    source = f" ({paths[row]})" if paths and row < len(paths) and paths[row] else ""
    many = f"{len(bad_rows)} such row{'s' if len(bad_rows) != 1 else ''} in all"
    raise StoreError(
        f"{path}: row {row}{source} holds a NaN or infinite feature (column {column}; {many}). Features must be "
        "finite: extract them again, or drop those rows."
    )


def read_store(
    path: str | os.PathLike,
    *,
    load: bool = True,
    expect_kind: str | None = None,
) -> Any:
    """Read a store as a :class:`~cvtoolkit.data.dataset.Dataset`.

    Parameters
    ----------
    path : path-like
        The ``.h5`` store.
    load : bool
        Load all rows into memory (default). With ``load=False``,
        ``Dataset.images`` is the open read-only ``h5py.Dataset`` (rows are
        read when indexed, in increasing index order); labels, class names
        and paths are still loaded.
    expect_kind : {"images", "features"}, optional
        Refuse a store of the other kind.

    Returns
    -------
    Dataset
        ``images``: ``(N, H, W, C)`` ``uint8`` or ``(N, D)`` ``float32``;
        ``class_names`` and ``paths`` as ``str``; ``skipped`` as
        ``SkippedFile``; ``attrs``: the store's attributes (JSON ones
        decoded); ``source``: the store path (the original source is
        ``attrs["source"]``).

    Raises
    ------
    StoreError
        See :func:`open_store`.

    Examples
    --------
    >>> # ds = read_store("out/animals.h5", expect_kind="images")
    """
    from cvtoolkit.data.dataset import Dataset, SkippedFile

    f = open_store(path, expect_kind=expect_kind)
    keep_open = False
    try:
        attrs = decode_attrs(f.attrs)
        kind = attrs["kind"]
        data = f["data"]
        if load:
            images = data[...]
            images = images.astype(np.uint8 if kind == "images" else np.float32, copy=False)
        else:
            images = data
            keep_open = True
        labels = f["labels"][...].astype(np.int64)
        class_names = [str(c) for c in f["class_names"].asstr()[...]]
        check_labels(labels, class_names, path)
        paths = [str(s) for s in f["paths"].asstr()[...]] if "paths" in f else None
        if load and kind == "features":
            check_finite(images, path, paths)
        skipped = []
        if "skipped" in f:
            skipped = [SkippedFile(str(a), str(b)) for a, b in f["skipped"].asstr()[...]]
        return Dataset(
            images,
            labels,
            class_names,
            paths=paths,
            kind=kind,
            source=str(path),
            skipped=skipped,
            attrs=attrs,
        )
    finally:
        if not keep_open:
            f.close()


def store_info(path: str | os.PathLike, *, allow_partial: bool = False) -> dict[str, Any]:
    """Describe a store without loading its rows.

    Returns
    -------
    dict
        The attributes (JSON decoded) plus ``path``, ``n_rows``,
        ``sample_shape``, ``dtype``, ``class_names``, ``n_classes``,
        ``has_paths``, ``n_skipped``, ``chunk_shape``, ``compression`` and
        ``size_bytes``.

    Raises
    ------
    StoreError
        See :func:`open_store` (``allow_partial=True`` describes a
        ``.partial`` or unfinished store too).

    Examples
    --------
    >>> # store_info("out/animals.h5")["n_rows"]
    """
    p = Path(path)
    with open_store(p, allow_partial=allow_partial) as f:
        info = decode_attrs(f.attrs)
        data = f["data"]
        class_names = [str(c) for c in f["class_names"].asstr()[...]]
        info.update(
            path=str(p),
            n_rows=int(len(data)) if allow_partial else int(info["n_rows"]),
            sample_shape=tuple(int(s) for s in data.shape[1:]),
            dtype=str(data.dtype),
            class_names=class_names,
            n_classes=len(class_names),
            has_paths="paths" in f,
            n_skipped=len(f["skipped"]) if "skipped" in f else 0,
            chunk_shape=tuple(data.chunks) if data.chunks else None,
            compression=data.compression,
            size_bytes=p.stat().st_size,
        )
    return info


def read_rows(data: Any, indices: Any) -> np.ndarray:
    """Rows ``indices`` (any order, repeats allowed) of an ``h5py.Dataset``, in that order.

    h5py's fancy indexing (``data[[3, 9, 40]]``) needs increasing indices
    and is slow on chunked data; this reads each run of consecutive indices
    as one slice instead (about 10 us per scattered row when the file is
    opened with ``rdcc_nbytes=0``, versus milliseconds with fancy indexing).

    Examples
    --------
    >>> import numpy as np
    >>> read_rows(np.arange(10) * 10, [7, 2, 3, 2]).tolist()   # NumPy arrays work too
    [70, 20, 30, 20]
    """
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    out = np.empty((len(idx), *data.shape[1:]), dtype=data.dtype)
    if len(idx) == 0:
        return out
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    breaks = np.flatnonzero(np.diff(sorted_idx) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(idx)]])
    for a, b in zip(starts.tolist(), stops.tolist()):
        lo = int(sorted_idx[a])
        out[order[a:b]] = data[lo : lo + (b - a)]
    return out


def is_store(path: str | os.PathLike, *, expect_kind: str | None = None) -> bool:
    """True when ``path`` is a finished cvtoolkit store (of ``expect_kind``, if given).

    Examples
    --------
    >>> is_store("no/such/file.h5")
    False
    """
    try:
        open_store(path, expect_kind=expect_kind).close()
    except StoreError:
        return False
    return True


@dataclass
class CommittedRows:
    """The rows an interrupted writer committed to a ``.partial`` store (see :func:`read_committed`)."""

    n_rows: int
    width: int
    labels: np.ndarray
    paths: list[str] | None


def read_committed(path: str | os.PathLike) -> CommittedRows | None:
    """The committed rows of a ``.partial`` feature store, or None when it cannot be read.

    Committed rows (``rows_committed``, written by
    :meth:`cvtoolkit.io.HDF5Writer.flush`) survive a SIGKILL of the writer;
    an interrupted extraction reads them here to continue after them
    (:mod:`cvtoolkit.features.extraction`). A file that is not HDF5, is
    damaged, or is locked by a running writer gives None, as does a store
    with no committed row.

    Examples
    --------
    >>> import os, tempfile
    >>> from cvtoolkit.io import HDF5Writer
    >>> path = os.path.join(tempfile.mkdtemp(), "f.h5")
    >>> w = HDF5Writer(path, kind="features", sample_shape=(2,), dtype="float32", class_names=["a", "b"])
    >>> w.add(np.zeros((3, 2), np.float32), [0, 1, 1])
    >>> w.flush(); w.abort(keep_partial=True)  # as a killed run leaves it
    >>> rows = read_committed(f"{path}.partial")
    >>> rows.n_rows, rows.width, rows.labels.tolist()
    (3, 2, [0, 1, 1])
    """
    try:
        with h5py.File(path, "r") as f:
            names = ["data", "labels"] + (["paths"] if "paths" in f else [])
            n = min([int(f.attrs.get("rows_committed", 0))] + [len(f[name]) for name in names])
            width = int(f["data"].shape[1]) if f["data"].ndim == 2 else 0
            labels = np.asarray(f["labels"][:n], np.int64)
            paths = [str(p) for p in f["paths"].asstr()[:n]] if "paths" in f else None
    except Exception as err:  # not an HDF5 file, damaged, locked by a running writer
        log.info("cannot read the committed rows of %s (%s)", path, err)
        return None
    if n == 0 or width == 0:
        return None
    return CommittedRows(n_rows=n, width=width, labels=labels, paths=paths)
