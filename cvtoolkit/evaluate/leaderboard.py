"""The leaderboard: every method's scores on the same split, ranked.

A row is a plain dict with at least ``method``, ``accuracy``, ``f1_macro``,
``fit_seconds`` and ``predict_ms_per_image``; any other keys
(``log_loss``, ``rank5``, ``roc_auc``, ``n_params``, ...) travel along into
the JSON and CSV files. A method that failed gets a row with an ``error``
key (a one-line message) and is listed last.

Examples
--------
>>> board = Leaderboard()
>>> board.add({"method": "hog+linear_svm", "accuracy": 0.81, "f1_macro": 0.80,
...            "fit_seconds": 2.5, "predict_ms_per_image": 0.4})
>>> board.add({"method": "shallownet", "accuracy": 0.88, "f1_macro": 0.87,
...            "fit_seconds": 40.0, "predict_ms_per_image": 1.2})
>>> [row["method"] for row in board.sorted_rows()]
['shallownet', 'hog+linear_svm']
>>> print(board.to_text().splitlines()[2])
   1  shallownet        0.8800    0.8700  40.00           1.200
"""

from __future__ import annotations

import json
import logging
import math
import os
from typing import Any, Iterable, Mapping, Sequence

from cvtoolkit.errors import one_line
from cvtoolkit.evaluate.report import format_value, to_jsonable

log = logging.getLogger(__name__)

__all__ = ["Leaderboard", "REQUIRED_KEYS", "SORT_METRICS", "format_p", "format_size"]

REQUIRED_KEYS = ("method", "accuracy", "f1_macro", "fit_seconds", "predict_ms_per_image")
"""Keys every non-error row carries (missing ones show as ``-``)."""

# (key, header, formatter) of the table columns.
_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("accuracy", "accuracy", lambda v: format_value(v, 4)),
    ("f1_macro", "macro F1", lambda v: format_value(v, 4)),
    ("fit_seconds", "fit s", lambda v: format_value(_as_float(v), 2)),
    ("predict_ms_per_image", "predict ms/img", lambda v: format_value(_as_float(v), 3)),
)

def format_size(n: Any) -> str:
    """Bytes as a short readable size.

    Examples
    --------
    >>> format_size(512), format_size(2048), format_size(5_529_990), format_size(None)
    ('512 B', '2.0 KB', '5.3 MB', '-')
    """
    n = _as_float(n)
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return "-"  # pragma: no cover


_COST_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("feature_ms_per_image", "features ms/img", lambda v: format_value(_as_float(v), 3)),
    ("size_bytes", "size", format_size),
)
"""Shown when a row has them (``compare``'s rows do)."""

SORT_METRICS = {"accuracy": "accuracy", "balanced_accuracy": "balanced acc", "f1_macro": "macro F1",
                "log_loss": "log loss"}
"""Metrics a leaderboard can be ranked by (``log_loss``: lower is better), with their column titles."""


def _metric_cell(row: Mapping[str, Any], key: str, with_ci: bool) -> str:
    """``0.9889``, ``0.9889 [0.978, 0.996]`` or ``0.9811 ± 0.0080 [0.970, 0.992]``."""
    text = format_value(_as_float(row.get(key)), 4)
    std = _as_float(row.get(f"{key}_std"))
    if std is not None:
        text += f" \u00b1 {std:.4f}"
    low, high = _as_float(row.get(f"{key}_ci_low")), _as_float(row.get(f"{key}_ci_high"))
    if with_ci and low is not None and high is not None:
        text += f" [{low:.3f}, {high:.3f}]"
    return text


def format_p(p: Any, *, label: bool = True) -> str:
    """A p-value as text, the one format of cvtoolkit: ``p < 0.001``, ``p = 0.012``, ``p = 0.30``.

    ``label=False`` drops the ``p`` (a table cell under a ``p`` header):
    ``< 0.001``, ``0.012``, ``0.30``; a missing value is ``-``.

    Examples
    --------
    >>> format_p(0.0004), format_p(0.0123), format_p(0.3), format_p(1.0)
    ('p < 0.001', 'p = 0.012', 'p = 0.30', 'p = 1.00')
    >>> format_p(0.0004, label=False), format_p(0.3, label=False), format_p(None, label=False)
    ('< 0.001', '0.30', '-')
    """
    v = _as_float(p)
    if v is None:
        text = "= -"
    elif v < 0.001:
        text = "< 0.001"
    elif v < 0.1:
        text = f"= {v:.3f}"
    else:
        text = f"= {v:.2f}"
    if label:
        return f"p {text}"
    return text[2:] if text.startswith("= ") else text


