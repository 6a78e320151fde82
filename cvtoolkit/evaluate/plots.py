"""Figures for evaluation: confusion matrices, image grids, the Pareto front, learning curves, per-class F1.

Presentation only: functions take arrays that :mod:`cvtoolkit.evaluate.metrics`
computed and return a :class:`matplotlib.figure.Figure`. Figures are built
on :class:`~matplotlib.figure.Figure` directly, never through ``pyplot``, so
nothing opens a window, no global figure list fills up, and the code works
on headless machines and in threads. :func:`save_figure` writes one
atomically.

Examples
--------
>>> import numpy as np, os, tempfile
>>> fig = plot_confusion_matrix(np.array([[3, 1], [0, 4]]), ["cat", "dog"])
>>> path = os.path.join(tempfile.mkdtemp(), "cm.png")
>>> save_figure(fig, path)
>>> open(path, "rb").read(4)
b'\\x89PNG'
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["normalize_confusion_matrix", "pareto_front", "plot_confusion_matrix", "plot_f1_heatmap",
           "plot_learning_curve", "plot_pareto", "save_figure", "new_figure"]

logger = logging.getLogger(__name__)

LOWER_IS_BETTER = ("log_loss",)
"""Metrics where a smaller value is better."""

NORMALIZE_CHOICES = (None, "true", "pred", "all")


def new_figure(width: float, height: float, *, dpi: int = 100) -> Any:
    """A pyplot-free :class:`matplotlib.figure.Figure` of ``width x height`` inches."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int | None = None) -> None:
    """Write ``fig`` to ``path`` atomically (format from the extension, PNG usually).

    Examples
    --------
    >>> import os, tempfile
    >>> fig = new_figure(2, 2)
    >>> save_figure(fig, os.path.join(tempfile.mkdtemp(), "blank.png"))
    """
    from cvtoolkit.io import save_figure_atomic

    kw = {} if dpi is None else {"dpi": dpi}
    save_figure_atomic(fig, path, **kw)


def normalize_confusion_matrix(cm: np.ndarray, normalize: str | None) -> np.ndarray:
    """Counts as fractions of each true class (``"true"``), predicted class
    (``"pred"``) or the total (``"all"``), as scikit-learn's ``normalize``.

    Empty rows or columns give 0, not NaN.

    Examples
    --------
    >>> normalize_confusion_matrix(np.array([[3, 1], [0, 0]]), "true").tolist()
    [[0.75, 0.25], [0.0, 0.0]]
    """
    if normalize not in NORMALIZE_CHOICES:
        raise ValueError(f"normalize must be one of {NORMALIZE_CHOICES}, got {normalize!r}")
    cm = np.asarray(cm, dtype=np.float64)
    if normalize is None:
        return cm
    with np.errstate(divide="ignore", invalid="ignore"):
        if normalize == "true":
            out = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            out = cm / cm.sum(axis=0, keepdims=True)
        else:
            out = cm / cm.sum()
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def plot_confusion_matrix(
    cm: np.ndarray,
    class_names: Sequence[str],
    *,
    normalize: str | None = None,
    title: str | None = None,
    cmap: str = "Blues",
) -> Any:
    """Draw a confusion matrix with class names on the axes and values in the cells.

    The figure grows with the number of classes and the font shrinks, so
    it stays readable up to about 20 classes; long names on the x axis
    are rotated.

    Parameters
    ----------
    cm : ndarray, shape (K, K)
        Counts; row = true class, column = predicted class.
    class_names : sequence of str
        ``K`` names, in label order.
    normalize : {None, "true", "pred", "all"}
        Colour and annotate fractions instead of counts (each cell then
        also shows its count in brackets when there is room).
    title : str, optional
        Figure title.
    cmap : str
        Matplotlib colormap name.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_confusion_matrix(np.eye(3, dtype=int) * 5, ["a", "b", "c"],
    ...                             normalize="true", title="demo")
    >>> fig.axes[0].get_xlabel()
    'Predicted class'
    """
    cm = np.asarray(cm)
    names = [str(c) for c in class_names]
    k = len(names)
    if cm.shape != (k, k):
        raise ValueError(f"confusion matrix has shape {cm.shape} but there are {k} class names; expected ({k}, {k})")
    values = normalize_confusion_matrix(cm, normalize)
    longest = max((len(n) for n in names), default=1)
    rotate = k > 6 or longest * k > 40
    cell = 0.55 if k > 10 else 0.8
    side = max(4.0, cell * k + 2.0)
    extra = min(longest, 25) * 0.07  # room for the tick labels
    fig = new_figure(side + extra + 1.0, side + (extra if rotate else 0.0))
    ax = fig.add_subplot(1, 1, 1)
    vmax = values.max() if values.size and values.max() > 0 else 1.0
    image = ax.imshow(values, interpolation="nearest", cmap=cmap, vmin=0.0, vmax=vmax)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fontsize = 10 if k <= 8 else (9 if k <= 14 else (8 if k <= 22 else 6))
    both = normalize is not None and k <= 8
    threshold = vmax / 2.0
    for i in range(k):
        for j in range(k):
            if normalize is None:
                text = f"{int(cm[i, j])}"
            elif both:
                text = f"{values[i, j]:.2f}\n({int(cm[i, j])})"
            else:
                text = f"{values[i, j]:.2f}"
            ax.text(
                j, i, text, ha="center", va="center", fontsize=fontsize,
                color="white" if values[i, j] > threshold else "black",
            )
    ax.set_xticks(np.arange(k))
    ax.set_yticks(np.arange(k))
    # Keep both ends of long names: "golden_retr…_long_haired" stays distinct.
    shown = [n if len(n) <= 25 else n[:12] + "\u2026" + n[-12:] for n in names]
    ax.set_xticklabels(shown, fontsize=fontsize, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                       rotation_mode="anchor")
    ax.set_yticklabels(shown, fontsize=fontsize)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_ylim(k - 0.5, -0.5)
    if title:
        ax.set_title(str(title))
    return fig


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


