"""Stream images or feature vectors into one HDF5 store, atomically and resumably.

:class:`HDF5Writer` buffers rows and appends them in chunks to resizable
datasets of ``<path>.partial``; :meth:`HDF5Writer.close` marks the file
complete and renames it to ``<path>``. A run killed half-way therefore never
leaves a file at ``<path>``, and the reader refuses a ``.partial``.

After each chunk the writer flushes the file and only then records
``rows_committed``; with ``resume=True`` a later writer with the same
parameters reopens the ``.partial``, drops anything past ``rows_committed``
and carries on (``writer.n_rows`` says how many rows to skip).

The file layout is described in :mod:`cvtoolkit.io.hdf5_format`.

Examples
--------
>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "feats.h5")
>>> with HDF5Writer(path, kind="features", sample_shape=(8,), dtype="float32",
...                 class_names=["cat", "dog"], attrs={"extractor": "hog"}) as w:
...     for start in range(0, 10, 4):
...         w.add(np.ones((min(4, 10 - start), 8)), np.zeros(min(4, 10 - start)))
...     w.n_rows
10
>>> from cvtoolkit.io import read_store
>>> read_store(path).images.shape
(10, 8)
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

import cvtoolkit
from cvtoolkit.errors import CvToolkitError, OutputError, StoreError
from cvtoolkit.io.atomic import fsync_path
from cvtoolkit.io.lock import holds_lock, output_lock
from cvtoolkit.io.hdf5_format import (
    BOOKKEEPING_ATTRS,
    FORMAT_VERSION,
    JSON_ATTRS_KEY,
    KINDS,
    encode_attr,
    needs_json,
    partial_path,
    plain,
)

log = logging.getLogger(__name__)

TARGET_CHUNK_BYTES = 1 << 20
"""Aim for HDF5 chunks of at most about 1 MiB (HDF5's default chunk cache size)."""

MAX_CHUNK_ROWS = 256
"""Most rows in one HDF5 chunk: keeps random row reads (shuffled batches) cheap."""

IDENTITY_DEFAULTS: dict[str, Any] = {
    "source": "",
    "preprocessing": "",
    "extractor": "",
    "extractor_params": {},
}
"""Metadata attributes every store has, with their default values."""


HEADROOM_BYTES = 1 << 20
"""Room kept beyond a chunk's own bytes for HDF5's metadata when checking free space."""


def _file_size_limit() -> int | None:
    """The soft ``RLIMIT_FSIZE`` of this process in bytes (None: unlimited or unknown)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY or soft < 0 else int(soft)


def write_error(path: Path, err: BaseException) -> OutputError:
    """One-line :class:`OutputError` for a failed HDF5 write (h5py puts the C ``errno`` in its message).

    Examples
    --------
    >>> str(write_error(Path("s.h5.partial"), RuntimeError("write failed (errno = 28, error message = 'x')")))
    'cannot write s.h5.partial: no space left on device; free some space or choose another location'
    """
    import errno as _errno
    import re

    from cvtoolkit.errors import one_line
    from cvtoolkit.io.outputs import describe_os_error

    code = getattr(err, "errno", None)
    if not code:
        found = re.search(r"errno = (\d+)", str(err))
        code = int(found.group(1)) if found else None
    if code:
        reason = describe_os_error(OSError(code, os.strerror(code)))
        if code == _errno.EFBIG:
            reason = "file too large (a file-size limit of this system or file system); choose another location"
    else:
        reason = one_line(err, limit=200)
    return OutputError(f"cannot write {path}: {reason}")


def storage_chunk_rows(sample_shape: Sequence[int], dtype: Any, chunk_rows: int) -> int:
    """Rows per HDF5 chunk: at most ``chunk_rows``, :data:`MAX_CHUNK_ROWS` and about 1 MiB.

    Examples
    --------
    >>> storage_chunk_rows((32, 32, 3), "uint8", 1024)
    256
    >>> storage_chunk_rows((224, 224, 3), "uint8", 1024)
    6
    """
    row_bytes = max(1, int(np.prod(sample_shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
    return int(max(1, min(chunk_rows, MAX_CHUNK_ROWS, TARGET_CHUNK_BYTES // row_bytes)))


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _to_attr(value: Any) -> Any:
    """Encode a metadata value for HDF5 (JSON for containers, ``str`` for unknown objects)."""
    if isinstance(value, (str, bool, int, float, np.generic)) or needs_json(value):
        return encode_attr(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    log.debug("storing attribute value of type %s as its str()", type(value).__name__)
    return str(value)


def _skipped_pair(item: Any) -> list[str]:
    """``[path, reason]`` of a ``SkippedFile`` or a ``(path, reason)`` pair."""
    if hasattr(item, "path") and hasattr(item, "reason"):
        return [os.fspath(item.path), str(item.reason)]
    path, reason = item
    return [os.fspath(path), str(reason)]


def _same(stored: Any, wanted: Any) -> bool:
    a, b = plain(stored), plain(wanted)
    if isinstance(a, list) or isinstance(b, list):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


class HDF5Writer:
    """Write rows of images or features into one HDF5 store, chunk by chunk.

    Parameters
    ----------
    path : path-like
        The final store. While writing, the file is ``<path>.partial``.
    kind : {"images", "features"}
        ``"images"``: ``uint8`` samples of shape ``(H, W, C)``;
        ``"features"``: float samples of shape ``(D,)``.
    sample_shape : tuple of int
        Shape of one row.
    dtype : dtype
        Stored type (``uint8`` for images; ``float32`` usually for features).
    class_names : sequence of str
        Name of each class, in label order.
    attrs : dict, optional
        Metadata: ``source``, ``preprocessing``, ``extractor``,
        ``extractor_params`` and any other keys (dicts and lists are stored
        as JSON). These identify the content: ``resume`` only continues a
        ``.partial`` whose metadata is the same. Results known only at the
        end (timings) go to :meth:`update_attrs`.
    chunk_rows : int
        Rows buffered in memory before they are written (and committed).
    with_paths : bool
        Store the source path of each row (``paths=`` becomes required in
        :meth:`add`).
    resume : bool
        Continue an interrupted ``<path>.partial`` written with the same
        parameters; otherwise (or when they differ) start from scratch.
        With ``resume=True`` an exception inside ``with`` keeps the
        ``.partial`` (with the rows added so far) for the next run.
    compression : {None, "gzip", "lzf"}
        HDF5 compression filter for ``data`` (off by default: speed).

    Attributes
    ----------
    n_rows : int
        Rows accepted so far (on disk plus buffered). Right after a resumed
        open, the rows already on disk: the caller skips that many.
    rows_committed : int
        Rows safely on disk.
    resumed_rows : int
        Rows recovered from an interrupted run (0 when starting fresh).
    skipped : list
        ``SkippedFile`` (or ``(path, reason)`` pairs) stored with the data.

    Raises
    ------
    ValueError
        Invalid ``kind``, ``sample_shape``, ``dtype`` or ``chunk_rows``.
    StoreError
        The ``.partial`` file cannot be created (permissions, another
        process writing it).

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "images.h5")
    >>> with HDF5Writer(path, kind="images", sample_shape=(8, 8, 3), dtype="uint8",
    ...                 class_names=["cat", "dog"], with_paths=True,
    ...                 attrs={"source": "pets/", "preprocessing": {"resize": 8}}) as w:
    ...     w.add(np.zeros((2, 8, 8, 3), np.uint8), [0, 1], paths=["a.jpg", "b.jpg"])
    >>> os.path.exists(path), os.path.exists(path + ".partial")
    (True, False)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        kind: str,
        sample_shape: Sequence[int],
        dtype: Any,
        class_names: Sequence[str],
        attrs: Mapping[str, Any] | None = None,
        chunk_rows: int = 1024,
        with_paths: bool = False,
        resume: bool = False,
        compression: str | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        shape = tuple(int(s) for s in sample_shape)
        if not shape or any(s <= 0 for s in shape):
            raise ValueError(f"sample_shape must be positive integers, got {tuple(sample_shape)!r}")
        dt = np.dtype(dtype)
        if kind == "images" and (dt != np.uint8 or len(shape) != 3):
            raise ValueError(
                f"an images store holds uint8 rows of shape (H, W, C); got dtype {dt} and "
                f"sample_shape {shape}. Convert images with cvtoolkit.data.to_rgb_uint8 first."
            )
        if kind == "features" and (dt.kind != "f" or len(shape) != 1):
            raise ValueError(
                f"a features store holds float rows of shape (D,); got dtype {dt} and "
                f"sample_shape {shape}. Flatten feature vectors and use dtype='float32'."
            )
        if int(chunk_rows) < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")

        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.kind = kind
        self.sample_shape = shape
        self.dtype = dt
        self.class_names = [str(c) for c in class_names]
        self.chunk_rows = int(chunk_rows)
        self.with_paths = bool(with_paths)
        self.resume = bool(resume)
        self.compression = compression
        self.skipped: list[Any] = []

        user = dict(attrs or {})
        bad = sorted(set(user) & set(BOOKKEEPING_ATTRS))
        if bad:
            raise ValueError(f"attrs {bad} are managed by the writer; leave them out")
        identity = {**IDENTITY_DEFAULTS, **user}
        self._identity = {key: _to_attr(value) for key, value in identity.items()}
        self._json_keys = sorted(k for k, v in identity.items() if needs_json(v))
        self._final_attrs: dict[str, Any] = {}

        self._file: h5py.File | None = None
        self._buf_rows: list[np.ndarray] = []
        self._buf_labels: list[np.ndarray] = []
        self._buf_paths: list[str] = []
        self._buffered = 0
        self.rows_committed = 0
        self.resumed_rows = 0
        self.closed = False
        # The exclusive lock comes before anything touches the .partial (another run may be writing it).
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(output_lock(self.path))
        try:
            self._open()
        except BaseException:
            self._lock.close()
            raise

    # ------------------------------------------------------------------ open
    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.resume and self.partial.exists():
            if self._reopen():
                return
        elif self.partial.exists():
            log.info("replacing leftover %s from an interrupted run", self.partial)
        try:
            self._file = h5py.File(self.partial, "w")
        except OSError as err:
            raise StoreError(
                f"cannot create {self.partial}: {err}. Check the folder is writable and that "
                "no other cvtoolkit process is writing the same store."
            ) from err
        self._create_layout()

    def _reopen(self) -> bool:
        """Reopen ``<path>.partial`` if it matches; False (and removed) when it does not."""
        try:
            f = h5py.File(self.partial, "a")
        except OSError as err:
            log.warning("cannot reopen %s to resume (%s); starting over", self.partial, err)
            self.partial.unlink(missing_ok=True)
            return False
        try:
            reason = self._mismatch(f)
            if not reason:
                names = ["data", "labels"] + (["paths"] if self.with_paths else [])
                n = min([int(plain(f.attrs.get("rows_committed", 0)))] + [len(f[name]) for name in names])
                for name in names:
                    if len(f[name]) != n:
                        f[name].resize(n, axis=0)  # drop rows of a chunk that was never committed
                f.attrs["rows_committed"] = n
                f.attrs["n_rows"] = n
                f.flush()
        except Exception as err:  # damaged by the crash
            reason = f"cannot read it ({err})"
        if reason:
            log.info("not resuming %s: %s; starting over", self.partial, reason)
            try:
                f.close()
            finally:
                self.partial.unlink(missing_ok=True)
            return False
        self._file = f
        self.rows_committed = self.resumed_rows = n
        log.info("resuming %s: %d rows already written", self.partial, n)
        return True

    def _mismatch(self, f: h5py.File) -> str:
        """Why an existing ``.partial`` cannot be continued ('' when it can)."""
        attrs = f.attrs
        if "data" not in f or "labels" not in f or "class_names" not in f:
            return "it is not a cvtoolkit store"
        if int(plain(attrs.get("format_version", -1))) != FORMAT_VERSION:
            return "different format_version"
        if plain(attrs.get("kind")) != self.kind:
            return f"kind {plain(attrs.get('kind'))!r} != {self.kind!r}"
        data = f["data"]
        if tuple(data.shape[1:]) != self.sample_shape:
            return f"sample_shape {tuple(data.shape[1:])} != {self.sample_shape}"
        if data.dtype != self.dtype:
            return f"dtype {data.dtype} != {self.dtype}"
        if ("paths" in f) != self.with_paths:
            return "with_paths differs"
        stored_names = [str(s) for s in f["class_names"].asstr()[...]]
        if stored_names != self.class_names:
            return "class_names differ"
        for key, value in self._identity.items():
            if key not in attrs or not _same(attrs[key], value):
                return f"attribute {key!r} differs"
        extra = sorted(set(attrs) - set(self._identity) - set(BOOKKEEPING_ATTRS))
        if extra:
            return f"it has attributes {extra} this writer was not given"
        return ""

    def _create_layout(self) -> None:
        f = self._file
        assert f is not None
        rows = storage_chunk_rows(self.sample_shape, self.dtype, self.chunk_rows)
        f.create_dataset(
            "data",
            shape=(0, *self.sample_shape),
            maxshape=(None, *self.sample_shape),
            dtype=self.dtype,
            chunks=(rows, *self.sample_shape),
            compression=self.compression,
        )
        f.create_dataset("labels", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(4096,))
        str_dt = h5py.string_dtype("utf-8")
        if self.with_paths:
            f.create_dataset("paths", shape=(0,), maxshape=(None,), dtype=str_dt, chunks=(1024,))
        f.create_dataset("class_names", data=np.array(self.class_names, dtype=object), dtype=str_dt)
        f.attrs["kind"] = self.kind
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["cvtoolkit_version"] = cvtoolkit.__version__
        f.attrs["created"] = _utc_now()
        f.attrs["complete"] = False
        f.attrs["n_rows"] = 0
        f.attrs["rows_committed"] = 0
        for key, value in self._identity.items():
            f.attrs[key] = value
        f.attrs[JSON_ATTRS_KEY] = json.dumps(self._json_keys)
        f.flush()

    # ------------------------------------------------------------------ write
    @property
    def n_rows(self) -> int:
        """Rows accepted so far: committed to disk plus buffered."""
        return self.rows_committed + self._buffered

    def add(self, rows: Any, labels: Any, paths: Sequence[str] | None = None) -> None:
        """Append rows (buffered; written every ``chunk_rows`` rows).

        Parameters
        ----------
        rows : array-like
            ``(k, *sample_shape)``, castable to the store's dtype
            (ints to ``uint8`` only when in range; no float to ``uint8``).
        labels : array-like of int
            ``(k,)`` indices into ``class_names``; ``-1`` for unlabelled.
        paths : sequence of str, optional
            ``k`` source paths; required when ``with_paths=True``.

        Raises
        ------
        ValueError
            Wrong shape, dtype, label range, or paths given/missing.
        """
        if self.closed:
            raise ValueError(f"writer for {self.path} is closed")
        arr = np.asarray(rows)
        if arr.ndim != 1 + len(self.sample_shape) or tuple(arr.shape[1:]) != self.sample_shape:
            raise ValueError(
                f"rows must have shape (k, {', '.join(map(str, self.sample_shape))}); got {arr.shape}. "
                "Pass a batch (use rows[None] for a single sample)."
            )
        arr = self._cast(arr)
        lab = np.asarray(labels).reshape(-1)
        if lab.size and lab.dtype.kind not in "iu":
            if lab.dtype.kind == "f" and np.all(lab == np.round(lab)):
                lab = lab.astype(np.int64)
            else:
                raise ValueError(f"labels must be integers, got dtype {lab.dtype}")
        lab = lab.astype(np.int64)
        if len(lab) != len(arr):
            raise ValueError(f"got {len(arr)} rows but {len(lab)} labels")
        if lab.size and (lab.min() < -1 or lab.max() >= len(self.class_names)):
            raise ValueError(
                f"labels must be in [-1, {len(self.class_names) - 1}] for {len(self.class_names)} "
                f"class names; got range [{lab.min()}, {lab.max()}]"
            )
        if self.with_paths:
            if paths is None or len(paths) != len(arr):
                raise ValueError(f"with_paths=True: pass one path per row ({len(arr)})")
            self._buf_paths.extend(os.fspath(p) for p in paths)
        elif paths is not None:
            raise ValueError("paths given but the writer was created with with_paths=False")
        if len(arr) == 0:
            return
        self._buf_rows.append(arr)
        self._buf_labels.append(lab)
        self._buffered += len(arr)
        if self._buffered >= self.chunk_rows:
            self.flush()

    def _cast(self, arr: np.ndarray) -> np.ndarray:
        if arr.dtype == self.dtype:
            return arr
        if arr.dtype.kind in "biu" and self.dtype.kind in "iu":
            info = np.iinfo(self.dtype)
            if arr.size and (arr.min() < info.min or arr.max() > info.max):
                raise ValueError(
                    f"values in [{arr.min()}, {arr.max()}] do not fit {self.dtype}; "
                    "rescale them before writing"
                )
            return arr.astype(self.dtype)
        if not np.can_cast(arr.dtype, self.dtype, casting="same_kind"):
            raise ValueError(
                f"cannot store {arr.dtype} rows in a {self.dtype} store without losing "
                "information; convert them first (images: cvtoolkit.data.to_rgb_uint8)"
            )
        return arr.astype(self.dtype)

    def flush(self) -> None:
        """Write buffered rows, flush the file, then record ``rows_committed``.

        Raises
        ------
        OutputError
            The write failed (full disk, file-size limit, I/O error): one
            line naming the file and the reason.
        """
        try:
            self._flush()
        except (OSError, RuntimeError) as err:  # h5py reports failed writes as either
            if isinstance(err, CvToolkitError):
                raise
            raise write_error(self.partial, err) from None

    def _check_room(self, n_bytes: int) -> None:
        """Refuse a write that cannot fit (free disk space, file-size limit) before HDF5 attempts it.

        A failed write leaves HDF5's in-memory state broken (with string
        datasets the interpreter can crash at exit), so a chunk that cannot
        fit is not written at all.
        """
        need = int(n_bytes) + HEADROOM_BYTES
        try:
            free = shutil.disk_usage(self.partial.parent if str(self.partial.parent) else ".").free
        except OSError:
            free = None
        if free is not None and free < need:
            raise OutputError(
                f"cannot write {self.partial}: no space left on device (the next {n_bytes / 2**20:.1f} MB chunk "
                f"does not fit in {free / 2**20:.1f} MB free); free some space or choose another location"
            )
        limit = _file_size_limit()
        if limit is not None:
            try:
                size = self.partial.stat().st_size
            except OSError:
                size = 0
            if size + need > limit:
                raise OutputError(
                    f"cannot write {self.partial}: file too large for this process's file-size limit "
                    f"({limit / 2**20:.1f} MB, ulimit -f); raise the limit or choose another location"
                )

    def _flush(self) -> None:
        if not self._buffered:
            return
        f = self._file
        assert f is not None
        block = np.concatenate(self._buf_rows) if len(self._buf_rows) > 1 else self._buf_rows[0]
        labels = np.concatenate(self._buf_labels)
        self._check_room(block.nbytes + labels.nbytes + sum(len(p) + 16 for p in self._buf_paths))
        n0, n1 = self.rows_committed, self.rows_committed + len(block)
        f["data"].resize(n1, axis=0)
        f["data"][n0:n1] = block
        f["labels"].resize(n1, axis=0)
        f["labels"][n0:n1] = labels
        if self.with_paths:
            f["paths"].resize(n1, axis=0)
            f["paths"][n0:n1] = np.array(self._buf_paths, dtype=object)
        f.flush()  # the rows are on disk before they are declared committed
        f.attrs["rows_committed"] = n1
        f.attrs["n_rows"] = n1
        f.flush()
        self.rows_committed = n1
        self._buf_rows, self._buf_labels, self._buf_paths = [], [], []
        self._buffered = 0

    def update_attrs(self, attrs: Mapping[str, Any] | None = None, **more: Any) -> None:
        """Set metadata written at :meth:`close` (not compared when resuming).

        Examples
        --------
        >>> # writer.update_attrs(elapsed_s=12.5, per_class={"cat": 10})
        """
        values = {**dict(attrs or {}), **more}
        bad = sorted(set(values) & set(BOOKKEEPING_ATTRS))
        if bad:
            raise ValueError(f"attrs {bad} are managed by the writer; leave them out")
        self._final_attrs.update(values)

    # ------------------------------------------------------------------ finish
    def close(self) -> Path:
        """Flush, mark the store complete and rename ``<path>.partial`` to ``<path>``.

        Returns
        -------
        pathlib.Path
            The final store path.

        Raises
        ------
        OutputError
            Writing the last rows or the metadata failed (full disk, ...).
        """
        if self.closed:
            return self.path
        try:
            return self._close()
        except (OSError, RuntimeError) as err:
            if isinstance(err, CvToolkitError):
                raise
            raise write_error(self.partial, err) from None

    def _close(self) -> Path:
        self.flush()
        f = self._file
        assert f is not None
        json_keys = set(json.loads(plain(f.attrs.get(JSON_ATTRS_KEY, "[]"))))
        for key, value in self._final_attrs.items():
            f.attrs[key] = _to_attr(value)
            if needs_json(value):
                json_keys.add(key)
        f.attrs[JSON_ATTRS_KEY] = json.dumps(sorted(json_keys))
        if self.skipped:
            pairs = [_skipped_pair(item) for item in self.skipped]
            if "skipped" in f:
                del f["skipped"]
            f.create_dataset("skipped", data=np.array(pairs, dtype=object), dtype=h5py.string_dtype("utf-8"))
        f.attrs["n_rows"] = self.rows_committed
        f.attrs["complete"] = True
        f.close()
        self._file = None
        fsync_path(self.partial)
        if not holds_lock(self.path):
            raise StoreError(
                f"lost the write lock of {self.path} (its lock file was removed or replaced); not renaming "
                f"{self.partial} into place. Run the command again."
            )
        os.replace(self.partial, self.path)
        fsync_path(self.path.parent)
        self.closed = True
        self._lock.close()
        log.debug("wrote %s (%d rows)", self.path, self.rows_committed)
        return self.path

    def abort(self, *, keep_partial: bool = False) -> None:
        """Stop writing; remove ``<path>.partial`` unless ``keep_partial``.

        With ``keep_partial=True`` buffered rows are committed first, so a
        resumed writer continues after them.
        """
        if self.closed:
            return
        self.closed = True
        if self._file is not None:
            if keep_partial:
                try:
                    self.flush()
                except Exception as err:  # what was committed before stays valid
                    log.warning("could not write the last %d buffered rows of %s: %s",
                                self._buffered, self.partial, err)
            try:
                self._file.close()
            except Exception:  # pragma: no cover - file already broken
                pass
            self._file = None
        if not keep_partial:
            self.partial.unlink(missing_ok=True)
        self._lock.close()

    def __enter__(self) -> "HDF5Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort(keep_partial=self.resume)
            return
        try:
            self.close()
        except BaseException:
            self.abort(keep_partial=self.resume)
            raise

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"HDF5Writer({str(self.path)!r}, kind={self.kind!r}, n_rows={self.n_rows}, {state})"