def _vs_best_cell(row: Mapping[str, Any]) -> str:
    if row.get("p_vs_best") is None and row.get("tied_with_best"):
        return "best"
    p = _as_float(row.get("p_vs_best"))
    if p is None:
        return "-"
    text = format_p(p).replace(" ", "")
    return f"= tied {text}" if row.get("tied_with_best") else text


def finite_float(value: Any) -> float | None:
    """``value`` as a finite float, or None (missing, not a number, a bool, NaN or infinite).

    Examples
    --------
    >>> finite_float("0.5"), finite_float(float("nan")), finite_float(None), finite_float(True)
    (0.5, None, None, None)
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


_as_float = finite_float


def _md_cell(text: Any) -> str:
    """Text for a Markdown line or table cell: one line, ``|`` escaped, and no raw HTML.

    ``&``, ``<`` and ``>`` become entities (which every Markdown flavour
    shows as the characters), so a class or file name such as
    ``<img src=x onerror=...>`` is shown, never rendered.

    Examples
    --------
    >>> _md_cell("<b>cat</b> | dog")
    '&lt;b&gt;cat&lt;/b&gt; \\\\| dog'
    """
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


class Leaderboard:
    """Rows of method scores, ranked by a metric, written as text, Markdown, JSON, CSV.

    Parameters
    ----------
    rows : iterable of dict, optional
        Initial rows (copied).
    sort_metric : str
        The ranking metric, one of :data:`SORT_METRICS` (default
        ``"accuracy"``; ``"log_loss"`` ranks lowest first). Rows that carry
        ``<metric>_ci_low``/``_ci_high`` show the interval beside it, rows
        with ``p_vs_best``/``tied_with_best`` get a ``vs best`` column.

    Examples
    --------
    >>> board = Leaderboard([{"method": "a", "accuracy": 0.5, "f1_macro": 0.5,
    ...                       "fit_seconds": 1, "predict_ms_per_image": 1},
    ...                      {"method": "b", "error": "out of memory"}])
    >>> [r["method"] for r in board.sorted_rows()], len(board)
    (['a', 'b'], 2)
    """

    def __init__(self, rows: Iterable[Mapping[str, Any]] | None = None, *, sort_metric: str = "accuracy") -> None:
        if sort_metric not in SORT_METRICS:
            raise ValueError(f"sort_metric {sort_metric!r}: expected one of {', '.join(SORT_METRICS)}")
        self.sort_metric = sort_metric
        self.rows: list[dict[str, Any]] = []
        for row in rows or ():
            self.add(row)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.sorted_rows())

    def __repr__(self) -> str:
        """The ranking as a table under one line of counts.

        Examples
        --------
        >>> Leaderboard([{"method": "raw+knn", "accuracy": 0.9, "f1_macro": 0.9, "fit_seconds": 0.1,
        ...               "predict_ms_per_image": 0.05}])
        Leaderboard(1 row, ranked by accuracy)
        rank  method   accuracy  macro F1  fit s  predict ms/img
        ----  -------  --------  --------  -----  --------------
           1  raw+knn    0.9000    0.9000   0.10           0.050
        """
        failed = sum(self._failed(r) for r in self.rows)
        head = (f"Leaderboard({len(self.rows)} row{'' if len(self.rows) == 1 else 's'}, ranked by {self.sort_metric}"
                + (f", {failed} failed" if failed else "") + ")")
        return head + ("\n" + self.to_text().rstrip("\n") if self.rows else "")

    def to_pandas(self):
        """The sorted rows as a ``pandas.DataFrame`` indexed by rank (1 = best; failed rows last, rank ``<NA>``).

        Every key of every row is a column (:meth:`columns` order; a key a
        row lacks is ``NaN`` there).

        Examples
        --------
        >>> df = Leaderboard([{"method": "a", "accuracy": 0.5, "f1_macro": 0.4, "fit_seconds": 1,
        ...                    "predict_ms_per_image": 2}, {"method": "b", "error": "boom"}]).to_pandas()
        >>> df.index.tolist()[:1], df["method"].tolist(), float(df.loc[1, "accuracy"])
        ([1], ['a', 'b'], 0.5)
        """
        import pandas as pd

        rows = self.sorted_rows()
        columns = self.columns()
        ranks = []
        for row in rows:
            ranks.append(None if self._failed(row) else len([r for r in ranks if r is not None]) + 1)
        frame = pd.DataFrame([{k: row.get(k) for k in columns} for row in rows], columns=columns)
        frame.index = pd.Index(pd.array(ranks, dtype="Int64"), name="rank")
        return frame

    def to_html(self) -> str:
        """The text table's cells as an HTML ``<table>`` (escaped), for notebooks and reports.

        Examples
        --------
        >>> Leaderboard([{"method": "a<b", "accuracy": 1, "f1_macro": 1, "fit_seconds": 1,
        ...               "predict_ms_per_image": 1}]).to_html().count("a&lt;b")
        1
        """
        from html import escape

        header, body = self._table()
        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        cells = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in body)
        return f'<table class="cvtoolkit-leaderboard"><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>'

    def _repr_html_(self) -> str:
        return f"<p>Leaderboard, ranked by {self.sort_metric}</p>" + self.to_html()

    def add(self, row: Mapping[str, Any]) -> None:
        """Append one row (a copy); it must have a ``method`` name.

        Raises
        ------
        ValueError
            The row has no ``method`` key.
        """
        if "method" not in row or not str(row["method"]):
            raise ValueError(f"a leaderboard row needs a 'method' name; got keys {sorted(row)}")
        self.rows.append(dict(row))

    def extend(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append several rows."""
        for row in rows:
            self.add(row)

    @staticmethod
    def _failed(row: Mapping[str, Any]) -> bool:
        return bool(row.get("error"))

    def sorted_rows(self) -> list[dict[str, Any]]:
        """Rows by the sort metric, best first (ties: macro F1, then name); failed rows last.

        Rows with an ``error`` keep their insertion order at the end; rows
        with no score come after the scored ones.
        """
        ok = [r for r in self.rows if not self._failed(r)]
        failed = [r for r in self.rows if self._failed(r)]
        sign = 1.0 if self.sort_metric == "log_loss" else -1.0

        def key(row: Mapping[str, Any]) -> tuple:
            acc = _as_float(row.get(self.sort_metric))
            f1 = _as_float(row.get("f1_macro"))
            return (
                acc is None,
                sign * (acc if acc is not None else 0.0),
                -(f1 if f1 is not None else 0.0),
                str(row["method"]),
            )

        return sorted(ok, key=key) + failed

    def best(self) -> dict[str, Any] | None:
        """The top row that did not fail, or ``None``."""
        rows = [r for r in self.sorted_rows() if not self._failed(r)]
        return rows[0] if rows else None

    def _columns(self, ci_all: bool) -> list[tuple[str, str, Any]]:
        """The table's columns: the sort metric first, with its CI (every metric's with ``ci_all``)."""
        ok = [r for r in self.rows if not self._failed(r)]
        has = {k for r in ok for k, v in r.items() if v is not None}
        metrics = [self.sort_metric] + [m for m in ("accuracy", "balanced_accuracy", "f1_macro")
                                        if m != self.sort_metric and (m in has or m in ("accuracy", "f1_macro"))]
        cols = []
        for m in metrics:
            ci = (m == self.sort_metric or ci_all) and f"{m}_ci_low" in has
            title = SORT_METRICS[m] + (" [95% CI]" if ci else "")
            cols.append((m, title, lambda row, m=m, ci=ci: _metric_cell(row, m, ci)))
        cols += [(k, t, lambda row, k=k, f=f: f(row.get(k))) for k, t, f in _COLUMNS if k not in metrics]
        # what fit s hides: the descriptor's (a backbone's) cost per image, and the saved model's size
        cols += [(k, t, lambda row, k=k, f=f: f(row.get(k))) for k, t, f in _COST_COLUMNS if k in has]
        if "p_vs_best" in has or "tied_with_best" in has:
            cols.append(("p_vs_best", "vs best", _vs_best_cell))
        return cols

    def _table(self, ci_all: bool = False) -> tuple[list[str], list[list[str]]]:
        rows = self.sorted_rows()
        note = any(self._failed(r) for r in rows)
        columns = self._columns(ci_all)
        header = ["rank", "method"] + [title for _, title, _ in columns] + (["note"] if note else [])
        body = []
        rank = 0
        for row in rows:
            if self._failed(row):
                error = one_line(row["error"], 120, ellipsis="\u2026")
                note_text = f"skipped: {row['skipped']}" if row.get("skipped") else f"error: {error}"
                cells = ["-", str(row["method"])] + ["-"] * len(columns) + [note_text]
            else:
                rank += 1
                cells = [str(rank), str(row["method"])] + [fmt(row) for _, _, fmt in columns]
                if note:
                    cells.append("")
            body.append(cells)
        return header, body

    def to_text(self) -> str:
        """An aligned plain-text table with a rank column.

        Examples
        --------
        >>> b = Leaderboard([{"method": "raw+knn", "accuracy": 0.9, "f1_macro": 0.9,
        ...                   "fit_seconds": 0.1, "predict_ms_per_image": 0.05}])
        >>> print(b.to_text())
        rank  method   accuracy  macro F1  fit s  predict ms/img
        ----  -------  --------  --------  -----  --------------
           1  raw+knn    0.9000    0.9000   0.10           0.050
        <BLANKLINE>
        """
        header, body = self._table()
        widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
        left = {1, len(header) - 1} if header[-1] == "note" else {1}

        def fmt(cells: Sequence[str]) -> str:
            parts = [c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
            return "  ".join(parts).rstrip()

        lines = [fmt(header), "  ".join("-" * w for w in widths)] + [fmt(r) for r in body]
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        """The table in GitHub Markdown (pipes escaped in cells).

        Examples
        --------
        >>> b = Leaderboard([{"method": "a", "accuracy": 1, "f1_macro": 1,
        ...                   "fit_seconds": 1, "predict_ms_per_image": 1}])
        >>> print(b.to_markdown().splitlines()[1])
        |---:|:---|---:|---:|---:|---:|
        """
        header, body = self._table(ci_all=True)
        align = ["---:", ":---"] + ["---:"] * (len(header) - 2 - (header[-1] == "note")) + (
            [":---"] if header[-1] == "note" else [])
        lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "|".join(align) + "|"]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in body]
        return "\n".join(lines) + "\n"

    def to_dicts(self) -> list[dict[str, Any]]:
        """The sorted rows as JSON-ready dicts (NumPy values converted, NaN as ``None``)."""
        return [to_jsonable(r) for r in self.sorted_rows()]

    def columns(self) -> list[str]:
        """Every key used by a row: the required ones first, then others as first seen."""
        keys = list(REQUIRED_KEYS)
        for row in self.rows:
            for k in row:
                if k not in keys:
                    keys.append(k)
        return keys

    def save_json(self, path: str | os.PathLike, *, meta: Mapping[str, Any] | None = None) -> None:
        """Write the sorted rows as a JSON list of dicts, atomically.

        With ``meta`` the file is an object: ``meta``'s keys (such as
        ``sort_metric`` and ``verdict``) and ``rows``, the list.
        """
        from cvtoolkit.io import write_json_atomic

        data: Any = self.to_dicts()
        if meta is not None:
            data = {**to_jsonable(dict(meta)), "rows": data}
        write_json_atomic(path, data)
        log.debug("wrote leaderboard %s", path)

    @classmethod
    def load_json(cls, path: str | os.PathLike) -> "Leaderboard":
        """Read a leaderboard written by :meth:`save_json`.

        Raises
        ------
        ValueError
            The file is not a JSON list of row dicts.
        """
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        sort_metric = "accuracy"
        if isinstance(data, dict) and isinstance(data.get("rows"), list):  # written with meta
            sort_metric = data.get("sort_metric") if data.get("sort_metric") in SORT_METRICS else "accuracy"
            data = data["rows"]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValueError(f"{path} is not a leaderboard (expected a JSON list of row objects)")
        return cls(data, sort_metric=sort_metric)

    def to_csv(self) -> str:
        """The sorted rows as CSV text (header = :meth:`columns`; empty cell = missing).

        Text that a spreadsheet would run as a formula is neutralised
        (:func:`cvtoolkit.io.csv_safe.safe_cell`).
        """
        from cvtoolkit.io.csv_safe import dict_csv_text

        return dict_csv_text(self.to_dicts(), self.columns())

    def save_csv(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_csv` to ``path`` atomically."""
        from cvtoolkit.io.csv_safe import write_csv_atomic

        write_csv_atomic(path, self.to_dicts(), self.columns())
        log.debug("wrote leaderboard %s", path)


def _setting_text(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(to_jsonable(value), ensure_ascii=False)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
