"""One self-contained HTML page for a run: settings, leaderboard, figures.

:func:`write_html_report` writes a single ``.html`` file that opens anywhere
offline and can be mailed or attached as is: images are embedded as
base64 ``data:`` URIs, the CSS is inline, there is no JavaScript and no
external resource. Every piece of text (method names, settings, notes,
error messages) is HTML-escaped. :func:`leaderboard_html` is the one
leaderboard table of every HTML report (this page, ``evaluate``'s, and
``compare``'s report, which adds a small sorting script).

Examples
--------
>>> import os, tempfile
>>> from cvtoolkit.evaluate import Leaderboard
>>> board = Leaderboard([{"method": "hog+linear_svm", "accuracy": 0.8, "f1_macro": 0.79,
...                       "fit_seconds": 1.2, "predict_ms_per_image": 0.3}])
>>> path = os.path.join(tempfile.mkdtemp(), "report.html")
>>> write_html_report(path, title="demo <run>", settings={"seed": 0}, leaderboard=board,
...                   confusion_pngs={})
>>> "demo &lt;run&gt;" in open(path, encoding="utf-8").read()
True
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import logging
import os
from typing import Any, Mapping, Sequence

from cvtoolkit import __version__
from cvtoolkit.evaluate.leaderboard import Leaderboard, _setting_text, finite_float as _float, format_p, format_size

log = logging.getLogger(__name__)

__all__ = ["image_data_uri", "leaderboard_html", "page_html", "render_html_report", "write_html_report"]

_MIME = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif;
       margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.7em; border-bottom: 2px solid #2a6fb0; padding-bottom: .2em; }
h2 { font-size: 1.3em; margin-top: 1.8em; color: #2a6fb0; }
h3 { font-size: 1.05em; margin-bottom: .3em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .95em; }
th, td { border: 1px solid #ccc; padding: .3em .7em; text-align: left; vertical-align: top; }
th { background: #eef3f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { color: #a33; background: #fff4f4; }
tr.best td { font-weight: bold; }
figure { display: inline-block; margin: .5em 1em 1em 0; vertical-align: top; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #555; }
.missing { color: #a33; font-style: italic; }
.notes { white-space: pre-wrap; background: #f7f7f7; border-left: 3px solid #2a6fb0; padding: .6em 1em; }
footer { margin-top: 3em; font-size: .8em; color: #777; }
table.leaderboard { font-size: .85em; }
table.leaderboard td.num { white-space: nowrap; }
table.leaderboard .ci { font-size: .8em; color: #555; }
.table-scroll { overflow-x: auto; }
"""

def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def image_data_uri(path: str | os.PathLike) -> str:
    """The image file at ``path`` as a ``data:`` URI (PNG, JPEG or GIF).

    Raises
    ------
    ValueError
        The file is not a PNG, JPEG or GIF image.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "x.png")
    >>> _ = open(p, "wb").write(b"\\x89PNG\\r\\n\\x1a\\n")
    >>> image_data_uri(p)
    'data:image/png;base64,iVBORw0KGgo='
    """
    with open(path, "rb") as fh:
        data = fh.read()
    for magic, mime in _MIME.items():
        if data.startswith(magic):
            return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    raise ValueError(f"{path} is not a PNG, JPEG or GIF image; the HTML report embeds only those")


