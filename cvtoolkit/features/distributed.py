"""Feature extraction, and classifier searches, on a Dask cluster.

``cvtoolkit extract ... --scheduler tcp://HOST:PORT`` (an existing
``dask.distributed`` scheduler) or ``--scheduler local:N`` (a
``LocalCluster`` of ``N`` single-threaded worker processes started for the
run) hands the chunks of :func:`~cvtoolkit.features.chunks.plan_chunks`
to the workers:

- the extractor is fitted once in the client (a bag of visual words learns
  its codebook there) and *scattered* to every worker, so all workers
  describe with the same fitted state;
- a task is one chunk: a list of image paths goes in, each worker decodes
  its images itself and returns the feature rows
  (:func:`~cvtoolkit.features.chunks.describe_chunk`), so no pixels
  cross the network for a folder dataset;
- the client writes the rows in chunk order through the single
  :class:`~cvtoolkit.io.HDF5Writer`, as results arrive (a reorder buffer),
  with at most ``window`` chunks in flight or waiting, so memory stays
  bounded however large the dataset.

The store is therefore the same as a local run's: same rows, same order,
same ``float32`` values, and it resumes the same way after a crash.

Classifier searches (``GridSearchCV``, :func:`cvtoolkit.classifiers.fit_with_search`)
run on the same cluster through joblib's Dask backend: see
:func:`joblib_on_dask`.

Workers of a remote cluster need cvtoolkit (same version) installed and
must see the image files: relative paths are made absolute against the
client's working directory before they are sent, so a shared file system
mounted at the same place is what is needed.

Examples
--------
>>> parse_scheduler("local:2"), parse_scheduler("tcp://10.0.0.5:8786")
(('local', 2), ('address', 'tcp://10.0.0.5:8786'))

A run on a throw-away local cluster (not executed here: starting worker
processes takes seconds)::

    from cvtoolkit.features import make_features
    from cvtoolkit.features.extraction import extract_to_store
    extract_to_store(make_features("hog"), "datasets/animals", "animals.h5", scheduler="local:2")
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import uuid
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from cvtoolkit.errors import SchedulerError  # noqa: F401  (defined in cvtoolkit.errors; importable here as before)

log = logging.getLogger(__name__)

__all__ = [
    "SchedulerError",
    "dask_chunk_results",
    "dask_client",
    "joblib_on_dask",
    "n_workers",
    "parse_scheduler",
    "scheduler_name",
]


KEEP_MALLOC_DEFAULTS = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
"""Dask setting unset for the workers of ``local:N`` (see :func:`dask_client`)."""


def parse_scheduler(spec: str) -> tuple[str, Any]:
    """``("local", n_workers)`` or ``("address", address)`` for a ``--scheduler`` value.

    ``local`` alone means one worker per CPU core; ``local:N`` means ``N``
    workers. Anything with ``://`` is the address of a running scheduler
    (``tcp://HOST:PORT``, ``tls://...``).

    Raises
    ------
    SchedulerError
        The value is neither form.

    Examples
    --------
    >>> parse_scheduler("local")
    ('local', None)
    >>> parse_scheduler(" local:3 ")
    ('local', 3)
    """
    text = str(spec).strip()
    if "://" in text:
        return "address", text
    kind, sep, count = text.partition(":")
    if kind.lower() == "local":
        if not sep:
            return "local", None
        try:
            n = int(count)
        except ValueError:
            n = 0
        if n >= 1:
            return "local", n
    raise SchedulerError(
        f"--scheduler {spec!r}: expected local, local:N (N >= 1 worker processes) or the address of a "
        "running Dask scheduler such as tcp://HOST:8786"
    )


def _start_client(scheduler: str, cluster_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """``(client, cluster or None)`` for a scheduler spec."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - dask[distributed] is a dependency
        raise SchedulerError(
            f"--scheduler needs dask.distributed, which cannot be imported ({err}); "
            "install it with pip install 'dask[distributed]'"
        ) from err
    import dask

    kind, value = parse_scheduler(scheduler)
    if kind == "local":
        n = value or os.cpu_count() or 1
        options = {"n_workers": n, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
        options.update(cluster_kwargs)
        log.info("starting a local Dask cluster of %d worker process(es)", n)
        # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also freezes glibc's mmap threshold
        # at 128 KiB: every large NumPy temporary is then a fresh mmap, and describing images cost about
        # 1.8x the CPU of the same code in this process (12x the page faults). Workers keep glibc's default.
        with dask.config.set({KEEP_MALLOC_DEFAULTS: None}):
            cluster = LocalCluster(**options)
        try:
            return Client(cluster), cluster
        except BaseException:
            cluster.close()
            raise
    try:
        return Client(value, timeout=cluster_kwargs.get("timeout", "30s")), None
    except (OSError, TimeoutError) as err:
        raise SchedulerError(
            f"cannot reach the Dask scheduler at {value} ({err}); start one with `dask scheduler` "
            "(and workers with `dask worker " + value + "`) or use --scheduler local:N"
        ) from err


@contextlib.contextmanager
def dask_client(scheduler: Any, **cluster_kwargs: Any) -> Iterator[Any]:
    """A ``distributed.Client`` for ``scheduler``, closed on exit if started here.

    Parameters
    ----------
    scheduler : str or distributed.Client
        ``local``, ``local:N``, a scheduler address, or a client you already
        have (yielded as is and left open).
    **cluster_kwargs
        Extra ``LocalCluster`` keywords for ``local`` (``memory_limit=``, ...).

    Notes
    -----
    The workers of ``local``/``local:N`` have one thread each (descriptors
    are single-threaded; more processes, not threads, use more cores) and
    start without Dask's ``MALLOC_TRIM_THRESHOLD_`` setting, which makes
    NumPy-heavy tasks page-fault on every large temporary (about 1.8x the
    CPU time measured on HOG + LBP + colour histograms). For workers you
    start yourself, ``dask config`` ``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_: null``
    does the same.

    Examples
    --------
    Not run as a doctest (it starts a cluster)::

        with dask_client("local:1") as client:
            n_workers(client)  # 1
    """
    if not isinstance(scheduler, (str, os.PathLike)):
        yield scheduler
        return
    client, cluster = _start_client(os.fspath(scheduler), dict(cluster_kwargs))
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def scheduler_name(scheduler: Any) -> str:
    """How a scheduler is recorded in a store: the spec as given, or a client's scheduler address.

    Examples
    --------
    >>> scheduler_name("local:2")
    'local:2'
    """
    if isinstance(scheduler, (str, os.PathLike)):
        return os.fspath(scheduler)
    address = getattr(getattr(scheduler, "scheduler", None), "address", None)
    return str(address or type(scheduler).__name__)


def n_workers(client: Any, *, wait: float = 30.0) -> int:
    """Workers connected to ``client``'s scheduler (waits up to ``wait`` s for the first one)."""
    workers = client.scheduler_info().get("workers", {})
    if not workers:
        try:
            client.wait_for_workers(1, timeout=wait)
        except (TimeoutError, OSError) as err:
            raise SchedulerError(
                f"the Dask scheduler {client.scheduler.address} has no workers after {wait:.0f}s ({err}); "
                "start some with `dask worker ADDRESS`"
            ) from err
        workers = client.scheduler_info().get("workers", {})
    return max(1, len(workers))


def _absolute(kind: str, data: Any) -> tuple[Any, dict[str, str]]:
    """Paths made absolute for workers, and the way back to the caller's spelling."""
    if kind != "paths":
        return data, {}
    absolute = [os.path.abspath(p) for p in data]
    back = {a: p for a, p in zip(absolute, data) if a != p}
    return absolute, back


def _restore_paths(result: tuple, back: dict[str, str]) -> tuple:
    if not back:
        return result
    X, kept, skipped = result
    fixed = []
    for item in skipped:
        path = getattr(item, "path", None)
        if path in back and dataclasses.is_dataclass(item):
            item = dataclasses.replace(item, path=back[path])
        fixed.append(item)
    return X, kept, fixed


def dask_chunk_results(client: Any, worker: Any, source: Any, chunks: Sequence[tuple[int, int]],
                       order: np.ndarray, image_size: Any, *, window: int | None = None,
                       describe: Callable[..., tuple] | None = None) -> Iterator[tuple[tuple[int, int], tuple]]:
    """``((start, stop), describe_chunk(...))`` for every chunk, in order, computed on Dask workers.

    The same contract as the local loop of
    :mod:`cvtoolkit.features.local`: ``chunks`` are ``(start, stop)``
    ranges into ``order`` (positions in ``source``), and each result is
    ``(features, kept, skipped)``.

    Parameters
    ----------
    client : distributed.Client
    worker : transformer
        The fitted, single-process extractor; scattered once to every worker.
    source : cvtoolkit.features.chunks.ChunkSource
        Its ``payload(indices)`` gives ``("paths", [...])`` (decoded by the
        workers) or ``("images", array)`` for a dataset already in memory.
    chunks, order, image_size
        As the local loop.
    window : int, optional
        Most chunks submitted but not yet written (default twice the
        number of workers, at least 2): bounds the client's memory.
    describe : callable, optional
        What a worker runs on one chunk (default
        :func:`cvtoolkit.features.chunks.describe_chunk`);
        :func:`~cvtoolkit.features.extraction.extract_to_store` passes its
        module's ``describe_chunk``, so both schedulers run the same function.
    """
    from distributed import as_completed

    from cvtoolkit.features.chunks import describe_chunk

    describe = describe or describe_chunk
    if not chunks:
        return
    workers = n_workers(client)
    window = max(2, int(window) if window else 2 * workers)
    remote = client.scatter(worker, broadcast=True, hash=False)
    run = uuid.uuid4().hex[:8]
    pending: dict[Any, tuple[int, dict[str, str]]] = {}
    ready: dict[int, tuple] = {}
    stream = as_completed()
    submitted = written = 0

    def submit(i: int) -> None:
        s, e = chunks[i]
        kind, data = source.payload(order[s:e])
        data, back = _absolute(kind, data)
        future = client.submit(describe, remote, kind, data, image_size, source.max_pixels,
                               key=f"describe-chunk-{run}-{i}", pure=False)
        pending[future] = (i, back)
        stream.add(future)

    try:
        while submitted < len(chunks) and submitted < window:
            submit(submitted)
            submitted += 1
        for future in stream:
            i, back = pending.pop(future)
            ready[i] = _restore_paths(future.result(), back)  # a worker's exception is raised here
            future.release()
            while written in ready:
                yield chunks[written], ready.pop(written)
                written += 1
            while submitted < len(chunks) and submitted - written < window:
                submit(submitted)
                submitted += 1
    finally:
        if pending:
            client.cancel(list(pending))
        with contextlib.suppress(Exception):
            client.cancel([remote])
        log.debug("%d of %d chunks described on %d Dask worker(s)", written, len(chunks), workers)


@contextlib.contextmanager
def joblib_on_dask(scheduler: Any, **backend_kwargs: Any) -> Iterator[Any]:
    """Run joblib-parallel code (scikit-learn searches) on a Dask cluster.

    Inside the block, ``n_jobs=-1`` in ``GridSearchCV``,
    ``RandomizedSearchCV``, :func:`cvtoolkit.classifiers.fit_with_search`
    or any ``joblib.Parallel`` sends the fits to the cluster's workers
    (``joblib.parallel_backend("dask")``). Yields the client.

    Parameters
    ----------
    scheduler : str or distributed.Client
        As :func:`dask_client` (``local:N``, an address, or a client, e.g.
        the one an extraction used).
    **backend_kwargs
        Passed to joblib's Dask backend (``scatter=[X, y]`` sends the
        training data to the workers once).

    Examples
    --------
    Not run as a doctest (it starts a cluster)::

        from sklearn.model_selection import GridSearchCV
        with joblib_on_dask("local:2"):
            GridSearchCV(make_classifier("knn"), search_space("knn"), n_jobs=-1).fit(X, y)
    """
    import joblib

    with dask_client(scheduler) as client:
        with joblib.parallel_backend("dask", client=client, **backend_kwargs):
            yield client
