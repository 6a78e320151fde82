"""Stream a dataset through a descriptor into an HDF5 feature store, in bounded memory.

:func:`extract_to_store` is the loop behind ``cvtoolkit extract``:

1. list the samples (a class-per-folder dataset is only listed, never held
   in memory; other specs are loaded with :func:`cvtoolkit.data.load_dataset`);
2. fit the extractor on a seeded sample when it learns something (a bag of
   visual words); stateless descriptors skip this;
3. cut the samples into chunks of ``batch_size``; each chunk is decoded,
   described and handed back by a worker (joblib processes when
   ``n_jobs > 1``: paths go in, feature rows come out, so little data
   crosses processes), and written, in order, by
   :class:`cvtoolkit.io.HDF5Writer`.

Memory holds at most about ``2 * n_jobs`` chunks of images at a time. With
``n_jobs = K`` the main process works too, beside ``K - 1`` worker
processes (:mod:`cvtoolkit.parallel`, started before the files are listed),
and runs ahead of them while they start, so the cores are busy from the
first second.
Chunks are fixed index ranges (:func:`plan_chunks`), described by
:func:`describe_chunk`, so other runners hand out the same units:
``scheduler=`` sends them to a Dask cluster
(:mod:`cvtoolkit.features.distributed`) and the store is the same.

Runs are resumable: the writer commits the rows of every chunk as it is
written (``rows_committed`` in ``out.partial``), so committed rows are always
whole chunks. Killed (even with SIGKILL) and started again with the same
settings, extraction reopens ``out.partial``, keeps those chunks and
describes only the rest; the finished store equals an uninterrupted run's.
Whether a ``.partial`` may be continued is decided by its identifying
attributes: the extractor and its parameters, the samples
(``samples_hash``), the image size, the chunk size and, for an extractor
that learns (a bag of visual words), a hash of what it learned
(``fitted_hash``): the refit on restart is seeded, so it normally learns the
same codebook; if it does not (``random_state=None``), the rows already
written are not mixed with new ones and extraction starts over.

Examples
--------
>>> import numpy as np, os, tempfile
>>> from cvtoolkit.data import Dataset
>>> from cvtoolkit.features import LBP
>>> from cvtoolkit.io import read_store
>>> ds = Dataset(np.zeros((5, 16, 16, 3), np.uint8), [0, 1, 0, 1, 0], ["cat", "dog"], source="toy")
>>> out = os.path.join(tempfile.mkdtemp(), "lbp.h5")
>>> summary = extract_to_store(LBP(P=8, R=1), ds, out, batch_size=2, progress=False)
>>> summary.n_rows, summary.n_features
(5, 10)
>>> stored = read_store(out)
>>> stored.images.shape, stored.class_names, stored.attrs["extractor"]
((5, 10), ['cat', 'dog'], 'LBP')
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from cvtoolkit.data.image_io import DECODER_VERSION, DEFAULT_MAX_PIXELS
from cvtoolkit.errors import DatasetError
from cvtoolkit.parallel import start_workers, worker_pool

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 128
"""Images per chunk (decode, describe, write)."""

DEFAULT_FIT_SIZE = 2000
"""Images a stateful extractor (bag of visual words) is fitted on."""

AHEAD_BYTES = 256 * 2**20
"""Features the main process may describe ahead of the workers, waiting to be written in order.