def _figure(path: str | os.PathLike, caption: str, base_dir: str | os.PathLike | None = None) -> str:
    if base_dir is not None and not os.path.isabs(path) and not os.path.exists(path):
        candidate = os.path.join(base_dir, path)
        if os.path.exists(candidate):
            path = candidate
    try:
        uri = image_data_uri(path)
    except (OSError, ValueError) as err:
        log.warning("HTML report: cannot embed %s: %s", path, err)
        return f'<p class="missing">{_esc(caption)}: image not available ({_esc(err)})</p>'
    return (
        f'<figure><img src="{uri}" alt="{_esc(caption)}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _settings_table(settings: Mapping[str, Any]) -> str:
    if not settings:
        return "<p>No settings recorded.</p>"
    rows = "\n".join(
        f"<tr><th scope=\"row\">{_esc(k)}</th><td>{_esc(_setting_text(v))}</td></tr>" for k, v in settings.items()
    )
    return f'<table class="settings">\n{rows}\n</table>'


def _figure_section(
    heading: str, pngs: Mapping[str, Any] | None, order: list[str], base_dir: str | os.PathLike | None
) -> str:
    if not pngs:
        return ""
    methods = [m for m in order if m in pngs] + [m for m in pngs if m not in order]
    parts = [f"<h2>{_esc(heading)}</h2>"]
    for method in methods:
        parts.append(_figure(pngs[method], f"{heading}: {method}", base_dir))
    return "\n".join(parts)


# --------------------------------------------------------------------------- the leaderboard table
# (key, title, kind): kind "ci" shows the value with its CI, "num:D" D decimals, "size" bytes, "p" a p-value.
_COLUMNS = (
    ("accuracy", "accuracy", "ci"),
    ("balanced_accuracy", "balanced accuracy", "ci"),
    ("f1_macro", "macro F1", "ci"),
    ("log_loss", "log loss", "num:4"),
    ("rank5", "rank-5", "num:4"),
    ("roc_auc", "ROC AUC", "num:4"),
    ("p_vs_best", "p vs best", "p"),
    ("fit_seconds", "fit s", "num:2"),
    ("predict_ms_per_image", "predict ms/img", "num:3"),
    ("size_bytes", "size", "size"),
)
_ALWAYS = ("accuracy", "f1_macro", "fit_seconds", "predict_ms_per_image")

# Plain JavaScript, no library: a click on a header sorts the rows by that column's data-value
# (numbers numerically, text alphabetically, empty cells last); a second click reverses.
_SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      function key(row) { var c = row.cells[col]; var v = c ? c.getAttribute("data-value") : null;
                          return v === null || v === "" ? null : v; }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return (x === null) - (y === null); }
        var nx = Number(x), ny = Number(y);
        var r = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
        return asc ? r : -r;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _fmt_ci(row: Mapping[str, Any], key: str) -> str:
    value = _float(row.get(key))
    if value is None:
        return "-"
    low, high = _float(row.get(f"{key}_ci_low")), _float(row.get(f"{key}_ci_high"))
    if low is None or high is None:
        return f"{value:.4f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _cell(row: Mapping[str, Any], key: str, kind: str) -> tuple[str, str]:
    """(text, sort value) of one cell."""
    value = _float(row.get(key))
    sort = "" if value is None else repr(value)
    if kind == "ci":
        return _fmt_ci(row, key), sort
    if kind == "p":
        return format_p(value, label=False), sort
    if kind == "size":
        return format_size(value), sort
    digits = int(kind.split(":")[1])
    return ("-" if value is None else f"{value:.{digits}f}"), sort


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    return [c for c in _COLUMNS if c[0] in _ALWAYS or any(_float(r.get(c[0])) is not None for r in rows)]


def _tie_mark(row: Mapping[str, Any], best: str | None) -> str:
    if row.get("error"):
        return ""
    if row["method"] == best:
        return "best"
    return "tied" if row.get("tied_with_best") else ""


def _best_name(rows: Sequence[Mapping[str, Any]]) -> str | None:
    ok = [r for r in rows if not r.get("error")]
    return str(ok[0]["method"]) if ok else None


def _kind(row: Mapping[str, Any]) -> str:
    deep = row.get("deep")
    return "" if deep is None else ("deep" if deep else "classical")


