"""Write files atomically: a temporary name in the same folder, then ``os.replace``.

Every file cvtoolkit writes goes through :func:`atomic_path`, so a run that is
interrupted (an exception, Ctrl-C, ``SIGKILL``, a full disk) never leaves a
file at the final path that looks complete: the final name appears only once
the whole content is on disk.

The temporary file is hidden and marked, ``.NAME.tmp-<pid>-<rand>SUFFIX``
(``SUFFIX`` is the final name's last two extensions, kept so that tools
which check or pick a format from the extension, such as
``keras.Model.save`` (``.keras``), ``save_weights`` (``.weights.h5``),
``cv2.imwrite``, ``numpy.savez`` or ``matplotlib``, work on the temporary
name).
:data:`TEMP_MARKER` finds leftovers of killed runs.

Examples
--------
>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> target = os.path.join(folder, "notes.txt")
>>> with atomic_path(target) as tmp:
...     with open(tmp, "w") as fh:
...         _ = fh.write("hello")
>>> open(target).read()
'hello'
>>> write_json_atomic(os.path.join(folder, "m.json"), {"accuracy": 0.5})
>>> sorted(os.listdir(folder))
['m.json', 'notes.txt']
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)

TEMP_MARKER = ".tmp-"
"""Marker in the name of every temporary file :func:`atomic_path` creates."""


def temp_name_for(path: str | os.PathLike) -> Path:
    """A fresh hidden temporary path beside ``path`` (not created).

    The name ends with the final name's last two suffixes, so format checks
    on the extension pass (``.keras``, ``.weights.h5``, ``.tar.gz``).

    Examples
    --------
    >>> name = temp_name_for("/tmp/out/model.weights.h5").name
    >>> name.startswith(".model.weights.h5.tmp-") and name.endswith(".weights.h5")
    True
    """
    p = Path(path)
    suffix = "".join(p.suffixes[-2:])
    token = f"{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}"
    name = f".{p.name}{token}{suffix}"
    if len(name.encode("utf-8")) > 255:  # file-name limit of most file systems
        name = f"{token}{suffix}"
    return p.with_name(name)


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's (or a folder's) content to disk; best effort on folders."""
    p = Path(path)
    if p.is_dir():
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
        try:
            fd = os.open(p, flags)
        except OSError:  # Windows cannot open folders
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
        return
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            import shutil

            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError as err:  # pragma: no cover - depends on the file system
        log.warning("could not remove temporary file %s: %s", path, err)


def commit_temp(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Move a finished temporary file onto ``path``: fsync, ``os.replace``, fsync folder.

    Raises
    ------
    FileNotFoundError
        ``tmp`` was never written.
    """
    tmp, path = Path(tmp), Path(path)
    if not tmp.exists():
        raise FileNotFoundError(
            f"nothing was written to the temporary file {tmp} for {path}; "
            "the code inside atomic_path() must create the file it yields"
        )
    if tmp.is_file():
        fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent if str(path.parent) else Path("."))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, make_parents: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` on success.

    The body writes the whole file to the yielded path. When the body
    finishes without an exception the file is fsynced and renamed onto
    ``path`` with :func:`os.replace` (atomic on POSIX and Windows, replacing
    an older file). When the body raises, the temporary file is removed,
    ``path`` is left as it was (absent, or the previous version) and the
    exception propagates.

    Parameters
    ----------
    path : path-like
        The final file.
    make_parents : bool
        Create missing parent folders first.

    Yields
    ------
    pathlib.Path
        Where to write: ``.NAME.tmp-<pid>-<rand>SUFFIX`` in the same folder
        (pass ``str(tmp)`` to APIs that want text).

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> target = os.path.join(tempfile.mkdtemp(), "arrays.npz")
    >>> with atomic_path(target) as tmp:
    ...     np.savez(tmp, x=np.arange(3))
    >>> np.load(target)["x"].tolist()
    [0, 1, 2]
    """
    final = Path(path)
    if make_parents:
        final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name_for(final)
    try:
        yield tmp
        commit_temp(tmp, final)
    except BaseException:
        _remove_quietly(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "b.bin")
    >>> write_bytes_atomic(p, b"abc"); open(p, "rb").read()
    b'abc'
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def write_text_atomic(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (UTF-8, ``\\n`` line ends kept as given).

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "report.md")
    >>> write_text_atomic(p, "# Résultats\\n"); open(p, encoding="utf-8").read()
    '# Résultats\\n'
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding=encoding, newline="") as fh:
            fh.write(text)


def to_jsonable(obj: Any, *, default: Callable[[Any], Any] = str) -> Any:
    """``obj`` with NumPy values turned into Python ones and NaN/inf into ``None``, ready for ``json.dumps``.

    Dicts (keys as strings), lists, tuples and arrays are converted item by
    item; paths become strings; anything else becomes ``default(obj)``
    (``str``; ``repr`` keeps more of an object's parameters).

    Examples
    --------
    >>> import numpy as np
    >>> to_jsonable({"a": np.float32(0.5), "b": np.arange(2), "c": float("nan")})
    {'a': 0.5, 'b': [0, 1], 'c': None}
    """
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, default=default) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, default=default) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), default=default)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if v == v and v not in (float("inf"), float("-inf")) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, str):
        return obj
    return default(obj)


def _json_default(obj: Any) -> Any:
    # NumPy scalars/arrays and paths appear in metrics and configs.
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = 2, sort_keys: bool = False) -> None:
    """Write ``obj`` as JSON to ``path`` atomically.

    NumPy scalars and arrays, sets and paths are converted; non-ASCII text
    is written as UTF-8, not escaped.

    Examples
    --------
    >>> import os, json, tempfile, numpy as np
    >>> p = os.path.join(tempfile.mkdtemp(), "m.json")
    >>> write_json_atomic(p, {"acc": np.float32(0.5), "n": np.int64(3)})
    >>> json.load(open(p))
    {'acc': 0.5, 'n': 3}
    """
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, ensure_ascii=False, default=_json_default)
    write_text_atomic(path, text + "\n")


def save_figure_atomic(fig: Any, path: str | os.PathLike, **savefig_kw: Any) -> None:
    """Save a matplotlib figure to ``path`` atomically.

    The format comes from ``savefig_kw["format"]``, else from the extension
    of ``path`` (``.png``, ``.pdf``, ``.svg``, ...), else matplotlib's
    ``savefig.format`` setting.

    Examples
    --------
    >>> import os, tempfile, matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(); _ = ax.plot([0, 1])
    >>> p = os.path.join(tempfile.mkdtemp(), "curve.png")
    >>> save_figure_atomic(fig, p, dpi=50); plt.close(fig)
    >>> open(p, "rb").read(4)
    b'\\x89PNG'
    """
    kw = dict(savefig_kw)
    if "format" not in kw:
        ext = Path(path).suffix.lower().lstrip(".")
        if not ext:
            import matplotlib

            ext = str(matplotlib.rcParams["savefig.format"])
        kw["format"] = ext
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **kw)
