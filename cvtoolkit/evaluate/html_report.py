"""One self-contained HTML page for a run: settings, leaderboard, figures.

:func:`write_html_report` writes a single ``.html`` file that opens anywhere
offline and can be mailed or attached as is: images are embedded as
base64 ``data:`` URIs, the CSS is inline, there is no JavaScript and no
external resource. Every piece of text (method names, settings, notes,
error messages) is HTML-escaped.

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
import json
import logging
import os
from typing import Any, Mapping

from cvtoolkit import __version__
from cvtoolkit.evaluate.leaderboard import Leaderboard
from cvtoolkit.evaluate.report import format_value, to_jsonable

log = logging.getLogger(__name__)

__all__ = ["render_html_report", "write_html_report", "image_data_uri"]

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
"""

_LEADERBOARD_COLUMNS = (
    ("accuracy", "accuracy", 4),
    ("accuracy_std", "accuracy std (folds)", 4),
    ("accuracy_ci_low", "accuracy CI low", 4),
    ("accuracy_ci_high", "accuracy CI high", 4),
    ("balanced_accuracy", "balanced acc", 4),
    ("balanced_accuracy_std", "balanced acc std (folds)", 4),
    ("balanced_accuracy_ci_low", "balanced acc CI low", 4),
    ("balanced_accuracy_ci_high", "balanced acc CI high", 4),
    ("f1_macro", "macro F1", 4),
    ("f1_macro_std", "macro F1 std (folds)", 4),
    ("f1_macro_ci_low", "macro F1 CI low", 4),
    ("f1_macro_ci_high", "macro F1 CI high", 4),
    ("log_loss", "log loss", 4),
    ("rank5", "rank-5", 4),
    ("roc_auc", "ROC AUC", 4),
    ("fit_seconds", "fit s", 2),
    ("predict_ms_per_image", "predict ms/img", 3),
    ("p_vs_best", "p vs best (Holm)", 4),
    ("tied_with_best", "tied with best", 0),
)


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


def _setting_value(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(to_jsonable(value), ensure_ascii=False)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _number(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _settings_table(settings: Mapping[str, Any]) -> str:
    if not settings:
        return "<p>No settings recorded.</p>"
    rows = "\n".join(
        f"<tr><th scope=\"row\">{_esc(k)}</th><td>{_esc(_setting_value(v))}</td></tr>" for k, v in settings.items()
    )
    return f'<table class="settings">\n{rows}\n</table>'


def _leaderboard_table(board: Leaderboard) -> str:
    rows = board.sorted_rows()
    if not rows:
        return "<p>No methods were run.</p>"
    columns = [c for c in _LEADERBOARD_COLUMNS if c[0] in ("accuracy", "f1_macro", "fit_seconds", "predict_ms_per_image")
               or any(r.get(c[0]) is not None for r in rows)]
    failed_any = any(r.get("error") for r in rows)
    head = "<thead><tr><th>rank</th><th>method</th>" + "".join(f"<th>{_esc(t)}</th>" for _, t, _ in columns)
    head += "<th>note</th></tr></thead>" if failed_any else "</tr></thead>"
    body = []
    rank = 0
    for row in rows:
        if row.get("error"):
            cells = ['<td class="num">-</td>', f"<td>{_esc(row['method'])}</td>"]
            cells += ['<td class="num">-</td>'] * len(columns)
            cells.append(f"<td>error: {_esc(row['error'])}</td>")
            body.append('<tr class="failed">' + "".join(cells) + "</tr>")
            continue
        rank += 1
        cells = [f'<td class="num">{rank}</td>', f"<td>{_esc(row['method'])}</td>"]
        for key, _, digits in columns:
            value = _number(row.get(key))
            cells.append(f'<td class="num">{_esc(format_value(value, digits))}</td>')
        if failed_any:
            cells.append("<td></td>")
        body.append(f'<tr class="{"best" if rank == 1 else "ok"}">' + "".join(cells) + "</tr>")
    return '<table class="leaderboard">\n' + head + "\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"


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
    when = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    sections = [
        f"<h1>{_esc(title)}</h1>",
        f'<p class="verdict"><strong>Verdict:</strong> {_esc(verdict)}</p>' if verdict else "",
        "<h2>Settings</h2>",
        _settings_table(settings),
        "<h2>Leaderboard</h2>",
        _leaderboard_table(leaderboard),
    ]
    if notes:
        sections += ["<h2>Notes</h2>", f'<div class="notes">{_esc(notes)}</div>']
    sections.append(_figure_section("Confusion matrices", confusion_pngs, order, base_dir))
    sections.append(_figure_section("Training curves", curves_pngs, order, base_dir))
    sections.append(_figure_section("Top losses", top_losses_pngs, order, base_dir))
    sections.append(_figure_section("Grad-CAM", grad_cam_pngs, order, base_dir))
    body = "\n".join(s for s in sections if s)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"{body}\n"
        f"<footer>Written by cvtoolkit {_esc(__version__)} on {_esc(when)}.</footer>\n"
        "</body>\n</html>\n"
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
    from cvtoolkit.io import write_text_atomic

    text = render_html_report(
        title=title,
        settings=settings,
        leaderboard=leaderboard,
        confusion_pngs=confusion_pngs,
        curves_pngs=curves_pngs,
        top_losses_pngs=top_losses_pngs,
        grad_cam_pngs=grad_cam_pngs,
        notes=notes,
        base_dir=os.path.dirname(os.path.abspath(path)),
        verdict=verdict,
    )
    write_text_atomic(path, text)
    log.debug("wrote HTML report %s", path)
