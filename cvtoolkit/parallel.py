"""The worker processes of a parallel extraction: joblib's reusable pool, started early.

Extraction with ``n_jobs = K`` (:func:`cvtoolkit.features.extract_to_store`,
``cvtoolkit extract --n-jobs K``) describes chunks in this process and in
``K - 1`` worker processes. A new worker spends a second or more importing
NumPy, OpenCV and scikit-learn before it can describe anything, a large
share of a job of a few thousand images. :func:`start_workers` starts them
and has them import at once, in the background, so that the imports
overlap work this process does anyway (its own imports, listing the files,
fitting a bag of visual words). The pool is joblib's process-wide reusable
one: later extractions in the same process find the workers warm.

Each worker watches the process that started it and exits within about a
second once that process is gone (:func:`watch_parent`): a ``SIGKILL``-ed
``cvtoolkit extract`` leaves no workers behind (loky's own idle timeout
would keep them for five minutes).

This module imports nothing heavy, so a command can call it first.

Examples
--------
>>> start_workers(1)  # one process: nothing to start
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

PARENT_POLL_S = 0.5
"""How often a worker checks that its parent is still alive (seconds)."""

_pool: Any = None  # the pool last handed out by worker_pool
_warmed: Any = None  # the pool start_workers last had import the describe path


def _parent_gone(parent: int) -> bool:
    if os.getppid() != parent:  # re-parented: the parent died
        return True
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists (another user's process would be a reused pid; the ppid check covers it)
        return False
    return False


def _watch(parent: int, interval: float) -> None:
    while not _parent_gone(parent):
        time.sleep(interval)
    os._exit(0)  # the parent was killed: nobody will collect our results


def watch_parent(parent: int, interval: float = PARENT_POLL_S) -> None:
    """Worker initializer: exit this process once ``parent`` is gone (a daemon thread polls every ``interval`` s).

    Examples
    --------
    >>> watch_parent(os.getppid())  # the test runner's parent is alive: nothing happens
    """
    thread = threading.Thread(target=_watch, args=(int(parent), float(interval)), name="cvtoolkit-parent-watch",
                              daemon=True)
    thread.start()


def worker_pool(n_workers: int) -> Any:
    """joblib's reusable pool of ``n_workers`` processes (an Executor with ``submit``).

    joblib's own factory, not loky's ``get_reusable_executor``: both hand out
    the one process-wide pool, and ``joblib.Parallel`` (used by the
    descriptors' own ``n_jobs``) cannot reuse a pool that loky created
    without joblib's temporary-folder set-up.
    """
    from joblib.executor import get_memmapping_executor

    global _pool
    _pool = get_memmapping_executor(n_workers, initializer=watch_parent, initargs=(os.getpid(),))
    return _pool


def stop_workers() -> None:
    """Stop the pool's workers now (a command that is done with them).

    Otherwise they idle until the interpreter exits, or for five minutes.
    """
    global _pool, _warmed
    if _pool is not None:
        _pool.shutdown(wait=True)
    _pool = _warmed = None


def _import_describe_path() -> None:
    """Import what :func:`cvtoolkit.features.chunks.describe_chunk` needs (runs in a worker)."""
    import cvtoolkit.data.image_io  # noqa: F401
    import cvtoolkit.features  # noqa: F401


def start_workers(n_jobs: int | None) -> None:
    """Start the ``n_jobs - 1`` workers of an extraction now; they import in the background.

    ``n_jobs`` follows joblib (None is 1, -1 all cores); 1 starts nothing.
    Returns at once.
    """
    from joblib import effective_n_jobs

    n_workers = max(1, int(effective_n_jobs(n_jobs))) - 1
    if n_workers < 1:
        return
    global _warmed
    pool = worker_pool(n_workers)
    if pool is _warmed:  # started (and warmed) already, e.g. by the command before extract_to_store
        return
    for _ in range(n_workers):
        pool.submit(_import_describe_path)
    _warmed = pool


# --------------------------------------------------------------------------- threads of classical rows

IN_PROCESS_FEATURES = frozenset({"raw", "color_stats", "hsv_hist", "hu"})
"""Descriptors cheaper per image than a worker's start-up: ``compare`` computes them in this process.

Measured on the digits set: ``raw`` describes 1797 images in about 20 ms,
while starting joblib's worker pool cost 2.5 to 5.9 s on the busy 2-core
machine (and counted in the row's time)."""


def native_thread_defaults() -> None:
    """Environment defaults for native thread pools, set before they load (the CLI calls this first).

    ``OMP_WAIT_POLICY=PASSIVE`` (unless the user set it): idle OpenMP
    threads sleep instead of spinning. On the busy 2-core machine a k-means
    codebook (21552 SIFT descriptors, 256 words, BLAS at one thread) took
    15.6 and 22.3 s with two spinning OpenMP threads against 10.9 and 5.4 s
    with one; with passive waiting two threads took 3.8 and 4.5 s.
    """
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def feature_jobs(features: str | None, n_jobs: int | None) -> int | None:
    """Processes for a descriptor in ``compare``: 1 for :data:`IN_PROCESS_FEATURES`, else ``n_jobs``.

    Examples
    --------
    >>> feature_jobs("raw", 4), feature_jobs("hog", 4)
    (1, 4)
    """
    return 1 if features in IN_PROCESS_FEATURES else n_jobs


class classical_fit_threads:  # noqa: N801 - used as a context manager, like threadpoolctl's
    """Native thread pools while a classical classifier fits or predicts.

    BLAS (OpenBLAS/MKL) runs at one thread: the classifiers' linear algebra
    is small (a few thousand samples), and BLAS threads spinning against the
    other processes of a busy machine made ``raw+logreg`` on digits take
    24.6 s with OpenBLAS's two threads against 0.37 s with one. The
    parallelism that pays comes from the estimators' own ``n_jobs``
    (forest trees, k-NN queries, calibration folds) and from OpenMP
    (``gradient_boosting``), which is limited to ``n_jobs`` threads.

    Examples
    --------
    >>> from threadpoolctl import threadpool_info
    >>> with classical_fit_threads(n_jobs=2):
    ...     all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    True
    """

    def __init__(self, n_jobs: int | None = None) -> None:
        self.n_jobs = n_jobs
        self._limits: list[Any] = []

    def __enter__(self) -> "classical_fit_threads":
        from joblib import effective_n_jobs
        from threadpoolctl import threadpool_limits

        openmp = max(1, int(effective_n_jobs(self.n_jobs)))
        self._limits = [threadpool_limits(limits=1, user_api="blas"),
                        threadpool_limits(limits=openmp, user_api="openmp")]
        return self

    def __exit__(self, *exc: Any) -> None:
        for limit in reversed(self._limits):
            limit.restore_original_limits()
        self._limits = []
