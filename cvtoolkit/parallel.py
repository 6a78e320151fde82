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
    """Import what :func:`cvtoolkit.features.extraction.describe_chunk` needs (runs in a worker)."""
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