def plot_learning_curve(data: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write the learning-curve PNG: metric against training size, CI bands, crossings marked."""
    metric = data["metric"]
    lower_better = metric in LOWER_IS_BETTER
    fig = new_figure(7, 4.5)
    fig.set_layout_engine("constrained")
    ax = fig.add_subplot(1, 1, 1)
    for name, pts in data["methods"].items():
        pts = [p for p in pts if p.get("value") is not None]
        if not pts:
            continue
        n = [p["n_train"] for p in pts]
        v = [p["value"] for p in pts]
        side = {True: " (deep)", False: " (classical)"}.get(data.get("deep", {}).get(name), "")
        line, = ax.plot(n, v, marker="o", label=name + side)
        lo = [p.get("ci_low") if p.get("ci_low") is not None else p["value"] for p in pts]
        hi = [p.get("ci_high") if p.get("ci_high") is not None else p["value"] for p in pts]
        ax.fill_between(n, lo, hi, alpha=0.2, color=line.get_color(), linewidth=0)
    for c in data.get("crossings", []):
        ax.axvline(c["n_train"], color="0.4", linestyle="--", linewidth=1)
        ax.annotate(f"cross ~{c['n_train']:.0f}", (c["n_train"], ax.get_ylim()[0]), rotation=90,
                    va="bottom", ha="right", fontsize=8, color="0.3")
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    ax.set_xscale("log")
    sizes = sorted({p["n_train"] for pts in data["methods"].values() for p in pts})
    ax.xaxis.set_major_locator(FixedLocator(sizes))
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training samples (log scale)")
    ax.set_ylabel(metric.replace("_", " ") + (" (lower is better)" if lower_better else ""))
    ax.set_title(f"learning curve: {metric.replace('_', ' ')} on the same test split, 95% bootstrap CI")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    save_figure(fig, path)


def plot_f1_heatmap(reports: Mapping[str, Any], methods: Sequence[str], path: str | os.PathLike) -> bool:
    """Methods (rows, leaderboard order) by classes (columns) heatmap of per-class F1; False when nothing to draw.

    ``reports`` maps a method to its
    :class:`~cvtoolkit.evaluate.ClassificationReport`; F1 is written in
    each cell when there are at most 20 classes.
    """
    names = [m for m in methods if m in reports] + [m for m in reports if m not in methods]
    if not names:
        return False
    classes = list(reports[names[0]].class_names)
    grid = np.full((len(names), len(classes)), np.nan)
    for i, name in enumerate(names):
        per_class = reports[name].per_class
        for j, cls in enumerate(classes):
            value = _value(per_class.get(cls) or {}, "f1")
            if value is not None:
                grid[i, j] = value
    longest = max(len(n) for n in names)  # the method names take room beside the cells
    width = min(22.0, max(6.0, 1.5 + 0.07 * longest + 0.45 * len(classes)))
    height = min(22.0, 1.5 + 0.35 * len(names))
    fig = new_figure(width, height)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(grid, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_yticks(range(len(names)), labels=names, fontsize=8)
    ax.set_xticks(range(len(classes)), labels=classes, fontsize=8, rotation=60 if len(classes) > 6 else 0,
                  ha="right" if len(classes) > 6 else "center")
    if len(classes) <= 20 and len(names) <= 40:
        for i in range(len(names)):
            for j in range(len(classes)):
                if not np.isnan(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if grid[i, j] < 0.6 else "black")
    fig.colorbar(image, ax=ax, label="F1")
    fig.suptitle("per-class F1 (methods in leaderboard order)", fontsize=11)  # laid out with the figure: whole
    save_figure(fig, path)
    return True
