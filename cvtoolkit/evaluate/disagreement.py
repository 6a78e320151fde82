"""What the verdict rests on: the test images one side gets right and the other wrong, and each row's mistakes.

fastai's ``ClassificationInterpretation`` shows one model's top losses and
most-confused pairs; :mod:`cvtoolkit.evaluate.interpret` does that for every
row. This module adds what a comparison needs and no peer shows: the
**disagreement gallery** of the verdict's discordant pairs (test images the
best deep row gets right and the best classical row gets wrong, and the
reverse). Their two counts are exactly the ``b`` and ``c`` of the exact
McNemar test behind the verdict's p-value (``verdict_detail["deep_only_right"]``,
``["classical_only_right"]``).

It also writes ``top_losses.csv`` (every row's worst test images with their
file, true and predicted class and probabilities, so a user can go and fix a
label) and renders a ``most_confused`` table per row for the reports.

Examples
--------
>>> import numpy as np
>>> y = np.array([0, 1, 1, 0, 2])
>>> deep_only, classical_only = discordant(y, np.array([0, 1, 0, 0, 2]), np.array([1, 1, 1, 0, 2]))
>>> deep_only.tolist(), classical_only.tolist()
([0], [2])
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cvtoolkit.evaluate.html_report import _esc

log = logging.getLogger(__name__)

__all__ = ["GALLERY_MAX", "TOP_LOSSES_PER_ROW", "discordant", "gallery_html", "gallery_markdown",
           "most_confused_html", "sample_ids", "write_top_losses_csv"]

GALLERY_MAX = 24
"""Thumbnails shown per side of the gallery (the counts always cover every discordant image)."""

TOP_LOSSES_PER_ROW = 50
"""Test images per row in ``top_losses.csv``, largest loss first."""

MOST_CONFUSED_MAX = 10
"""Pairs shown in each row's ``most_confused`` table."""

GALLERY_CSS = """
.gallery figure { width: 104px; margin: 3px; font-size: .75em; overflow-wrap: anywhere; }
.gallery img { width: 96px; height: 96px; object-fit: contain; image-rendering: pixelated; }
.gallery .count { font-weight: bold; }
"""


