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
Where things live: the chunk unit (:class:`~cvtoolkit.features.chunks.ChunkSource`,
``plan_chunks``, ``decode_chunk``, ``describe_chunk``) in
:mod:`cvtoolkit.features.chunks`, imported by both schedulers; the resume
keys in :mod:`cvtoolkit.hashing`; reading a ``.partial`` store in
:func:`cvtoolkit.io.hdf5_reader.read_committed`. This module keeps the local
scheduler, the resume logic and :func:`extract_to_store`; every scheduler
runs this module's ``describe_chunk`` (the Dask one gets it as an argument).

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
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from cvtoolkit import hashing
from cvtoolkit.data.image_io import DECODER_VERSION, DEFAULT_MAX_PIXELS
from cvtoolkit.errors import DatasetError
from cvtoolkit.features.chunks import (  # noqa: F401  (the chunk unit; importable here as before)
    ChunkSource,
    Identity,
    decode_chunk,
    describe_chunk,
    describe_decoded,
    fit_needs_data,
    open_source,
    plan_chunks,
    single_process,
)
from cvtoolkit.features.local import AHEAD_BYTES, PREFETCH_CHUNKS, local_chunk_results  # noqa: F401
from cvtoolkit.parallel import start_workers

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 128
"""Images per chunk (decode, describe, write)."""

DEFAULT_FIT_SIZE = 2000
"""Images a stateful extractor (bag of visual words) is fitted on."""

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


# The names these had before cvtoolkit.features.chunks (tests and benches use them).
_Source = ChunkSource
_Identity = Identity
_open_source = open_source


def extractor_params(transformer: Any) -> dict[str, Any]:
    """The extractor's parameters as plain JSON values (for store attributes)."""
    return json.loads(json.dumps(hashing.stable_params(transformer), default=str))


def fitted_fingerprint(transformer: Any) -> str:
    """A hash of what ``transformer`` learned in ``fit`` ('' for stateless descriptors).

    A resumed extraction continues only when it is the same as the
    interrupted run's (see :func:`cvtoolkit.hashing.fitted_fingerprint`).

    Examples
    --------
    >>> from cvtoolkit.features import LBP
    >>> fitted_fingerprint(LBP())
    ''
    """
    from cvtoolkit.features.cache import is_stateless

    return hashing.fitted_fingerprint(transformer, stateless=is_stateless(transformer))


def samples_fingerprint(source: ChunkSource, order: np.ndarray) -> str:
    """A hash of the samples to describe, in order (:func:`cvtoolkit.hashing.samples_fingerprint`).

    A file replaced in place (same path, other content) changes its size or
    modification time, so a resumed extraction does not keep its old rows.
    """
    return hashing.samples_fingerprint(source, order)


@dataclass
class _Progress:
    """What an interrupted run left in ``out.partial``: whole chunks, already written."""

    rows: int
    width: int
    next_chunk: int
    counts: np.ndarray
    skipped: list[Any]


def _read_progress(partial: Path, source: ChunkSource, chunks: Sequence[tuple[int, int]], order: np.ndarray,
                   size: Any) -> _Progress | None:
    """The finished chunks of ``partial``, or None when it cannot be continued in this plan.

    The store is read by :func:`cvtoolkit.io.hdf5_reader.read_committed`
    (its layout lives in :mod:`cvtoolkit.io`); here its rows are matched to
    the chunks of this run.
    """
    from cvtoolkit.io.hdf5_reader import read_committed

    committed = read_committed(partial)
    if committed is None:
        log.info("no committed rows to continue in %s; starting over", partial)
        return None
    n, width, labels, paths = committed.n_rows, committed.width, committed.labels, committed.paths
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
        _, kept, skipped = describe_chunk(Identity(), kind, data, size, source.max_pixels)
        if len(kept):
            log.info("%s: files skipped by the interrupted run now decode; starting over", partial)
            return None
    counts = np.bincount(labels[labels >= 0], minlength=len(source.class_names))
    return _Progress(rows=n, width=width, next_chunk=done, counts=counts, skipped=list(skipped))


def _fit_extractor(transformer: Any, src: ChunkSource, order: np.ndarray, size: Any, fit_size: int,
                   seed: int) -> None:
    """Fit a stateful extractor on ``fit_size`` seeded samples of ``order`` (stateless ones: nothing)."""
    from cvtoolkit.features.cache import is_stateless

    if is_stateless(transformer):
        return
    if not fit_needs_data(transformer):
        transformer.fit(None)  # a pretrained backbone: fitting builds the model, no sample to decode
        return
    fit_idx = order
    if len(order) > fit_size:
        fit_idx = np.sort(np.random.default_rng(seed).choice(order, size=fit_size, replace=False))
    kind, data = src.payload(fit_idx)
    data, kept, _ = describe_chunk(Identity(), kind, data, size, src.max_pixels)
    labels = src.labels[fit_idx][kept]
    log.info("fitting %s on %d images", type(transformer).__name__, len(labels))
    transformer.fit(data, labels)


def _store_attrs(transformer: Any, name: str, src: ChunkSource, order: np.ndarray, image_size: Any,
                 max_pixels: int | None, batch_size: int, attrs: dict[str, Any] | None) -> dict[str, Any]:
    """The attributes of the feature store; those after ``batch_size`` decide whether a ``.partial`` resumes."""
    return {
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
    from cvtoolkit.io import HDF5Writer
    from cvtoolkit.io.hdf5_format import partial_path

    t0 = time.perf_counter()
    if scheduler is None:
        start_workers(n_jobs)  # they import while the files are listed (and a bag of words is fitted)
    src, size = open_source(source, image_size, progress, max_pixels)
    order = np.arange(len(src))
    if max_images is not None and max_images < len(src):
        rng = np.random.default_rng(seed)
        order = np.sort(rng.choice(len(src), size=int(max_images), replace=False))
    if len(order) == 0:
        raise DatasetError(f"{src.description}: no samples to extract.")

    _fit_extractor(transformer, src, order, size, fit_size, seed)
    hint = getattr(transformer, "preferred_image_size", None)
    if size is None and src.images is None and callable(hint):
        # A CNN backbone resizes every image to its input size: decode files straight to it, in the
        # decoding thread or worker (JPEGs at reduced DCT scale), not in the forward passes' thread.
        size = tuple(int(s) for s in hint())
        attrs = {**(attrs or {}), "decode_size": list(size)}

    jobs = effective_n_jobs(n_jobs)
    worker = single_process(transformer)
    chunks = plan_chunks(len(order), int(batch_size))
    jobs = max(1, min(jobs, len(chunks)))
    name = extractor or type(transformer).__name__
    store_attrs = _store_attrs(transformer, name, src, order, image_size, max_pixels, batch_size, attrs)
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
                results = distributed.dask_chunk_results(client, worker, src, chunks[first:], order, size,
                                                         describe=describe_chunk)
            else:
                results = local_chunk_results(worker, src, chunks[first:], order, size, jobs,
                                              describe=describe_chunk, decode=decode_chunk)
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
