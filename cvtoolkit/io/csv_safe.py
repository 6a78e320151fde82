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
import json
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

    ``None`` is ``missing`` (an empty cell); lists and dicts are written as JSON.

    Examples
    --------
    >>> print(dict_csv_text([{"method": "=x", "acc": 0.5, "ci": [0.4, 0.6]}], ["method", "acc", "ci"]), end="")
    method,acc,ci
    '=x,0.5,"[0.4, 0.6]"
    """
    names = list(fieldnames)

    def cell(value: Any) -> Any:
        if value is None:
            return missing
        return json.dumps(value) if isinstance(value, (dict, list)) else value

    return csv_text([names] + [[cell(row.get(k)) for k in names] for row in rows])


def write_csv_atomic(path: str | os.PathLike, rows: Iterable[Any], fieldnames: Sequence[str] | None = None) -> None:
    """Write CSV to ``path`` atomically, neutralising formulas: the one CSV writer of cvtoolkit.

    ``rows`` are sequences, header first (:func:`csv_text`), or, with
    ``fieldnames``, mappings (:func:`dict_csv_text`).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> write_csv_atomic(path, [{"a": 1}], ["a"]); open(path).read().splitlines()
    ['a', '1']
    """
    from cvtoolkit.io.atomic import write_text_atomic

    text = csv_text(rows) if fieldnames is None else dict_csv_text(rows, fieldnames)
    write_text_atomic(path, text)
