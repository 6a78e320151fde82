"""Finished ``compare`` rows on disk, as they finish: what ``compare --resume`` reuses.

Each row that finishes is written to ``<out>/rows/`` at once, atomically
(:func:`cvtoolkit.io.atomic_path`): first ``<row>.npz`` (its test
probabilities, and a CNN row's training history), then ``<row>.json`` (the
leaderboard row, its key and the digest of the ``.npz``). The ``.json`` is
the commit: a run killed at any moment leaves either both files of a row or
a row that is simply run again, so it loses at most the row in progress.

A row is reused only when its key (:func:`cvtoolkit.hashing.row_key`: the
dataset's fingerprint, the split's indices, the row name and every setting
that changes its result, see :func:`row_settings`) equals the stored one and
the ``.npz`` is the one the ``.json`` names. Failed rows are not stored: a
resumed run tries them again.

Late-fusion rows (``classical_ensemble``, ``deep_ensemble``) need their
members' fitted classifiers and training features, which are not stored.
:func:`plan_reuse` therefore reuses a late-fusion row only with all its
members, and when the fusion has to run again, it runs its members again
too (their features come back from the feature cache), saying so.

Examples
--------
>>> import tempfile, numpy as np
>>> store = RowStore(tempfile.mkdtemp())
>>> store.save({"method": "raw+knn", "accuracy": 0.9}, np.full((2, 2), 0.5), key="k1")
>>> store.load("raw+knn", "k1").row["accuracy"], store.load("raw+knn", "other key") is None
(0.9, True)
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["ROWS_FOLDER", "ROW_FORMAT", "RowStore", "StoredRow", "has_rows", "is_compare_output", "plan_reuse",
           "row_settings"]

ROWS_FOLDER = "rows"
"""The folder under ``--out`` holding one ``.json`` + ``.npz`` per finished row."""

ROW_FORMAT = "cvtoolkit compare row 1"
"""``format`` of a stored row's ``.json``: what marks the file (and its ``--out``) as written by ``compare``."""

IGNORED_CNN_OPTIONS = ("verbose", "log_dir", "tensorboard_dir")
"""CNN options that never change a row's result (left out of its key)."""


@dataclass
class StoredRow:
    """A finished row read back: the leaderboard row, its test probabilities and (CNN rows) its history."""

    row: dict[str, Any]
    proba: np.ndarray
    history: dict[str, list] | None = None


def row_settings(*, seed: int, feature_options: Mapping | None, cnn_options: Mapping | None,
                 search: str | None, members: Sequence[str] = ()) -> dict[str, Any]:
    """The settings a row's key holds (see :func:`cvtoolkit.hashing.row_key`).

    Examples
    --------
    >>> row_settings(seed=1, feature_options={"alpha": 0.25}, cnn_options={"epochs": 3, "verbose": 2},
    ...              search=None)["cnn_options"]
    {'epochs': 3}
    """
    from cvtoolkit import __version__

    cnn = {k: v for k, v in dict(cnn_options or {}).items() if k not in IGNORED_CNN_OPTIONS}
    settings: dict[str, Any] = {"seed": int(seed), "feature_options": dict(feature_options or {}),
                                "cnn_options": cnn, "search": search, "cvtoolkit_version": __version__}
    if members:
        settings["members"] = list(members)
    return settings


def _stem(name: str) -> str:
    from cvtoolkit.methods.compare_outputs import safe_filename

    return safe_filename(name)