def has_tests(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the rows carry compare's paired tests against the best row (the ``vs best`` column)."""
    return any("tied_with_best" in r or "p_vs_best" in r for r in rows)


def leaderboard_html(rows: Sequence[Mapping[str, Any]], sort_metric: str | None = None, *,
                     sortable: bool = True) -> str:
    """The leaderboard table of every HTML report (``compare`` and ``evaluate``): one renderer.

    ``rows`` in leaderboard order (failed rows last); ``sort_metric`` is
    marked ``(sort)``; a ``vs best`` column (best, tied) when the rows carry
    the paired tests; the ``kind`` column when they say classical or deep.
    ``sortable`` adds the attributes the compare page's script sorts by.

    Examples
    --------
    >>> '<td data-value="a">a</td>' in leaderboard_html([{"method": "a", "accuracy": 0.5}], "accuracy")
    True
    """
    if not rows:
        return "<p>No methods were run.</p>"
    columns = _columns(rows)
    has_kind = any(r.get("deep") is not None for r in rows)
    failed_any = any(r.get("error") for r in rows)
    best = _best_name(rows)
    has_tie = has_tests(rows)
    heads = [("rank", "rank"), ("method", "method")] + ([("tie", "vs best")] if has_tie else [])
    if has_kind:
        heads.append(("kind", "kind"))
    heads += [(key, title + (" (sort)" if key == sort_metric else "")) for key, title, _ in columns]
    if failed_any:
        heads.append(("note", "note"))
    click = ' title="click to sort"' if sortable else ""
    head = "<thead><tr>" + "".join(
        f'<th data-key="{_esc(k)}"{click}>{_esc(t)}</th>' for k, t in heads) + "</tr></thead>"
    body, rank = [], 0
    for row in rows:
        failed = bool(row.get("error"))
        if not failed:
            rank += 1
        mark = _tie_mark(row, best)
        cells = [
            f'<td class="num" data-value="{"" if failed else rank}">{"-" if failed else rank}</td>',
            f'<td data-value="{_esc(row["method"])}">{_esc(row["method"]).replace("+", "+<wbr>")}</td>',
        ]
        if has_tie:
            cells.append(f'<td class="tie" data-value="{ {"best": 0, "tied": 1}.get(mark, "") }">{_esc(mark)}</td>')
        if has_kind:
            cells.append(f'<td data-value="{_esc(_kind(row))}">{_esc(_kind(row))}</td>')
        for key, _, kind in columns:
            text, sort = ("-", "") if failed else _cell(row, key, kind)
            value, bracket, ci = text.partition(" [")  # the CI smaller, on the value's line
            shown = f'{_esc(value)}<span class="ci"> [{_esc(ci)}</span>' if bracket else _esc(text)
            cells.append(f'<td class="num" data-value="{_esc(sort)}">{shown}</td>')
        if failed_any:
            note = (f"skipped: {row['skipped']}" if row.get("skipped") else f"error: {row['error']}") if failed else ""
            cells.append(f'<td data-value="{_esc(note)}">{_esc(note)}</td>')
        css = "failed" if failed else ("best" if rank == 1 else ("tied" if mark == "tied" else "ok"))
        body.append(f'<tr class="{css}">' + "".join(cells) + "</tr>")
    css_class = "leaderboard sortable" if sortable else "leaderboard"
    return (f'<div class="table-scroll"><table class="{css_class}" id="leaderboard">\n' + head
            + "\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table></div>")


def render_html_report(
    *,
    title: str,
    settings: Mapping[str, Any],
    leaderboard: Leaderboard,
    confusion_pngs: Mapping[str, str | os.PathLike],
    curves_pngs: Mapping[str, str | os.PathLike] | None = None,
    top_losses_pngs: Mapping[str, str | os.PathLike] | None = None,
    grad_cam_pngs: Mapping[str, str | os.PathLike] | None = None,
    notes: str = "",
    base_dir: str | os.PathLike | None = None,
    verdict: str = "",
) -> str:
    """The HTML text :func:`write_html_report` writes (same parameters, no path).

    ``base_dir``: a folder where relative image paths that do not exist
    from the current folder are looked up (the report's folder).
    """
    order = [r["method"] for r in leaderboard.sorted_rows()]
    sections = [
        f"<h1>{_esc(title)}</h1>",
        f'<p class="verdict"><strong>Verdict:</strong> {_esc(verdict)}</p>' if verdict else "",
        "<h2>Settings</h2>",
        _settings_table(settings),
        "<h2>Leaderboard</h2>",
        leaderboard_html(leaderboard.sorted_rows(), leaderboard.sort_metric, sortable=False),
    ]
    if notes:
        sections += ["<h2>Notes</h2>", f'<div class="notes">{_esc(notes)}</div>']
    sections.append(_figure_section("Confusion matrices", confusion_pngs, order, base_dir))
    sections.append(_figure_section("Training curves", curves_pngs, order, base_dir))
    sections.append(_figure_section("Top losses", top_losses_pngs, order, base_dir))
    sections.append(_figure_section("Grad-CAM", grad_cam_pngs, order, base_dir))
    return page_html(title, "\n".join(s for s in sections if s))


def page_html(title: str, body: str, *, css: str = "", script: str = "") -> str:
    """One self-contained HTML page: ``body`` (HTML) under ``title``, the report CSS (plus ``css``), a footer.

    Examples
    --------
    >>> page_html("t <1>", "<p>x</p>").startswith("<!DOCTYPE html>")
    True
    """
    when = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}{css}</style>\n</head>\n<body>\n"
        f"{body}\n"
        f"<footer>Written by cvtoolkit {_esc(__version__)} on {_esc(when)}.</footer>\n"
        + (f"<script>{script}</script>\n" if script else "")
        + "</body>\n</html>\n"
    )


def write_html_report(
    path: str | os.PathLike,
    *,
    title: str,
    settings: Mapping[str, Any],
    leaderboard: Leaderboard,
    confusion_pngs: Mapping[str, str | os.PathLike],
    curves_pngs: Mapping[str, str | os.PathLike] | None = None,
    top_losses_pngs: Mapping[str, str | os.PathLike] | None = None,
    grad_cam_pngs: Mapping[str, str | os.PathLike] | None = None,
    notes: str = "",
    verdict: str = "",
) -> None:
    """Write one self-contained HTML report of a run, atomically.

    Parameters
    ----------
    path : path-like
        The ``.html`` file to write.
    title : str
        Page title and first heading.
    settings : dict
        The run's settings (dataset, split, seed, image size, epochs, ...),
        shown as a table; nested values are shown as JSON.
    leaderboard : Leaderboard
        The ranked methods.
    confusion_pngs, curves_pngs, top_losses_pngs, grad_cam_pngs : dict
        ``{method: image path}`` (PNG, JPEG or GIF), embedded as base64
        data URIs in leaderboard order. Relative paths are read from the
        current folder, else from the report's folder. A missing or unreadable file is
        logged and noted in the page instead of failing the report.
    notes : str
        Free text shown in its own section (whitespace kept).
    verdict : str
        One sentence shown under the title (compare's classical-versus-deep verdict).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "r.html")
    >>> write_html_report(path, title="t", settings={}, leaderboard=Leaderboard(), confusion_pngs={})
    >>> open(path, encoding="utf-8").read().startswith("<!DOCTYPE html>")
    True
    """
    options = {k: v for k, v in locals().items() if k != "path"}  # the keywords, passed on as they came
    from cvtoolkit.io import write_text_atomic

    text = render_html_report(**options, base_dir=os.path.dirname(os.path.abspath(path)))
    write_text_atomic(path, text)
    log.debug("wrote HTML report %s", path)
