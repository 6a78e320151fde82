"""What a leaderboard row costs: the size of its saved pipeline, and the accuracy-speed Pareto front.

:func:`pipeline_size_bytes` saves a fitted method exactly as ``cvtoolkit
fit`` would (:func:`cvtoolkit.methods.artifact.save_pipeline`) into a
temporary folder and adds up the file sizes, so the ``size_bytes`` column of
``compare`` is the disk footprint a user would deploy.
:func:`pareto_front` and :func:`plot_pareto` put the sort metric against
prediction time per image.

Examples
--------
>>> rows = [{"method": "a", "accuracy": 0.9, "predict_ms_per_image": 1.0},
...         {"method": "b", "accuracy": 0.8, "predict_ms_per_image": 0.1},
...         {"method": "c", "accuracy": 0.7, "predict_ms_per_image": 2.0}]
>>> pareto_front(rows, "accuracy")
['a', 'b']
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

logger = logging.getLogger(__name__)

__all__ = ["folder_size_bytes", "pareto_front", "pipeline_size_bytes", "plot_pareto", "row_size_bytes"]

LOWER_IS_BETTER = ("log_loss",)
"""Metrics where a smaller value is better."""


def folder_size_bytes(path: str | os.PathLike) -> int:
    """Total size in bytes of the files under ``path``.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); _ = open(os.path.join(d, "x"), "wb").write(b"12345")
    >>> folder_size_bytes(d)
    5
    """
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def pipeline_size_bytes(
    estimator: Any,
    *,
    method: str,
    class_names: Sequence[str],
    image_size: Any = None,
    channels: int | None = None,
    kind: str | None = None,
    path: str | os.PathLike | None = None,
    extra: dict | None = None,
) -> int:
    """Bytes the fitted ``estimator`` takes on disk when saved as ``cvtoolkit fit`` saves it.

    Parameters
    ----------
    estimator
        A fitted method (``Pipeline`` of features and classifier, a
        classifier on stored features, or a Keras estimator).
    method, class_names, image_size, channels, kind, extra
        As :func:`cvtoolkit.methods.artifact.save_pipeline`.
    path : path, optional
        Save the pipeline there and keep it (``compare --keep``); by default
        it goes to a temporary folder, deleted afterwards (and not logged).

    Examples
    --------
    >>> import numpy as np
    >>> from cvtoolkit.methods import make_method
    >>> est = make_method("raw+knn").fit(np.zeros((4, 8, 8, 3), np.uint8), [0, 1, 0, 1])
    >>> pipeline_size_bytes(est, method="raw+knn", class_names=["a", "b"]) > 4 * 8 * 8 * 3
    True
    """
    from cvtoolkit.methods.artifact import save_pipeline

    if path is not None:
        # not logged either: compare --keep best prunes the others, and its summary names what it kept
        out = save_pipeline(estimator, path, method=method, class_names=class_names, image_size=image_size,
                            channels=channels, kind=kind, extra=extra)
        return folder_size_bytes(out)
    tmp = Path(tempfile.mkdtemp(prefix="cvtoolkit-size-"))
    try:
        out = save_pipeline(estimator, tmp / "pipeline", method=method, class_names=class_names,
                            image_size=image_size, channels=channels, kind=kind, extra=extra)
        return folder_size_bytes(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _value(row: Mapping[str, Any], key: str) -> float | None:
    value = row.get(key)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _points(rows: Sequence[Mapping[str, Any]], metric: str) -> list[tuple[str, float, float]]:
    points = []
    for row in rows:
        if row.get("error"):
            continue
        score, ms = _value(row, metric), _value(row, "predict_ms_per_image")
        if score is not None and ms is not None:
            points.append((str(row["method"]), score, max(ms, 1e-6)))
    return points


def pareto_front(rows: Sequence[Mapping[str, Any]], metric: str = "accuracy") -> list[str]:
    """Methods no other row beats on both ``metric`` and predict ms/image, best score first.

    A row is on the front when every row that scores at least as well is
    slower (ties on both count as not dominated). Failed rows and rows
    without the metric or the time are left out.
    """
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    points = _points(rows, metric)
    front = []
    for name, score, ms in points:
        dominated = any(
            (sign * s >= sign * score and m <= ms) and (sign * s > sign * score or m < ms)
            for other, s, m in points if other != name
        )
        if not dominated:
            front.append((name, score, ms))
    front.sort(key=lambda p: (-sign * p[1], p[2]))
    return [name for name, _, _ in front]


_KIND_STYLE = {  # marker and colour of each side, so deep and classical rows read apart
    True: ("^", "#d9730d", "deep (CNN, backbone)"),
    False: ("o", "#2a6fb0", "classical"),
}

# Label offsets (points) tried in turn around a marker, nearest first: (dx, dy, ha, va).
_LABEL_OFFSETS = [(dx * sx, dy * sy, "left" if sx > 0 else "right", "bottom" if sy > 0 else "top")
                  for dx, dy in ((6, 3), (6, 12), (10, 22), (14, 34), (18, 46))
                  for sx, sy in ((1, 1), (1, -1), (-1, 1), (-1, -1))]


def _place_labels(fig: Any, ax: Any, points: Sequence[tuple[str, float, float]]) -> list[Any]:
    """Annotate each point where its label overlaps no other label or marker (a leader line when moved far).

    Greedy, best score first: each label takes the first offset of
    :data:`_LABEL_OFFSETS` whose box stays inside the axes and clear of the
    boxes placed so far and of every marker; when none is clear, the one
    with the least overlap.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import Bbox

    FigureCanvasAgg(fig)
    fig.canvas.draw()  # settle the layout: boxes are measured in display pixels
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    markers = [Bbox.from_bounds(x - 5, y - 5, 10, 10)
               for x, y in ax.transData.transform([(ms, score) for _, score, ms in points])]
    legend = ax.get_legend()
    if legend is not None:
        markers.append(legend.get_window_extent(renderer))
    placed: list[Any] = []
    texts = []
    for name, score, ms in sorted(points, key=lambda p: (-p[1], p[2], p[0])):
        best = None
        for dx, dy, ha, va in _LABEL_OFFSETS:
            text = ax.annotate(name, (ms, score), textcoords="offset points", xytext=(dx, dy), fontsize=8,
                               ha=ha, va=va, annotation_clip=False)
            text.set_in_layout(False)
            box = text.get_window_extent(renderer).padded(1)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            overlap = sum(_overlap(box, other) for other in placed + markers) + (0 if inside else 1e6)
            if best is None or overlap < best[0]:
                if best is not None:
                    best[1].remove()
                best = (overlap, text, box, (dx, dy))
            else:
                text.remove()
            if overlap == 0:
                break
        _, text, box, (dx, dy) = best
        if abs(dx) > 6 or abs(dy) > 12:  # moved away from its marker: a thin line leads back
            text.remove()
            text = ax.annotate(name, (ms, score), textcoords="offset points", xytext=(dx, dy), fontsize=8,
                               ha=text.get_ha(), va=text.get_va(), annotation_clip=False,
                               arrowprops={"arrowstyle": "-", "color": "#888", "lw": 0.6, "shrinkA": 0,
                                           "shrinkB": 3})
            text.set_in_layout(False)
        placed.append(box)
        texts.append(text)
    return texts


