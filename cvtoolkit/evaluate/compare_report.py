"""The reports of ``cvtoolkit compare``: the answer first, then the evidence, settings last.

:func:`write_compare_reports` writes, into a run folder, ``report.html``
(self-contained: images as ``data:`` URIs, inline CSS, a few lines of plain
JavaScript so that clicking a column header sorts the leaderboard; no CDN,
nothing fetched) and ``report.md`` in the same order:

1. the verdict (best classical row against best deep row) and, when the run
   checked it, the train/test leakage line;
2. the leaderboard with 95% confidence intervals (``0.981 [0.968, 0.991]``),
   tie marks (rows not significantly worse than the best), p-values, times
   and the saved pipeline size;
3. the Pareto plot (sort metric against predict ms/image), the learning
   curve when there is one, and a methods-by-classes F1 heatmap;
4. one collapsed section per method: confusion matrix, top losses, training
   curves;
5. the settings.

It also draws ``pareto.png`` and ``f1_heatmap.png``. Every piece of text is
escaped. It reads the result duck-typed (``getattr`` with defaults), so rows
and results without CIs, verdict or leakage render too.

Examples
--------
>>> import os, tempfile
>>> from types import SimpleNamespace
>>> rows = [{"method": "hog+linear_svm", "accuracy": 0.8, "accuracy_ci_low": 0.75,
...          "accuracy_ci_high": 0.85, "f1_macro": 0.79, "fit_seconds": 1.0,
...          "predict_ms_per_image": 0.3, "size_bytes": 2048}]
>>> result = SimpleNamespace(rows=rows, reports={}, files={}, settings={"seed": 0},
...                          verdict="only classical rows ran")
>>> out = tempfile.mkdtemp()
>>> files = write_compare_reports(result, out)
>>> sorted(files)  # no per-class reports given: no heatmap
['pareto.png', 'report.html', 'report.md']
>>> '0.800<span class="ci"> [0.750, 0.850]</span>' in open(files["report.html"], encoding="utf-8").read()
True
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence


from cvtoolkit.evaluate.disagreement import GALLERY_CSS
from cvtoolkit.evaluate.html_report import (  # the one leaderboard renderer, shared with evaluate's report
    _SORT_JS,
    _best_name,
    _cell,
    _columns,
    _esc,
    _figure,
    _fmt_ci,
    _kind,
    _settings_table,
    _tie_mark,
    has_tests,
    leaderboard_html,
    page_html,
)
from cvtoolkit.evaluate.leaderboard import _md_cell, _setting_text, finite_float as _float, format_size
from cvtoolkit.evaluate.plots import plot_f1_heatmap  # every plot lives in evaluate/plots.py

log = logging.getLogger(__name__)

__all__ = ["format_size", "plot_f1_heatmap", "render_compare_html", "render_compare_markdown",
           "write_compare_reports"]

METRIC_TITLES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "f1_macro": "macro F1",
                 "log_loss": "log loss"}

_EXTRA_CSS = """
body { max-width: 1400px; }
.verdict { font-size: 1.15em; background: #eef6ee; border-left: 4px solid #3a8a3a; padding: .6em 1em; }
.leakage { background: #fff8e6; border-left: 4px solid #c90; padding: .4em 1em; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; }
td.tie { color: #3a8a3a; }
details { margin: .3em 0; border: 1px solid #ddd; padding: .3em .8em; }
summary { cursor: pointer; font-weight: bold; }
"""

# --------------------------------------------------------------------------- helpers
def _leakage_text(result: Any) -> str | None:
    """The leakage line of ``compare`` (:func:`cvtoolkit.audit.leakage_line`), or None when nothing was checked."""
    leakage = getattr(result, "leakage", None)
    if not leakage:
        return None
    from cvtoolkit.audit.leakage import leakage_line

    return leakage_line(leakage)


def _figure_paths(result: Any, out: Path) -> dict[str, dict[str, str]]:
    """``{"confusion"|"top_losses"|"curves": {method: path}}`` from ``result.files``."""
    groups: dict[str, dict[str, str]] = {"confusion": {}, "top_losses": {}, "curves": {}}
    for key, path in (getattr(result, "files", None) or {}).items():
        kind, _, method = str(key).partition(":")
        if kind in groups and method:
            groups[kind][method] = str(path)
    return groups


def _learning_curve_png(result: Any, out: Path) -> str | None:
    for key, path in (getattr(result, "files", None) or {}).items():
        if str(path).endswith("learning_curve.png") and os.path.exists(path):
            return str(path)
    candidate = out / "learning_curve.png"
    return str(candidate) if candidate.is_file() else None


# --------------------------------------------------------------------------- figures
# --------------------------------------------------------------------------- HTML
def _caption(sort_metric: str, rows: Sequence[Mapping[str, Any]], *, html: bool = True) -> str:
    parts = [f"Sorted by {METRIC_TITLES.get(sort_metric, sort_metric)}" + ("; click a header to sort by it."
                                                                          if html else ".")]
    if any(_float(r.get(f"{k}_ci_low")) is not None for r in rows for k in ("accuracy", "f1_macro")):
        parts.append("Brackets [95% CI]: the 95% confidence interval (stratified bootstrap of the test set).")
    if any("tied_with_best" in r for r in rows):
        parts.append("\u201ctied\u201d: not significantly different from the best row (paired test, "
                     "Holm-corrected, 0.05).")
    if any(_float(r.get("size_bytes")) is not None for r in rows):
        parts.append("size: the fitted pipeline as cvtoolkit fit saves it.")
    if any(_float(r.get("balanced_accuracy")) is not None for r in rows):
        parts.append("Balanced accuracy is the mean per-class accuracy that the papers report (Caltech-101, "
                     "Flowers-17 protocols).")
    if any(r.get("skipped") for r in rows):
        parts.append("skipped: not run, as its estimated cost was more than the time budget had left "
                     "(--time-budget); the verdict says which side is incomplete.")
    for r in rows:
        members = r.get("members")
        if isinstance(members, Mapping) and members:
            mix = " + ".join(f"{float(w):.2f} {name}" for name, w in members.items())
            parts.append(f"{r['method']} = {mix} (late fusion of probabilities; weights fitted on out-of-fold "
                         "probabilities of the training split, never on the test split).")
    return " ".join(parts)


def _report_head(result: Any, out: str | os.PathLike) -> tuple[Path, list, str, str | None, str | None]:
    """What both reports open with: the folder, the rows, the sort metric, the verdict and the leakage line."""
    rows = list(getattr(result, "rows", []) or [])
    sort_metric = getattr(result, "sort_metric", None) or "accuracy"
    return Path(out), rows, sort_metric, getattr(result, "verdict", None), _leakage_text(result)


def render_compare_html(result: Any, out: str | os.PathLike, *, title: str = "cvtoolkit compare",
                        pareto_png: str | None = None, heatmap_png: str | None = None) -> str:
    """The ``report.html`` text for ``result`` (a :class:`~cvtoolkit.methods.compare.CompareResult`)."""
    out, rows, sort_metric, verdict, leak = _report_head(result, out)
    figures = _figure_paths(result, out)
    curve = _learning_curve_png(result, out)
    order = [str(r["method"]) for r in rows]
    sections = [f"<h1>{_esc(title)}</h1>", "<h2>Verdict</h2>"]
    sections.append(f'<p class="verdict" id="verdict">{_esc(verdict or "no verdict was computed for this run")}</p>')
    if leak:
        sections.append(f'<p class="leakage" id="leakage">{_esc(leak)}</p>')
    from cvtoolkit.evaluate.disagreement import gallery_html, most_confused_html

    gallery = gallery_html(result)  # the verdict's discordant test images (McNemar's b and c), after the board
    sections += ["<h2>Leaderboard</h2>", f"<p>{_esc(_caption(sort_metric, rows))}</p>",
                 leaderboard_html(rows, sort_metric)]
    sections += [gallery] if gallery else []
    figs = []
    if pareto_png:
        figs.append(_figure(pareto_png, f"{METRIC_TITLES.get(sort_metric, sort_metric)} against predict ms/image "
                                        "(Pareto front filled)", out))
    if curve:
        figs.append(_figure(curve, "learning curves", out))
    if heatmap_png:
        figs.append(_figure(heatmap_png, "per-class F1 of every method", out))
    if figs:
        sections += ["<h2>Cost, data and classes</h2>"] + figs
    reports = getattr(result, "reports", None) or {}
    methods = [m for m in order if any(m in g for g in figures.values()) or m in reports]
    if methods:
        sections.append("<h2>Methods</h2>")
    for method in methods:
        row = next((r for r in rows if str(r["method"]) == method), {})
        summary = method + (f" \u2014 {METRIC_TITLES.get(sort_metric, sort_metric)} {_fmt_ci(row, sort_metric)}"
                            if _float(row.get(sort_metric)) is not None else "")
        parts = [f"<details><summary>{_esc(summary)}</summary>"]
        for kind, caption in (("confusion", "confusion matrix"), ("top_losses", "top losses"),
                              ("curves", "training curves")):
            if method in figures[kind]:
                parts.append(_figure(figures[kind][method], f"{method}: {caption}", out))
        parts.append(most_confused_html(reports.get(method), method))
        parts.append("</details>")
        sections.append("\n".join(parts))
    sections += ["<h2>Settings</h2>", _settings_table(getattr(result, "settings", None) or {})]
    return page_html(title, "\n".join(sections), css=_EXTRA_CSS + GALLERY_CSS, script=_SORT_JS)


# --------------------------------------------------------------------------- Markdown
def _md_image(path: str, out: Path, alt: str) -> str:
    try:
        rel = os.path.relpath(path, out)
    except ValueError:  # another drive (Windows)
        rel = str(path)
    rel = rel.replace(os.sep, "/").replace(" ", "%20")
    return f"![{_md_cell(alt).replace('[', '').replace(']', '')}]({rel})"


def render_compare_markdown(result: Any, out: str | os.PathLike, *, title: str = "cvtoolkit compare",
                            pareto_png: str | None = None, heatmap_png: str | None = None) -> str:
    """The ``report.md`` text: the same order as the HTML report."""
    out, rows, sort_metric, verdict, leak = _report_head(result, out)
    lines = [f"# {_md_cell(title)}", "", "## Verdict", "", f"**{_md_cell(verdict or 'no verdict was computed')}**",
             ""]
    if leak:
        lines += [_md_cell(leak), ""]
    lines += ["## Leaderboard", "", _md_cell(_caption(sort_metric, rows, html=False)), ""]
    if rows:
        columns = _columns(rows)
        best = _best_name(rows)
        has_kind = any(r.get("deep") is not None for r in rows)
        has_tie = has_tests(rows)
        header = (["rank", "method"] + (["vs best"] if has_tie else []) + (["kind"] if has_kind else [])
                  + [t for _, t, _ in columns])
        failed_any = any(r.get("error") for r in rows)
        header += ["note"] if failed_any else []
        lines += ["| " + " | ".join(header) + " |",
                  "|" + "|".join("---:" if h not in ("method", "note", "kind", "vs best") else ":---"
                                 for h in header) + "|"]
        rank = 0
        for row in rows:
            failed = bool(row.get("error"))
            rank += 0 if failed else 1
            cells = ["-" if failed else str(rank), str(row["method"])] + ([_tie_mark(row, best)] if has_tie else [])
            cells += [_kind(row)] if has_kind else []
            cells += ["-" if failed else _cell(row, key, kind)[0] for key, _, kind in columns]
            cells += ([(f"skipped: {row['skipped']}" if row.get("skipped")
                        else f"error: {' '.join(str(row['error']).split())[:160]}") if failed else ""]
                      if failed_any else [])
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        lines.append("")
    from cvtoolkit.evaluate.disagreement import gallery_markdown

    lines += gallery_markdown(result)
    curve = _learning_curve_png(result, out)
    figs = [(p, alt) for p, alt in ((pareto_png, "Pareto plot"), (curve, "learning curves"),
                                    (heatmap_png, "per-class F1 heatmap")) if p]
    if figs:
        lines += ["## Cost, data and classes", ""]
        for path, alt in figs:
            lines += [_md_image(path, out, alt), ""]
    figures = _figure_paths(result, out)
    methods = [str(r["method"]) for r in rows if any(str(r["method"]) in g for g in figures.values())]
    if methods:
        lines += ["## Methods", ""]
    for method in methods:
        lines += [f"### {_md_cell(method)}", ""]
        for kind, caption in (("confusion", "confusion matrix"), ("top_losses", "top losses"),
                              ("curves", "training curves")):
            if method in figures[kind]:
                lines += [_md_image(figures[kind][method], out, f"{method}: {caption}"), ""]
    settings = getattr(result, "settings", None) or {}
    lines += ["## Settings", "", "| setting | value |", "|:---|:---|"]
    lines += [f"| {_md_cell(k)} | {_md_cell(_setting_text(v))} |" for k, v in settings.items()]
    return "\n".join(lines).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- entry point
def write_compare_reports(result: Any, out: str | os.PathLike, *, title: str = "cvtoolkit compare") -> dict[str, str]:
    """Draw ``pareto.png`` and ``f1_heatmap.png``, write ``report.html`` and ``report.md`` into ``out``.

    Returns ``{file name: path}`` of what was written. A figure that cannot
    be drawn is logged and left out; the reports are always written.
    """
    from cvtoolkit.io import write_text_atomic
    from cvtoolkit.evaluate.plots import plot_pareto

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = list(getattr(result, "rows", []) or [])
    sort_metric = getattr(result, "sort_metric", None) or "accuracy"
    files: dict[str, str] = {}
    pareto = heatmap = None
    try:
        plot_pareto(rows, out / "pareto.png", metric=sort_metric)
        pareto = files["pareto.png"] = str(out / "pareto.png")
    except Exception as err:  # a figure must not cost the reports
        log.warning("cannot draw the Pareto plot: %s: %s", type(err).__name__, err)
    try:
        if plot_f1_heatmap(getattr(result, "reports", None) or {}, [str(r["method"]) for r in rows],
                           out / "f1_heatmap.png"):
            heatmap = files["f1_heatmap.png"] = str(out / "f1_heatmap.png")
    except Exception as err:
        log.warning("cannot draw the F1 heatmap: %s: %s", type(err).__name__, err)
    html_text = render_compare_html(result, out, title=title, pareto_png=pareto, heatmap_png=heatmap)
    write_text_atomic(out / "report.html", html_text)
    files["report.html"] = str(out / "report.html")
    write_text_atomic(out / "report.md", render_compare_markdown(result, out, title=title, pareto_png=pareto,
                                                                 heatmap_png=heatmap))
    files["report.md"] = str(out / "report.md")
    return files
