"""One writer per output: an exclusive lock file beside the file being written.

Two runs writing the same ``--out`` would otherwise truncate each other's
``.partial`` and one of them would rename a corrupt file into place.
:func:`output_lock` takes an exclusive, non-blocking lock on
``.NAME.lock`` (beside ``NAME``) before anything touches ``NAME.partial``;
the second run fails at once with :class:`~cvtoolkit.errors.StoreError`
naming the process that holds it.

On POSIX the lock is ``fcntl.flock`` on the lock file: the kernel releases
it when the holding process dies (even on ``SIGKILL``), so a stale lock file
never blocks a later run. Elsewhere the lock file is created with
``O_EXCL`` and holds the owner's PID; a lock whose PID is no longer
running is taken over.

Locks are re-entrant within a process (the command takes the lock, the
writer it calls takes it again), and :func:`holds_lock` lets a writer
re-check, just before its final rename, that the lock is still its own.

Examples
--------
>>> import os, tempfile
>>> target = os.path.join(tempfile.mkdtemp(), "feats.h5")
>>> with output_lock(target):
...     holds_lock(target)
True
>>> holds_lock(target)
False
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from pathlib import Path
from typing import Iterator

from cvtoolkit.errors import StoreError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

_held: dict[str, list] = {}  # lock path -> [fd, depth, inode]


def lock_path_for(path: str | os.PathLike) -> Path:
    """The lock file of ``path``: ``.NAME.lock`` in the same folder.

    Examples
    --------
    >>> lock_path_for("/data/out/feats.h5").name
    '.feats.h5.lock'
    """
    p = Path(os.path.abspath(os.fspath(path)))
    return p.with_name(f".{p.name}.lock")


def _owner(lock: Path) -> str:
    try:
        text = lock.read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""


def _busy(path: Path, lock: Path) -> StoreError:
    return StoreError(
        f"{path} is being written by another cvtoolkit process{_owner(lock)}; wait for it to finish or "
        f"choose another --out (lock file {lock})."
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _acquire_flock(path: Path, lock: Path) -> tuple[int, int]:
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise _busy(path, lock) from None
            raise
        # The holder before us may have removed the file after we opened it: lock the file at the path.
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd, os.fstat(fd).st_ino
        os.close(fd)


def _acquire_excl(path: Path, lock: Path) -> tuple[int, int]:  # pragma: no cover - no fcntl
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            text = _owner(lock)
            pid = int(text.strip(" ()pid") or 0) if text else 0
            if pid and _pid_alive(pid):
                raise _busy(path, lock) from None
            log.info("removing stale lock %s%s", lock, text)
            lock.unlink(missing_ok=True)
            continue
        os.write(fd, str(os.getpid()).encode())
        return fd, os.fstat(fd).st_ino
    raise _busy(path, lock)


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold the exclusive write lock of ``path`` inside the ``with`` block.

    Parameters
    ----------
    path : path-like
        The output being written (the lock is ``.NAME.lock`` beside it;
        missing parent folders are created).

    Yields
    ------
    pathlib.Path
        The lock file.

    Raises
    ------
    StoreError
        Another process holds the lock.

    Examples
    --------
    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "images.h5")
    >>> with output_lock(target) as lock:
    ...     with output_lock(target):  # re-entrant in one process
    ...         lock.name
    '.images.h5.lock'
    """
    target = Path(os.path.abspath(os.fspath(path)))
    lock = lock_path_for(target)
    key = os.fspath(lock)
    entry = _held.get(key)
    if entry is not None:
        entry[1] += 1
        try:
            yield lock
        finally:
            entry[1] -= 1
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd, ino = (_acquire_flock if fcntl is not None else _acquire_excl)(target, lock)
    _held[key] = [fd, 1, ino]
    try:
        yield lock
    finally:
        del _held[key]
        with contextlib.suppress(OSError):
            if os.stat(lock).st_ino == ino:
                lock.unlink()  # while still locked: a waiting process re-checks the inode
        os.close(fd)


def holds_lock(path: str | os.PathLike) -> bool:
    """Whether this process holds the lock of ``path`` and its lock file is still in place.

    Examples
    --------
    >>> holds_lock("/nonexistent/x.h5")
    False
    """
    lock = lock_path_for(path)
    entry = _held.get(os.fspath(lock))
    if entry is None:
        return False
    try:
        return os.stat(lock).st_ino == entry[2]
    except OSError:
        return False