While the workers start (a second or more: each imports NumPy, OpenCV and
scikit-learn) the main process keeps describing later chunks; their
feature rows wait here until the earlier chunks come back.
"""


@dataclass
class ExtractionSummary:
    """What :func:`extract_to_store` wrote."""

    path: Path
    n_rows: int
    n_features: int
    class_names: list[str]
    class_counts: dict[str, int]
    skipped: list[Any]
    seconds: float
    extractor: str
    n_jobs: int
    attrs: dict[str, Any] = field(default_factory=dict)
    resumed_rows: int = 0
    scheduler: str | None = None

    @property
    def images_per_second(self) -> float:
        """Rows described per second by this run (rows resumed from an earlier run left out)."""
        done = self.n_rows - self.resumed_rows
        return done / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class _Source:
    """Samples to describe: file paths (decoded on demand) or images in memory."""

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

    def subset(self, indices: np.ndarray) -> "_Source":
        return _Source(
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


def _open_source(source: Any, image_size: Any, progress: bool, max_pixels: int | None = DEFAULT_MAX_PIXELS
                 ) -> tuple[_Source, Any]:
    """The samples, and the size chunks must still be resized to (None when already done)."""
    import functools

    from cvtoolkit.data import Dataset, describe_spec, list_image_folder, load_dataset

    make = functools.partial(_Source, max_pixels=max_pixels)
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
    if not isinstance(transformer, _Identity):
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


PREFETCH_CHUNKS = 2
"""Chunks decoded ahead of the one being described, in a thread, by a one-process extraction."""


def _prefetched(worker: Any, source: "_Source", chunks: Sequence[tuple[int, int]], order: np.ndarray,
                image_size: Any) -> Iterator[tuple[tuple[int, int], tuple]]:
    """One-process extraction with decoding overlapped: a thread decodes up to :data:`PREFETCH_CHUNKS` ahead.

    OpenCV's decoding and a CNN's forward pass both release the GIL, so the
    two overlap on two cores; the bound keeps memory at a few chunks.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    def decode(i: int) -> tuple:
        s, e = chunks[i]
        return decode_chunk(*source.payload(order[s:e]), image_size, source.max_pixels)

    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cvtoolkit-decode") as pool:
        try:
            submitted = 0
            for i in range(len(chunks)):
                while submitted < len(chunks) and submitted <= i + PREFETCH_CHUNKS:
                    pending.append(pool.submit(decode, submitted))
                    submitted += 1
                yield chunks[i], describe_chunk(worker, "decoded", pending.popleft().result())
        finally:
            for future in pending:
                future.cancel()


def extractor_params(transformer: Any) -> dict[str, Any]:
    """The extractor's parameters as plain JSON values (for store attributes)."""
    from cvtoolkit.features.cache import _params

    return json.loads(json.dumps(_params(transformer), default=str))


def _feed(h: Any, value: Any, depth: int = 0) -> None:
    """Add a learned value to the hash ``h`` (arrays by content, estimators by their learned state)."""
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        h.update(f"{arr.shape}{arr.dtype}".encode())
        h.update(arr.tobytes() if arr.dtype != object else repr(arr.tolist()).encode())
    elif isinstance(value, (str, bytes, bool, int, float, np.generic)) or value is None:
        h.update(repr(value).encode())
    elif isinstance(value, (list, tuple)):
        for item in value:
            _feed(h, item, depth)
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            h.update(str(key).encode())
            _feed(h, value[key], depth)
    elif hasattr(value, "get_weights"):  # a Keras model: its weights
        for w in value.get_weights():
            _feed(h, np.asarray(w), depth)
    elif hasattr(value, "get_params") and depth < 8:
        _learned(h, value, depth + 1)
    else:
        h.update(type(value).__qualname__.encode())


def _learned(h: Any, estimator: Any, depth: int) -> None:
    state = vars(estimator)
    for key in sorted(state):
        if key.endswith("_") and not key.startswith("_"):
            h.update(key.encode())
            _feed(h, state[key], depth)
    for key in ("transformer_list", "steps"):  # FeatureUnion, Pipeline: their fitted parts
        for item in state.get(key) or ():
            if isinstance(item, tuple) and len(item) >= 2 and hasattr(item[1], "get_params"):
                h.update(str(item[0]).encode())
                _learned(h, item[1], depth + 1)


