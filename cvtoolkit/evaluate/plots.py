"""Figures for evaluation: confusion matrices and image grids.

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

import os
from typing import Any, Sequence

import numpy as np

__all__ = ["normalize_confusion_matrix", "plot_confusion_matrix", "save_figure", "new_figure"]

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