def _overlap(a: Any, b: Any) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def plot_pareto(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike, *, metric: str = "accuracy",
                title: str | None = None) -> list[str]:
    """Draw ``metric`` against predict ms/image (log scale) with the Pareto front; save a PNG.

    Every row is a labelled point (labels placed so that none overlaps
    another label or a marker); deep rows are orange triangles, classical
    rows blue circles; the front is joined by a line and its points are
    filled. Returns the front (as :func:`pareto_front`).
    """
    from matplotlib.lines import Line2D

    from cvtoolkit.evaluate.plots import new_figure, save_figure

    points = _points(rows, metric)
    front = pareto_front(rows, metric)
    deep = {str(r.get("method")): bool(r.get("deep")) for r in rows}
    fig = new_figure(8.5, 5.5)
    ax = fig.add_subplot(1, 1, 1)
    on = {name for name in front}
    for name, score, ms in points:
        marker, colour, _ = _KIND_STYLE[deep.get(name, False)]
        ax.scatter([ms], [score], s=40, zorder=3, marker=marker, color=colour if name in on else "white",
                   edgecolors=colour)
    handles = [Line2D([], [], marker=m, color=c, linestyle="", label=label)
               for m, c, label in (_KIND_STYLE[k] for k in (False, True)
                                   if any(deep.get(n, False) == k for n, _, _ in points))]
    if front:
        line = sorted(((m, s) for n, s, m in points if n in on))
        handles += ax.step([m for m, _ in line], [s for _, s in line], where="post", color="#555", alpha=0.6,
                           label="Pareto front (filled)")
    if handles:
        ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.set_xscale("log")
    if points:  # room for the labels around the outermost points
        xs = [ms for _, _, ms in points]
        ys = [score for _, score, _ in points]
        ax.set_xlim(min(xs) / 2.5, max(xs) * 6)
        span = (max(ys) - min(ys)) or 0.1
        ax.set_ylim(min(ys) - 0.12 * span, max(ys) + 0.12 * span)
    ax.set_xlabel("predict ms per image (log scale)")
    ax.set_ylabel(metric.replace("_", " ") + (" (lower is better)" if metric in LOWER_IS_BETTER else ""))
    ax.set_title(title or f"{metric.replace('_', ' ')} against prediction time")
    ax.grid(True, which="both", alpha=0.3)
    _place_labels(fig, ax, points)
    save_figure(fig, path)
    logger.debug("wrote Pareto plot %s", path)
    return front


def row_size_bytes(spec: Any, fitted: Any, *, transformer: Any = None, train: Any = None,
                   class_names: Sequence[str] = (), path: str | os.PathLike | None = None,
                   extra: dict | None = None) -> int:
    """``size_bytes`` of one ``compare`` row: its method as ``cvtoolkit fit`` would save it.

    ``fitted`` is the row's fitted classifier (classical and stored rows) or
    network estimator (CNN rows); for a classical row ``transformer`` is its
    descriptor, fitted here on ``train`` when the features came from the
    cache (most descriptors fit in no time; a bag of words refits its
    vocabulary), so the size is that of the whole pipeline. With ``path``
    the pipeline is kept there (``compare --keep``), ``extra`` in its manifest.
    """
    images = getattr(train, "images", None)
    same_size = images is not None and getattr(images, "dtype", object) != object and images.ndim >= 3
    size = [int(images.shape[1]), int(images.shape[2])] if same_size else None
    channels = int(images.shape[-1]) if same_size and images.ndim == 4 else None
    estimator = fitted
    if spec.kind == "classical":
        from sklearn.exceptions import NotFittedError
        from sklearn.pipeline import Pipeline
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(transformer)
        except NotFittedError:
            transformer.fit(train.images, train.labels)
        estimator = Pipeline([("features", transformer), ("classifier", fitted)])
    return pipeline_size_bytes(estimator, method=spec.name, class_names=class_names, image_size=size,
                               channels=channels, kind=spec.kind, path=path, extra=extra)