def fitted_fingerprint(transformer: Any) -> str:
    """A hash of what ``transformer`` learned in ``fit`` ('' for stateless descriptors).

    Learned state is every public attribute ending in ``_`` (arrays by
    content, Keras models by their weights), in the transformer and in the
    parts of a ``FeatureUnion`` or ``Pipeline``. A resumed extraction
    continues only when it is the same as the interrupted run's.

    Examples
    --------
    >>> from cvtoolkit.features import LBP
    >>> fitted_fingerprint(LBP())
    ''
    """
    import hashlib

    from cvtoolkit.features.cache import is_stateless

    if is_stateless(transformer):
        return ""
    h = hashlib.blake2b(digest_size=12)
    _learned(h, transformer, 0)
    return h.hexdigest()


def samples_fingerprint(source: _Source, order: np.ndarray) -> str:
    """A hash of the samples to describe, in order: their paths with size and modification time, or pixels
    when in memory, and labels.

    A file replaced in place (same path, other content) changes its size or
    modification time, so a resumed extraction does not keep its old rows.
    """
    import hashlib

    h = hashlib.blake2b(digest_size=12)
    h.update(json.dumps(source.class_names).encode())
    h.update(np.asarray(source.labels)[order].astype(np.int64).tobytes())
    if source.images is None:
        assert source.paths is not None
        for i in order:
            path = os.fspath(source.paths[i])
            try:
                st = os.stat(path)
                stamp = f"{st.st_size}:{st.st_mtime_ns}"
            except OSError:  # gone: it will be skipped (and named) when described
                stamp = "missing"
            h.update(path.encode() + b"\x00" + stamp.encode() + b"\x00")
    else:
        for start in range(0, len(order), 1024):
            block = order[start:start + 1024]
            if isinstance(source.images, np.ndarray):
                _feed(h, source.images[block])
            else:
                for i in block:
                    _feed(h, np.asarray(source.images[i]))
    return h.hexdigest()


@dataclass
class _Progress:
    """What an interrupted run left in ``out.partial``: whole chunks, already written."""

    rows: int
    width: int
    next_chunk: int
    counts: np.ndarray
    skipped: list[Any]


def _read_progress(partial: Path, source: _Source, chunks: Sequence[tuple[int, int]], order: np.ndarray,
                   size: Any) -> _Progress | None:
    """The finished chunks of ``partial``, or None when it cannot be continued in this plan."""
    import h5py

    try:
        with h5py.File(partial, "r") as f:
            names = ["data", "labels"] + (["paths"] if "paths" in f else [])
            n = min([int(f.attrs.get("rows_committed", 0))] + [len(f[name]) for name in names])
            width = int(f["data"].shape[1]) if f["data"].ndim == 2 else 0
            labels = np.asarray(f["labels"][:n], np.int64)
            paths = [str(p) for p in f["paths"].asstr()[:n]] if "paths" in f else None
    except Exception as err:  # not an HDF5 file, damaged, locked by a running writer
        log.info("cannot read the progress of %s (%s); starting over", partial, err)
        return None
    if n == 0 or width == 0:
        return None
    batch = chunks[0][1] - chunks[0][0]
    if source.images is None:  # rows of files that decoded: find them in the plan
        if paths is None or source.paths is None:
            return None
        where = {os.fspath(source.paths[i]): j for j, i in enumerate(order)}
        positions = np.array([where.get(p, -1) for p in paths], np.int64)
        if positions.min() < 0 or np.any(np.diff(positions) <= 0):
            return None
        done = int(positions[-1]) // batch + 1
        stop = chunks[done - 1][1]
        missing = np.setdiff1d(np.arange(stop), positions)
    else:  # images in memory are never skipped: row j is sample j
        done, stop = n // batch + (n == len(order) and n % batch > 0), n
        if done == 0 or chunks[done - 1][1] != n:
            return None
        positions, missing = np.arange(n), np.zeros(0, np.int64)
    if not np.array_equal(labels, np.asarray(source.labels)[order[positions]]):
        return None
    skipped: list[Any] = []
    if len(missing):  # the files an interrupted run skipped: ask them again why
        kind, data = source.payload(order[missing])
        _, kept, skipped = describe_chunk(_Identity(), kind, data, size, source.max_pixels)
        if len(kept):
            log.info("%s: files skipped by the interrupted run now decode; starting over", partial)
            return None
    counts = np.bincount(labels[labels >= 0], minlength=len(source.class_names))
    return _Progress(rows=n, width=width, next_chunk=done, counts=counts, skipped=list(skipped))