def has_rows(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` (a compare ``--out``) holds rows stored by ``compare`` (a killed run's).

    Examples
    --------
    >>> import tempfile
    >>> has_rows(tempfile.mkdtemp())
    False
    """
    rows = Path(folder) / ROWS_FOLDER
    if not rows.is_dir():
        return False
    for path in rows.glob("*.json"):
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("format") == ROW_FORMAT:
                return True
        except (OSError, ValueError, AttributeError):
            continue
    return False


def is_compare_output(folder: Path) -> bool:
    """``ours`` of a compare ``--out``: empty, holding ``leaderboard.json``, or rows of a killed compare run.

    Examples
    --------
    >>> import tempfile
    >>> is_compare_output(Path(tempfile.mkdtemp()))
    True
    """
    from cvtoolkit.io.outputs import folder_has

    return folder_has("leaderboard.json")(Path(folder)) or has_rows(folder)


class RowStore:
    """The finished rows of one ``compare --out`` (``<out>/rows``).

    Parameters
    ----------
    folder : path
        The ``rows`` folder (created on the first save).
    reuse : bool
        ``compare --resume``: rows stored by an earlier run with the same key
        are reused; False: a run starts by removing them (:meth:`clear`).
    listeners : list of callable, optional
        Each called as ``listener(row, proba, history, files=...)`` after a
        row is saved (the MLflow tracker logs the row there; ``files``: the
        row's figures written so far, ``{"confusion:<row>": path}``).
    """

    def __init__(self, folder: str | os.PathLike, *, reuse: bool = False,
                 listeners: list[Callable[..., None]] | None = None) -> None:
        self.folder = Path(folder)
        self.reuse = bool(reuse)
        self.listeners: list[Callable[..., None]] = list(listeners or [])

    @classmethod
    def for_output(cls, out: str | os.PathLike, *, reuse: bool = False) -> RowStore:
        """The store of a compare output folder."""
        return cls(Path(out) / ROWS_FOLDER, reuse=reuse)

    def paths(self, method: str) -> tuple[Path, Path]:
        """``(<row>.json, <row>.npz)`` of a row."""
        stem = _stem(method)
        return self.folder / f"{stem}.json", self.folder / f"{stem}.npz"

    def clear(self) -> int:
        """Remove the rows an earlier run stored (only files this module writes); returns how many rows."""
        if not self.folder.is_dir():
            return 0
        n = 0
        for path in self.folder.glob("*.json"):
            try:
                ours = json.loads(path.read_text(encoding="utf-8")).get("format") == ROW_FORMAT
            except (OSError, ValueError, AttributeError):
                ours = False
            if ours:
                path.unlink(missing_ok=True)
                path.with_suffix(".npz").unlink(missing_ok=True)
                n += 1
        return n

    def save(self, row: Mapping[str, Any], proba: np.ndarray, *, key: str,
             history: Mapping[str, Any] | None = None, files: Mapping[str, str] | None = None) -> None:
        """Write a finished row: the ``.npz`` first, then the ``.json`` that commits it (both atomically)."""
        from cvtoolkit.hashing import digest
        from cvtoolkit.io import atomic_path, write_json_atomic

        self.folder.mkdir(parents=True, exist_ok=True)
        meta_path, npz_path = self.paths(str(row["method"]))
        proba = np.asarray(proba, dtype=np.float64)
        arrays = {"proba": proba}
        hist = {k: [float(v) for v in vals] for k, vals in (history or {}).items()}
        with atomic_path(npz_path) as tmp:
            np.savez(tmp, **arrays)
        write_json_atomic(meta_path, {"format": ROW_FORMAT, "method": row["method"], "key": key,
                                      "proba_digest": digest(np.ascontiguousarray(proba).tobytes()),
                                      "row": dict(row), "history": hist or None})
        for listener in self.listeners:
            try:
                listener(dict(row), proba, history, files=dict(files or {}))
            except Exception as err:  # a tracker's trouble never loses the row
                logger.warning("%s: could not log the finished row: %s: %s", row["method"], type(err).__name__, err)

    def load(self, method: str, key: str) -> StoredRow | None:
        """The stored row ``method`` if its key is ``key`` and its files are whole, else None (reason logged)."""
        from cvtoolkit.hashing import digest

        meta_path, npz_path = self.paths(method)
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("format") != ROW_FORMAT or meta.get("method") != method:
                logger.info("%s: %s was not written by compare; running the row", method, meta_path)
                return None
            if meta.get("key") != key:
                logger.info("%s: stored row has other data, split or settings; running it again", method)
                return None
            with np.load(npz_path, allow_pickle=False) as npz:
                proba = np.asarray(npz["proba"], dtype=np.float64)
        except (OSError, ValueError, KeyError) as err:
            logger.info("%s: stored row unreadable (%s); running it again", method, err)
            return None
        if digest(np.ascontiguousarray(proba).tobytes()) != meta.get("proba_digest"):
            logger.info("%s: %s does not match %s; running the row again", method, npz_path.name, meta_path.name)
            return None
        return StoredRow(dict(meta["row"]), proba, meta.get("history"))


def plan_reuse(specs: Sequence[Any], stored: Mapping[str, StoredRow | None]) -> tuple[dict[str, StoredRow], list[str]]:
    """``(reused, notes)``: the stored rows to reuse, and a line per late fusion that makes its members run again.

    A late-fusion row is reused only when it and every member of its side
    (classifier rows of that side, ``deep`` or not) are stored; if it must
    run, those members run again as well, since their fitted classifiers
    and training features are not stored.

    Examples
    --------
    >>> from cvtoolkit.methods.spec import parse_method
    >>> specs = [parse_method(n) for n in ("raw+knn", "hog+logreg", "classical_ensemble")]
    >>> s = StoredRow({}, np.zeros((1, 2)))
    >>> reused, notes = plan_reuse(specs, {"raw+knn": s, "hog+logreg": s, "classical_ensemble": None})
    >>> sorted(reused), len(notes)
    ([], 1)
    """
    from cvtoolkit.methods.ensemble import ENSEMBLE_ROWS
    from cvtoolkit.methods.verdict import is_deep

    reused = {name: row for name, row in stored.items() if row is not None}
    notes = []
    for spec in specs:
        if spec.kind != "ensemble":
            continue
        side = [s.name for s in specs if s.kind not in ("cnn", "ensemble") and is_deep(s) == ENSEMBLE_ROWS[spec.name]]
        if spec.name in reused and all(m in reused for m in side):
            continue
        reused.pop(spec.name, None)
        again = [m for m in side if reused.pop(m, None) is not None]
        if again:
            notes.append(f"{spec.name} runs again, so its members run again too (their fitted classifiers are "
                         f"not stored): {', '.join(again)}")
    return reused, notes


def row_keys(specs: Sequence[Any], dataset: Any, train: Any, test: Any, settings: Mapping[str, Any]) -> dict[str, str]:
    """``{row: key}`` of every row on this split (:func:`cvtoolkit.hashing.row_key`).

    ``settings`` is :func:`row_settings`'s dict; a late-fusion row's key
    also holds the keys of its side's member rows.
    """
    from cvtoolkit.hashing import dataset_fingerprint, row_key
    from cvtoolkit.methods.ensemble import ENSEMBLE_ROWS
    from cvtoolkit.methods.verdict import is_deep

    fp = dataset_fingerprint(dataset)
    tr, te = train.attrs.get("split_indices"), test.attrs.get("split_indices")
    base = dict(settings)
    if tr is None or te is None:  # a split without indices: key on its parts' content
        base["split_parts"] = [dataset_fingerprint(train), dataset_fingerprint(test)]
        tr, te = [], []
    keys = {s.name: row_key(fp, tr, te, s.name, base) for s in specs if s.kind != "ensemble"}
    for s in specs:
        if s.kind == "ensemble":
            side = [m.name for m in specs if m.kind not in ("cnn", "ensemble") and is_deep(m) == ENSEMBLE_ROWS[s.name]]
            keys[s.name] = row_key(fp, tr, te, s.name, dict(base, members=[keys[m] for m in side]))
    return keys
