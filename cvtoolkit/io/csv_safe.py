"""CSV that spreadsheets open as data: text cells that would run as formulas are neutralised.

A class name such as ``=HYPERLINK("http://x", "cat")`` or ``@SUM(A1)`` written
as-is into a CSV is evaluated as a formula when the file is opened in Excel,
LibreOffice or Google Sheets (CSV/formula injection). Every CSV cvtoolkit
writes (leaderboards, ``predict --out`` predictions, Kaggle submissions, and
compare's predictions) goes through :func:`csv_text` or
:func:`dict_csv_text`, which pass every cell through :func:`safe_cell`:
text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets
a leading apostrophe (the OWASP advice), unless the text is a plain number
(``-0.5``, ``+3``, ``1e-05``), which spreadsheets read as a number anyway.
Numbers (``int``/``float``) are written unchanged.

Examples
--------
>>> safe_cell("=1+2"), safe_cell("@cmd"), safe_cell("cat"), safe_cell("-0.25"), safe_cell(-3)
("'=1+2", "'@cmd", 'cat', '-0.25', -3)
>>> print(csv_text([["id", "label"], [1, "+ship"]]), end="")
id,label
1,'+ship
"""

from __future__ import annotations

import csv
import io
import os
from typing import Any, Iterable, Mapping, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula."""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and text.lower().lstrip("+-") not in ("inf", "infinity", "nan")


def safe_cell(value: Any) -> Any:
    """``value``, with text that a spreadsheet would run as a formula prefixed by ``'``.

    Examples
    --------
    >>> safe_cell("=cmd|' /C calc'!A0")
    "'=cmd|' /C calc'!A0"
    >>> safe_cell(0.5), safe_cell(None)
    (0.5, None)
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """Rows (header first) as CSV text (``\\n`` line ends), every cell through :func:`safe_cell`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buf.getvalue()


def dict_csv_text(rows: Iterable[Mapping[str, Any]], fieldnames: Sequence[str], *, missing: Any = "") -> str:
    """Dict rows as CSV text under ``fieldnames`` (header included), every cell through :func:`safe_cell`.

    Examples
    --------
    >>> print(dict_csv_text([{"method": "=x", "acc": 0.5}], ["method", "acc"]), end="")
    method,acc
    '=x,0.5
    """
    names = list(fieldnames)
    return csv_text([names] + [[missing if row.get(k) is None else row.get(k) for k in names] for row in rows])


def write_csv_atomic(path: str | os.PathLike, rows: Iterable[Sequence[Any]]) -> None:
    """Write rows (header first) to ``path`` atomically, neutralising formulas."""
    from cvtoolkit.io.atomic import write_text_atomic

    write_text_atomic(path, csv_text(rows))