class _Identity:
    """A "transformer" that hands back the decoded images (to load a fitting sample)."""

    def transform(self, images: Any) -> Any:
        return images


def _chunk_results(worker: Any, source: _Source, chunks: Sequence[tuple[int, int]], order: np.ndarray,
                   image_size: Any, n_jobs: int) -> Iterator[tuple[tuple[int, int], tuple]]:
    """``((start, stop), describe_chunk(...))`` for every chunk, in order.

    With ``n_jobs > 1`` the chunks go to ``n_jobs - 1`` worker processes
    (loky, as joblib uses) *and* the main process: it describes a chunk
    itself whenever the workers are busy, so no core idles while the
    workers start (importing NumPy, OpenCV and scikit-learn takes a second
    or two, a large share of a short extraction). At most ``2 * (n_jobs - 1)``
    chunks of images are in the workers' hands; the main process may run
    ahead of them by up to :data:`AHEAD_BYTES` of features, which wait to
    be written in order.
    """

    def local(i: int) -> tuple:
        s, e = chunks[i]
        return describe_chunk(worker, *source.payload(order[s:e]), image_size, source.max_pixels)

    if n_jobs <= 1 or len(chunks) <= 1:
        if len(chunks) > 1:
            yield from _prefetched(worker, source, chunks, order, image_size)
            return
        for i in range(len(chunks)):
            yield chunks[i], local(i)
        return
    from collections import deque

    executor = worker_pool(n_jobs - 1)
    window = 2 * (n_jobs - 1)
    pending: deque = deque()  # (chunk index, future), in submission order
    done_here: dict[int, tuple] = {}
    submitted = 0
    out = 0
    here = 0
    held = 0  # bytes of features described here, waiting for earlier chunks from the workers
    try:
        while out < len(chunks):
            while submitted < len(chunks) and len(pending) < window:
                s, e = chunks[submitted]
                kind, data = source.payload(order[s:e])
                pending.append((submitted, executor.submit(describe_chunk, worker, kind, data, image_size,
                                                               source.max_pixels)))
                submitted += 1
            ready = False
            while out < len(chunks):
                if out in done_here:
                    result = done_here.pop(out)
                    held -= result[0].nbytes
                    yield chunks[out], result
                elif pending and pending[0][0] == out and pending[0][1].done():
                    yield chunks[out], pending.popleft()[1].result()
                else:
                    break
                out += 1
                ready = True
            if ready or out >= len(chunks):
                continue
            if submitted < len(chunks) and (len(done_here) < window or held < AHEAD_BYTES):
                done_here[submitted] = local(submitted)  # the workers are busy: work here too
                held += done_here[submitted][0].nbytes
                submitted += 1
                here += 1
            else:  # the next chunk to write is the oldest one in a worker: wait for it
                pending[0][1].result(timeout=None)
    finally:
        for _, future in pending:
            future.cancel()
        log.debug("%d chunks described in the main process, %d in %d worker process(es)",
                  here, submitted - here, n_jobs - 1)


