"""Check an output location before any work, and refuse to replace what cvtoolkit did not write.

Every command that writes (``compare``, ``fit``, ``train``, ``predict``,
``evaluate``, ``audit``, ``export``, ``extract``, ``pack``) calls
:func:`check_output_location` on its ``--out`` before loading data or
training, so a typo'd, read-only or occupied location fails at once with one
line instead of a traceback after all the work (and all but ``predict`` then
hold the output's write lock, :func:`locked_output`):

- a file where a folder is expected (or a folder where a file is), or a
  parent path that is a file;
- a location that cannot be written (read-only file system, permissions):
  found by creating, then removing, a small probe file in the nearest
  existing folder, which also works for ``root`` on a read-only mount;
- an existing output cvtoolkit did not write (a folder of documents, a
  file of another kind): refused unless ``overwrite=True`` (``--overwrite``).
  Each command says what counts as its own through the ``ours`` predicate;
  ready-made ones: :func:`is_pipeline_folder`, :func:`is_store_file`,
  :func:`folder_has`, :func:`csv_starts_with`, :func:`is_keras_file`.

Examples
--------
>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> check_output_location(os.path.join(folder, "runs", "a"), kind="folder").name
'a'
>>> open(os.path.join(folder, "notes.txt"), "w").close()
>>> try:
...     check_output_location(os.path.join(folder, "notes.txt"), kind="folder")
... except OutputError as err:
...     print("a file, not a folder" in str(err))
True
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Iterator

from cvtoolkit.errors import OutputError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and not p.is_symlink():
        if p.parent == p:
            break
        p = p.parent
    return p


def _probe_writable(folder: Path, shown: Path, option: str) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".cvtoolkit-probe-", dir=folder)
    except OSError as err:
        reason = err.strerror or str(err)
        if err.errno == errno.EROFS:
            reason = "read-only file system"
        raise OutputError(f"{option} {shown}: cannot write in {folder} ({reason}). Choose a writable location.") from None
    os.close(fd)
    os.unlink(name)


def check_output_location(
    path: str | os.PathLike,
    *,
    kind: str = "file",
    overwrite: bool = False,
    ours: Callable[[Path], bool] | None = None,
    option: str = "--out",
    what: str = "",
) -> Path:
    """Fail early, with one line, when ``path`` cannot or must not be written.

    Parameters
    ----------
    path : path-like
        The output file or folder.
    kind : {"file", "folder"}
        What will be written at ``path``.
    overwrite : bool
        Replace an existing ``path`` even when ``ours`` says cvtoolkit did
        not write it (``--overwrite``).
    ours : callable, optional
        ``ours(path) -> bool`` for an existing ``path``: True when it is
        something this command writes (and may replace). None: anything of
        the right kind may be replaced.
    option : str
        The option named in messages.
    what : str
        What the command writes there, for the message (``"a saved pipeline"``).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputError
        The location is a file where a folder is expected (or the reverse),
        lies under a file, is not writable, or holds something cvtoolkit did
        not write.

    Examples
    --------
    >>> import os, tempfile
    >>> docs = tempfile.mkdtemp()
    >>> open(os.path.join(docs, "thesis.txt"), "w").close()
    >>> try:
    ...     check_output_location(docs, kind="folder", ours=is_pipeline_folder, what="a saved pipeline")
    ... except OutputError as err:
    ...     "--overwrite" in str(err)
    True
    """
    if kind not in ("file", "folder"):
        raise ValueError(f"kind must be 'file' or 'folder', got {kind!r}")
    target = Path(path)
    if str(path) == "":
        raise OutputError(f"{option} is empty; give a path.")
    existing = _nearest_existing(target)
    if existing != target and not existing.is_dir():
        raise OutputError(f"{option} {target}: {existing} is a file, not a folder. Choose another location.")
    if target.exists():
        if kind == "folder" and not target.is_dir():
            raise OutputError(f"{option} {target}: a file, not a folder. Give a folder path (it is created).")
        if kind == "file" and target.is_dir():
            raise OutputError(f"{option} {target}: a folder, not a file. Give a file path.")
        if not overwrite and ours is not None and not ours(target):
            noun = "folder" if kind == "folder" else "file"
            made = f" ({what})" if what else ""
            raise OutputError(
                f"{option} {target}: this {noun} exists and was not written by cvtoolkit{made}; refusing to "
                f"replace it. Choose another {option}, or pass --overwrite to replace it."
            )
    folder = target if (kind == "folder" and target.is_dir()) else _nearest_existing(target.parent if str(target.parent) else Path("."))
    _probe_writable(folder, target, option)
    return target


@contextlib.contextmanager
def locked_output(path: str | os.PathLike, **check) -> Iterator[Path]:
    """Check ``path`` (:func:`check_output_location`, same keywords), then hold its write lock in the block.

    What every command with ``--out`` does before any work: the check fails
    with one line on a location it must not write, and the lock
    (:func:`cvtoolkit.io.lock.output_lock`) makes a second run on the same
    output stop at once instead of mixing its files with the first's.

    Raises
    ------
    OutputError
        As :func:`check_output_location`.
    StoreError
        Another cvtoolkit process is writing ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "report")
    >>> with locked_output(out, kind="folder") as target:
    ...     os.path.exists(os.path.join(os.path.dirname(out), ".report.lock"))
    True
    """
    from cvtoolkit.io.lock import output_lock

    target = check_output_location(path, **check)
    with output_lock(target):
        yield target


def is_pipeline_folder(path: Path) -> bool:
    """An empty folder, or one ``cvtoolkit fit`` wrote (its manifest's format marker and file set)."""
    from cvtoolkit.methods.artifact import is_saved_pipeline_folder

    return is_saved_pipeline_folder(path)


def folder_has(*names: str) -> Callable[[Path], bool]:
    """``ours`` for report folders: empty, or holding one of ``names`` (a file the command writes).

    Examples
    --------
    >>> import tempfile
    >>> folder_has("leaderboard.json")(Path(tempfile.mkdtemp()))
    True
    """
    def ours(path: Path) -> bool:
        return path.is_dir() and (not any(path.iterdir()) or any((path / n).is_file() for n in names))

    return ours


def is_store_file(path: Path) -> bool:
    """An HDF5 file with cvtoolkit's attributes (or an HDF5 file too damaged to read them)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != HDF5_SIGNATURE:
                return path.stat().st_size == 0
    except OSError:
        return False
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return "format_version" in f.attrs
    except Exception:  # a damaged HDF5 file (e.g. from an interrupted older version): most likely ours
        return True


def is_keras_file(path: Path) -> bool:
    """A ``.keras`` archive (a zip with ``config.json``)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return "config.json" in zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def csv_starts_with(*prefixes: str) -> Callable[[Path], bool]:
    """``ours`` for CSV outputs: an empty file, or one whose first line starts with one of ``prefixes``."""
    def ours(path: Path) -> bool:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                first = fh.readline()
        except OSError:
            return False
        return first == "" or any(first.startswith(p) for p in prefixes)

    return ours


def describe_os_error(err: OSError) -> str:
    """One line for an ``OSError`` met while writing (full disk, read-only, permissions).

    Examples
    --------
    >>> describe_os_error(OSError(errno.ENOSPC, "No space left on device", "/out/x.h5"))
    '/out/x.h5: no space left on device; free some space or choose another location'
    """
    where = err.filename or ""
    hints = {
        errno.ENOSPC: "no space left on device; free some space or choose another location",
        errno.EROFS: "read-only file system; choose a writable location",
        errno.EACCES: "permission denied; choose a writable location",
        errno.EPERM: "operation not permitted; choose a writable location",
        getattr(errno, "EDQUOT", -1): "disk quota exceeded; free some space or choose another location",
    }
    from cvtoolkit.errors import one_line

    text = hints.get(err.errno or 0) or (err.strerror or str(err))
    return one_line(f"{where}: {text}" if where else text, limit=None)