def discordant(y_true: Sequence[int] | np.ndarray, pred_a: Sequence[int] | np.ndarray,
               pred_b: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices where only ``a`` is right, and where only ``b`` is right (McNemar's ``b`` and ``c`` cells).

    Examples
    --------
    >>> [v.tolist() for v in discordant([0, 0, 0], [0, 1, 0], [1, 0, 0])]
    [[0], [1]]
    """
    y = np.asarray(y_true).astype(np.int64)
    a_ok = np.asarray(pred_a).astype(np.int64) == y
    b_ok = np.asarray(pred_b).astype(np.int64) == y
    return np.flatnonzero(a_ok & ~b_ok), np.flatnonzero(~a_ok & b_ok)


def sample_ids(test: Any) -> list[str]:
    """Each test sample's file (or ``<source>[index]`` for array datasets), as predictions.csv names them."""
    paths = getattr(test, "paths", None)
    if paths is not None:
        return [str(p) for p in paths]
    attrs = getattr(test, "attrs", None) or {}
    idx = attrs.get("split_indices", np.arange(len(test.labels)))
    source = getattr(test, "source", "") or "dataset"
    return [f"{source}[{int(i)}]" for i in idx]


def _short(path: str) -> str:
    parts = str(path).replace("\\", "/").split("/")
    return "/".join(parts[-2:])


def _thumb_uri(image: np.ndarray) -> str:
    import cv2

    from cvtoolkit.evaluate.interpret import to_display_image

    img = to_display_image(image)
    side = max(img.shape[:2])
    if side > 96:
        scale = 96.0 / side
        img = cv2.resize(img, (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img[:, :, ::-1]))
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii") if ok else ""


def _spread(idx: np.ndarray, y: np.ndarray) -> list[int]:
    """``idx`` taken in turn from each true class (first of each class, then second, ...): every class shows.

    Examples
    --------
    >>> _spread(np.array([0, 1, 2, 5]), np.array([0, 0, 0, 1, 1, 1]))
    [0, 5, 1, 2]
    """
    by_class: dict[int, list[int]] = {}
    for i in idx:
        by_class.setdefault(int(y[int(i)]), []).append(int(i))
    queues = [by_class[c] for c in sorted(by_class)]
    out: list[int] = []
    for k in range(max((len(q) for q in queues), default=0)):
        out += [q[k] for q in queues if k < len(q)]
    return out


def _gallery_parts(result: Any) -> dict[str, Any] | None:
    detail = getattr(result, "verdict_detail", None) or {}
    test = getattr(result, "test", None)
    predictions = getattr(result, "predictions", None) or {}
    deep, classical = detail.get("best_deep"), detail.get("best_classical")
    if test is None or deep not in predictions or classical not in predictions or getattr(result, "folds", None):
        return None
    y = np.asarray(test.labels)
    deep_only, classical_only = discordant(y, np.argmax(predictions[deep], 1), np.argmax(predictions[classical], 1))
    return {"deep": deep, "classical": classical, "deep_only": deep_only, "classical_only": classical_only,
            "y": y, "test": test, "predictions": predictions, "p": detail.get("p_value")}


def gallery_html(result: Any) -> str | None:
    """The ``report.html`` section of the disagreement gallery, or None without a deep and a classical row.

    Each side shows up to :data:`GALLERY_MAX` thumbnails (the test image as
    the rows saw it), captioned with the file, the true class and both rows'
    predictions; the headings carry the full counts (McNemar's ``b`` and ``c``).
    """
    parts = _gallery_parts(result)
    if parts is None:
        return None
    from cvtoolkit.evaluate.leaderboard import format_p

    test, y, preds = parts["test"], parts["y"], parts["predictions"]
    names = [str(c) for c in test.class_names]
    ids = sample_ids(test)
    images = getattr(test, "images", None)
    show_images = images is not None and getattr(test, "kind", "images") == "images"
    deep, classical = parts["deep"], parts["classical"]
    p = parts["p"]
    out = ['<h2 id="disagreements">Where deep and classical disagree</h2>',
           f"<p>The test images behind the verdict's McNemar test{' (' + _esc(format_p(p)) + ')' if p is not None else ''}:"
           f" the best deep row ({_esc(deep)}) and the best classical row ({_esc(classical)}) disagree on whether "
           "these are right; on every other test image both are right or both are wrong.</p>"]
    for key, side, winner, loser in (("deep_only", "deep-only", deep, classical),
                                     ("classical_only", "classical-only", classical, deep)):
        idx = parts[key]
        out.append(f'<h3 id="gallery-{side}">{_esc(winner)} right, {_esc(loser)} wrong: '
                   f'<span class="count" data-count="{len(idx)}">{len(idx)}</span> test images</h3>')
        if not len(idx):
            out.append("<p>None.</p>")
            continue
        figs = []
        for i in _spread(idx, y)[:GALLERY_MAX]:
            i = int(i)
            caption = (f"{_esc(_short(ids[i]))}<br>true <b>{_esc(names[y[i]])}</b><br>"
                       f"{_esc(loser)}: {_esc(names[int(np.argmax(preds[loser][i]))])}")
            uri = _thumb_uri(images[i]) if show_images else ""
            img = f'<img src="{uri}" alt="{_esc(_short(ids[i]))}">' if uri else ""
            figs.append(f'<figure data-index="{i}">{img}<figcaption>{caption}</figcaption></figure>')
        out.append(f'<div class="gallery" id="gallery-{side}-images">{"".join(figs)}</div>')
        if len(idx) > GALLERY_MAX:
            out.append(f"<p>... and {len(idx) - GALLERY_MAX} more (predictions.csv has both rows' prediction "
                       "for every test image).</p>")
    return "\n".join(out)


def gallery_markdown(result: Any) -> list[str]:
    """The gallery's counts for ``report.md`` (its images are in ``report.html``); [] without both sides."""
    parts = _gallery_parts(result)
    if parts is None:
        return []
    ids = sample_ids(parts["test"])
    lines = ["## Where deep and classical disagree", ""]
    for key, winner, loser in (("deep_only", parts["deep"], parts["classical"]),
                               ("classical_only", parts["classical"], parts["deep"])):
        idx = parts[key]
        shown = ", ".join(_short(ids[int(i)]) for i in idx[:10])
        lines.append(f"- {winner} right, {loser} wrong: {len(idx)} test images"
                     + (f" ({shown}{', ...' if len(idx) > 10 else ''})" if len(idx) else ""))
    return lines + ["", "The thumbnails are in report.html.", ""]


def most_confused_html(report: Any, method: str) -> str:
    """A small table of the row's most confused (true, predicted) pairs, fastai's ``most_confused``.

    Read off the report's confusion matrix (the off-diagonal cells, largest first).
    """
    cm = getattr(report, "confusion_matrix", None)
    if cm is None:
        return ""
    cm = np.asarray(cm)
    names = [str(c) for c in report.class_names]
    pairs = sorted(((names[i], names[j], int(cm[i, j]), i, j) for i in range(len(names)) for j in range(len(names))
                    if i != j and cm[i, j] > 0), key=lambda t: (-t[2], t[3], t[4]))[:MOST_CONFUSED_MAX]
    if not pairs:
        return f"<p>{_esc(method)}: no test image confused.</p>"
    rows = "".join(f'<tr><td>{_esc(t)}</td><td>{_esc(p)}</td><td class="num">{c}</td></tr>'
                   for t, p, c, _, _ in pairs)
    return (f'<table class="most-confused"><caption>{_esc(method)}: most confused</caption>'
            f"<thead><tr><th>true</th><th>predicted</th><th>images</th></tr></thead><tbody>{rows}</tbody></table>")


def write_top_losses_csv(result: Any, path: str | os.PathLike, k: int = TOP_LOSSES_PER_ROW) -> int:
    """Write ``top_losses.csv``: per row, its ``k`` test images of largest loss; returns the records written.

    Columns: ``method``, ``rank``, ``path`` (the file, or ``<source>[index]``),
    ``true``, ``predicted``, ``probability`` (of the predicted class),
    ``p_true`` and ``loss`` (``-log p_true``).
    """
    from cvtoolkit.evaluate.interpret import top_losses
    from cvtoolkit.evaluate.leaderboard import write_csv_atomic

    test = result.test
    names = [str(c) for c in test.class_names]
    ids = sample_ids(test)
    y = np.asarray(test.labels)
    records = []
    for row in result.rows:
        method = row["method"]
        proba = result.predictions.get(method)
        if proba is None:
            continue
        idx, losses = top_losses(y, proba, min(k, len(y)))
        for rank, (i, loss) in enumerate(zip(idx, losses), start=1):
            pred = int(np.argmax(proba[i]))
            records.append({"method": method, "rank": rank, "path": ids[int(i)], "true": names[int(y[i])],
                            "predicted": names[pred], "probability": f"{float(proba[i, pred]):.6g}",
                            "p_true": f"{float(proba[i, int(y[i])]):.6g}", "loss": f"{float(loss):.6g}"})
    write_csv_atomic(Path(path), ["method", "rank", "path", "true", "predicted", "probability", "p_true", "loss"],
                     records)
    return len(records)