def extract_to_store(
    transformer: Any,
    source: Any,
    out: str | os.PathLike,
    *,
    image_size: int | tuple[int, int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    n_jobs: int | None = None,
    max_images: int | None = None,
    fit_size: int = DEFAULT_FIT_SIZE,
    seed: int = 42,
    extractor: str | None = None,
    attrs: dict[str, Any] | None = None,
    progress: bool = True,
    resume: bool = True,
    scheduler: Any = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> ExtractionSummary:
    """Describe every image of ``source`` with ``transformer`` into the feature store ``out``.

    Parameters
    ----------
    transformer : scikit-learn transformer
        Unfitted or fitted; stateful ones (not :func:`~cvtoolkit.features.cache.is_stateless`)
        are fitted here on ``fit_size`` seeded samples.
    source : str, Dataset or FolderListing
        A dataset spec (a class-per-folder directory is streamed from disk),
        a :class:`~cvtoolkit.data.Dataset` of images, or a folder listing.
    out : path
        The ``.h5`` store to write (atomically: ``out.partial`` until complete).
    image_size : int or (height, width), optional
        Resize images to this when decoding.
    batch_size : int
        Samples per chunk.
    n_jobs : int, optional
        Processes describing chunks (each decodes and describes whole
        chunks): the main process plus ``n_jobs - 1`` workers; None is 1,
        -1 all cores. Results do not depend on it.
    max_images : int, optional
        Describe a seeded random subset of this many samples (kept in
        dataset order), for quick runs.
    fit_size : int
        Samples a stateful extractor is fitted on.
    seed : int
        Seed of the ``max_images`` subset and of the fitting sample.
    extractor : str, optional
        Name stored in the ``extractor`` attribute (default: the class name).
    attrs : dict, optional
        Extra store attributes.
    progress : bool
        tqdm progress bars on stderr.
    resume : bool
        Continue the ``out.partial`` an interrupted run with the same
        settings left (its finished chunks are not described again), and
        keep ``out.partial`` if this run fails. False: start over.
    scheduler : str or distributed.Client, optional
        Describe the chunks on a Dask cluster: ``"local:N"`` (a
        ``LocalCluster`` of ``N`` processes started for the run), a
        scheduler address ``"tcp://HOST:PORT"``, or a client. ``n_jobs`` is
        then ignored. The store is the same as a local run's. See
        :mod:`cvtoolkit.features.distributed`.
    max_pixels : int or None
        Image files of more than this many pixels (width x height) are
        skipped and named, as decompression bombs; None: no limit.

    Returns
    -------
    ExtractionSummary

    Raises
    ------
    DatasetError
        The source is unusable or no image could be read.
    """
    from tqdm.auto import tqdm

    from cvtoolkit.features.base import effective_n_jobs
    from cvtoolkit.features.cache import is_stateless
    from cvtoolkit.io import HDF5Writer
    from cvtoolkit.io.hdf5_format import partial_path

    t0 = time.perf_counter()
    if scheduler is None:
        start_workers(n_jobs)  # they import while the files are listed (and a bag of words is fitted)
    src, size = _open_source(source, image_size, progress, max_pixels)
    order = np.arange(len(src))
    if max_images is not None and max_images < len(src):
        rng = np.random.default_rng(seed)
        order = np.sort(rng.choice(len(src), size=int(max_images), replace=False))
    if len(order) == 0:
        raise DatasetError(f"{src.description}: no samples to extract.")

    if not is_stateless(transformer) and not fit_needs_data(transformer):
        transformer.fit(None)  # a pretrained backbone: fitting builds the model, no sample to decode
    elif not is_stateless(transformer):
        fit_idx = order
        if len(order) > fit_size:
            fit_idx = np.sort(np.random.default_rng(seed).choice(order, size=fit_size, replace=False))
        kind, data = src.payload(fit_idx)
        data, kept, _ = describe_chunk(_Identity(), kind, data, size, src.max_pixels)
        labels = src.labels[fit_idx][kept]
        log.info("fitting %s on %d images", type(transformer).__name__, len(labels))
        transformer.fit(data, labels)

    jobs = effective_n_jobs(n_jobs)
    worker = single_process(transformer)
    chunks = plan_chunks(len(order), int(batch_size))
    jobs = max(1, min(jobs, len(chunks)))
    name = extractor or type(transformer).__name__
    store_attrs = {
        "source": src.description,
        "preprocessing": src.preprocessing,
        "extractor": name,
        "extractor_class": f"{type(transformer).__module__}.{type(transformer).__qualname__}",
        "extractor_params": extractor_params(transformer),
        "image_size": "native" if image_size is None else image_size,
        "max_pixels": int(max_pixels or 0),  # 0: no limit
        # What the rows depend on, compared before an interrupted run is continued:
        "batch_size": int(batch_size),
        "samples_hash": samples_fingerprint(src, order),
        "fitted_hash": fitted_fingerprint(transformer),
        "decoder_version": DECODER_VERSION,  # cvtoolkit.data.image_io: files decoded by another version differ
        **(attrs or {}),
    }
    writer: HDF5Writer | None = None

    def open_writer(width: int, resuming: bool) -> HDF5Writer:
        return HDF5Writer(out, kind="features", sample_shape=(width,), dtype="float32",
                          class_names=src.class_names, attrs=store_attrs, with_paths=src.paths is not None,
                          resume=resuming)

    skipped: list[Any] = list(src.skipped)
    counts = np.zeros(len(src.class_names), np.int64)
    first = 0
    partial = partial_path(out)
    if resume and partial.exists():
        done = _read_progress(partial, src, chunks, order, size)
        if done is not None:
            writer = open_writer(done.width, True)
            if writer.resumed_rows != done.rows:  # made with other settings: the writer started over
                writer.abort()
                writer = None
            else:
                first, counts = done.next_chunk, done.counts.astype(np.int64)
                skipped.extend(done.skipped)
                log.info("resuming %s: %d rows (%d of %d chunks) already written", partial, done.rows, first,
                         len(chunks))
    resumed = writer.resumed_rows if writer is not None else 0
    bar = tqdm(total=len(order), initial=chunks[first - 1][1] if first else 0, desc=f"extracting {name}",
               unit="img", disable=not progress, leave=False, file=sys.stderr)
    run_info: dict[str, Any] = {}
    try:
        with contextlib.ExitStack() as stack:
            if scheduler is not None:
                from cvtoolkit.features import distributed

                client = stack.enter_context(distributed.dask_client(scheduler))
                jobs = distributed.n_workers(client)
                run_info["scheduler"] = distributed.scheduler_name(scheduler)
                results = distributed.dask_chunk_results(client, worker, src, chunks[first:], order, size)
            else:
                results = _chunk_results(worker, src, chunks[first:], order, size, jobs)
            for (s, e), (X, kept, chunk_skipped) in results:
                skipped.extend(chunk_skipped)
                bar.update(e - s)
                if len(kept) == 0:
                    continue
                rows = order[s:e][kept]
                if writer is None:
                    writer = open_writer(X.shape[1], False)
                labels = src.labels[rows]
                writer.add(X, labels, paths=None if src.paths is None else [src.paths[i] for i in rows])
                writer.flush()  # commit every chunk: a restart continues after it
                counts += np.bincount(labels[labels >= 0], minlength=len(counts))
        if writer is None:
            raise DatasetError(
                f"{src.description}: none of the {len(order)} images could be read "
                f"(first problem: {skipped[0] if skipped else 'unknown'})."
            )
        seconds = time.perf_counter() - t0
        writer.skipped.extend(skipped)
        writer.update_attrs(seconds=round(seconds, 3),
                            images_per_second=round((writer.n_rows - resumed) / seconds, 2),
                            n_jobs=jobs, resumed_rows=resumed, **run_info)
        n_rows, n_features = writer.n_rows, writer.sample_shape[0]
        path = writer.close()
    except BaseException:
        if writer is not None:
            writer.abort(keep_partial=resume)
            if resume:
                log.info("kept %s (%d rows committed): the same command continues it", partial,
                         writer.rows_committed)
        raise
    finally:
        bar.close()
    summary = ExtractionSummary(
        path=Path(path), n_rows=n_rows, n_features=n_features, class_names=list(src.class_names),
        class_counts={c: int(k) for c, k in zip(src.class_names, counts)}, skipped=skipped,
        seconds=seconds, extractor=name, n_jobs=jobs, attrs=store_attrs, resumed_rows=resumed,
        scheduler=run_info.get("scheduler"),
    )
    log.info("wrote %s: %d x %d features in %.1fs (%.0f images/s)%s", path, n_rows, n_features, seconds,
             summary.images_per_second, f", resumed after {resumed} rows" if resumed else "")
    return summary