def write_store(
    dataset: Any,
    path: str | os.PathLike,
    *,
    chunk_rows: int = 1024,
    with_paths: bool | None = None,
    progress: bool = False,
    compression: str | None = None,
    **attrs: Any,
) -> Path:
    """Write a whole :class:`~cvtoolkit.data.dataset.Dataset` into one store.

    Parameters
    ----------
    dataset : Dataset
        Same-size images (``(N, H, W, C)`` ``uint8``) or features (``(N, D)``).
    path : path-like
        The store to write (replaced atomically if it exists).
    chunk_rows : int
        Rows per write.
    with_paths : bool, optional
        Store the source paths; default: when the dataset has them.
    progress : bool
        Show a ``tqdm`` progress bar on stderr.
    compression : {None, "gzip", "lzf"}
        HDF5 compression of ``data``.
    **attrs
        Extra metadata, added to ``dataset.attrs`` and ``source``.

    Returns
    -------
    pathlib.Path
        The store.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from cvtoolkit.data.dataset import Dataset
    >>> ds = Dataset(np.zeros((5, 4, 4, 3), np.uint8), [0, 1, 0, 1, 1], ["a", "b"])
    >>> out = write_store(ds, os.path.join(tempfile.mkdtemp(), "s.h5"), preprocessing="none")
    >>> out.name
    's.h5'
    """
    images = dataset.images
    if not hasattr(images, "shape") or getattr(images, "dtype", None) == object or len(images.shape) < 2:
        raise StoreError(
            f"cannot write {dataset.source or 'the dataset'} to {path}: a store needs samples of one "
            "size, but the images have different sizes. Load it with image_size=N (--image-size N)."
        )
    kind = dataset.kind
    dtype = np.uint8 if kind == "images" else np.float32
    if kind == "images" and images.dtype != np.uint8:
        raise StoreError(f"cannot write images of dtype {images.dtype} to {path}: expected uint8 RGB images")
    meta = {k: v for k, v in dict(dataset.attrs).items() if k not in BOOKKEEPING_ATTRS}
    meta.setdefault("source", dataset.source)
    meta.update(attrs)
    if with_paths is None:
        with_paths = dataset.paths is not None
    n = len(dataset)
    chunk = max(1, int(chunk_rows))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=f"writing {Path(path).name}", unit="rows", leave=False)
    try:
        with HDF5Writer(
            path,
            kind=kind,
            sample_shape=tuple(images.shape[1:]),
            dtype=dtype,
            class_names=dataset.class_names,
            attrs=meta,
            chunk_rows=chunk,
            with_paths=bool(with_paths),
            compression=compression,
        ) as writer:
            writer.skipped = list(dataset.skipped)
            for start in range(0, n, chunk):
                stop = min(n, start + chunk)
                writer.add(
                    np.asarray(images[start:stop], dtype=dtype),
                    dataset.labels[start:stop],
                    paths=dataset.paths[start:stop] if with_paths else None,
                )
                if bar is not None:
                    bar.update(stop - start)
    finally:
        if bar is not None:
            bar.close()
    return Path(path)

