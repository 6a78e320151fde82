"""Look at the mistakes: top losses, most-confused pairs, per-class errors.

The ergonomics follow fastai's ``ClassificationInterpretation``
(``top_losses``, ``plot_top_losses``, ``most_confused``) as plain functions
on arrays, so they serve every method of the toolkit, classical rows
included: anything with an ``(N, K)`` probability matrix can be
interpreted. Grad-CAM, which needs a Keras model, lives in
:mod:`cvtoolkit.evaluate.gradcam`.

Examples
--------
>>> import numpy as np
>>> y = np.array([0, 1, 1, 2])
>>> proba = np.array([[.9, .05, .05], [.6, .3, .1], [.1, .8, .1], [.1, .2, .7]])
>>> idx, losses = top_losses(y, proba, 2)
>>> idx.tolist(), [round(v, 3) for v in losses.tolist()]
([1, 3], [1.204, 0.357])
>>> most_confused(y, proba.argmax(1), ["cat", "dog", "panda"])
[('dog', 'cat', 1)]
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Sequence

import numpy as np

from cvtoolkit.evaluate.metrics import check_predictions, confusion_matrix, predicted_labels

log = logging.getLogger(__name__)

__all__ = [
    "most_confused",
    "per_class_errors",
    "per_sample_losses",
    "plot_image_grid",
    "plot_top_losses",
    "to_display_image",
    "top_losses",
]

_EPS = 1e-15


def per_sample_losses(y_true: Sequence[int] | np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Cross-entropy of each sample: ``-log p(true class)`` (probabilities clipped at 1e-15).

    Examples
    --------
    >>> per_sample_losses([0, 1], np.array([[1.0, 0.0], [0.5, 0.5]])).round(4).tolist()
    [0.0, 0.6931]
    """
    y, p = check_predictions(y_true, proba)
    return 0.0 - np.log(np.clip(p[np.arange(len(y)), y], _EPS, 1.0))  # 0.0 - x: no -0.0


def top_losses(
    y_true: Sequence[int] | np.ndarray, proba: np.ndarray, k: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and losses of the ``k`` samples the model got most wrong.

    Parameters
    ----------
    y_true : array-like of int, shape (N,)
        True class indices.
    proba : array-like, shape (N, K)
        Class probabilities.
    k : int, optional
        How many to return (all when ``None``; at most ``N``).

    Returns
    -------
    indices : ndarray of int64, shape (k,)
        Sample indices, largest loss first (ties: lower index first).
    losses : ndarray of float64, shape (k,)
        ``-log p(true class)`` of those samples, descending.

    Examples
    --------
    >>> top_losses([0, 0, 0], np.array([[.9, .1], [.2, .8], [.5, .5]]), 2)[0].tolist()
    [1, 2]
    """
    losses = per_sample_losses(y_true, proba)
    order = np.argsort(-losses, kind="stable")
    if k is not None:
        if int(k) < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        order = order[: int(k)]
    return order.astype(np.int64), losses[order]


def most_confused(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    min_count: int = 1,
) -> list[tuple[str, str, int]]:
    """The (true class, predicted class, count) pairs the model mixes up most.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
        True and predicted class indices.
    class_names : sequence of str
        Names of the classes, in label order.
    min_count : int
        Leave out pairs seen fewer times.

    Returns
    -------
    list of (str, str, int)
        Off-diagonal cells of the confusion matrix with at least
        ``min_count`` samples, largest first (ties in label order).

    Examples
    --------
    >>> most_confused([0, 0, 1, 1, 1], [1, 1, 0, 1, 1], ["cat", "dog"])
    [('cat', 'dog', 2), ('dog', 'cat', 1)]
    """
    names = [str(c) for c in class_names]
    cm = confusion_matrix(y_true, y_pred, len(names))
    pairs = [
        (names[i], names[j], int(cm[i, j]), i, j)
        for i in range(len(names))
        for j in range(len(names))
        if i != j and cm[i, j] >= max(int(min_count), 1)
    ]
    pairs.sort(key=lambda t: (-t[2], t[3], t[4]))
    return [(t, p, c) for t, p, c, _, _ in pairs]


def per_class_errors(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    *,
    sort: bool = True,
) -> list[dict[str, Any]]:
    """How often each class is misclassified, and as what.

    Works from predicted labels alone, so it interprets classical rows
    (which have no Grad-CAM) as well as CNNs.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
        True and predicted class indices.
    class_names : sequence of str
        Names of the classes, in label order.
    sort : bool
        Worst class first (highest error rate, then most errors); else
        label order.

    Returns
    -------
    list of dict
        One dict per class: ``class``, ``support``, ``errors``,
        ``error_rate`` (``None`` when the class is absent),
        ``confused_with`` (the most frequent wrong prediction, or ``None``)
        and ``confused_count``.

    Examples
    --------
    >>> rows = per_class_errors([0, 0, 1, 1], [0, 1, 1, 1], ["cat", "dog"])
    >>> rows[0]
    {'class': 'cat', 'support': 2, 'errors': 1, 'error_rate': 0.5, 'confused_with': 'dog', 'confused_count': 1}
    """
    names = [str(c) for c in class_names]
    cm = confusion_matrix(y_true, y_pred, len(names))
    rows = []
    for i, name in enumerate(names):
        support = int(cm[i].sum())
        wrong = cm[i].copy()
        wrong[i] = 0
        errors = int(wrong.sum())
        j = int(np.argmax(wrong)) if errors else None
        rows.append(
            {
                "class": name,
                "support": support,
                "errors": errors,
                "error_rate": errors / support if support else None,
                "confused_with": names[j] if j is not None else None,
                "confused_count": int(wrong[j]) if j is not None else 0,
            }
        )
    if sort:
        rows.sort(key=lambda r: (r["error_rate"] is None, -(r["error_rate"] or 0.0), -r["errors"]))
    return rows


def to_display_image(image: np.ndarray) -> np.ndarray:
    """An image as ``(H, W, 3)`` ``uint8`` RGB for drawing.

    Grey ``(H, W)`` or ``(H, W, 1)`` images are repeated to 3 channels,
    RGBA loses alpha, and float images are read as ``[0, 1]`` when their
    maximum is at most 1, else as ``[0, 255]``.

    Examples
    --------
    >>> to_display_image(np.ones((2, 2), np.float32)).tolist()[0][0]
    [255, 255, 255]
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise ValueError(f"expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, got shape {img.shape}")
    img = img[..., :3]
    if img.dtype == np.uint8:
        return img
    img = img.astype(np.float64)
    finite = img[np.isfinite(img)]
    if finite.size and finite.max() <= 1.0 and finite.min() >= 0.0:
        img = img * 255.0
    return np.clip(np.nan_to_num(img), 0, 255).round().astype(np.uint8)


def plot_image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    suptitle: str | None = None,
    cell_inches: float = 2.4,
    title_lines: int = 3,
) -> Any:
    """A grid of images, each with a small title above it.

    Returns a pyplot-free :class:`matplotlib.figure.Figure`.

    Examples
    --------
    >>> fig = plot_image_grid([np.zeros((8, 8, 3), np.uint8)] * 3, ["a", "b", "c"])
    >>> len(fig.axes)
    3
    """
    from cvtoolkit.evaluate.plots import new_figure

    n = len(images)
    if n == 0:
        fig = new_figure(3, 1)
        fig.text(0.5, 0.5, "nothing to show", ha="center", va="center")
        return fig
    cols = int(ncols or math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    title_h = 0.18 * title_lines
    fig = new_figure(cols * cell_inches, rows * (cell_inches + title_h) + (0.4 if suptitle else 0.0))
    for i, img in enumerate(images):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(to_display_image(img), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(str(suptitle))
    return fig


def _file_label(path: str, limit: int = 28) -> str:
    """``class/file.jpg`` (the last two parts of a path), cut from the left to ``limit`` characters."""
    text = "/".join(str(path).replace("\\", "/").split("/")[-2:])
    return text if len(text) <= limit else "\u2026" + text[-(limit - 1):]


def plot_top_losses(
    images: Sequence[np.ndarray] | np.ndarray,
    y_true: Sequence[int] | np.ndarray,
    proba: np.ndarray,
    class_names: Sequence[str],
    k: int = 9,
    *,
    path: str | os.PathLike | None = None,
    title: str | None = None,
    ncols: int | None = None,
    names: Sequence[str] | None = None,
) -> Any:
    """A grid of the ``k`` images with the largest loss, fastai style.

    Each cell is titled with the predicted class and its probability, the
    true class and its probability, and the loss; with ``names``, the
    image's file name too (so the user can go and fix its label).

    Parameters
    ----------
    images : ndarray (N, H, W, C) or list of arrays
        The images the probabilities belong to (uint8 RGB, grey, or float).
    y_true : array-like of int, shape (N,)
        True class indices.
    proba : array-like, shape (N, K)
        Class probabilities.
    class_names : sequence of str
        ``K`` names.
    k : int
        Number of images to show.
    path : path-like, optional
        Write the figure there (PNG by the extension), atomically.
    title : str, optional
        Figure title (default: "Top losses").
    ncols : int, optional
        Grid columns (default: about a square).
    names : sequence of str, optional
        Each image's file (or id), shown under its prediction as
        ``class/file.jpg`` (the last two path parts, at most 28 characters).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> imgs = np.zeros((4, 8, 8, 3), np.uint8)
    >>> proba = np.array([[.9, .1], [.3, .7], [.6, .4], [.2, .8]])
    >>> fig = plot_top_losses(imgs, [0, 0, 1, 1], proba, ["cat", "dog"], k=2)
    >>> [ax.get_title().splitlines()[0] for ax in fig.axes]
    ['pred dog (0.70)', 'pred cat (0.60)']
    """
    files = None if names is None else [str(n) for n in names]
    names = [str(c) for c in class_names]
    y, p = check_predictions(y_true, proba)
    if files is not None and len(files) != len(y):
        raise ValueError(f"{len(files)} names for {len(y)} images")
    if len(images) != len(y):
        raise ValueError(f"{len(images)} images but {len(y)} labels; pass the images the probabilities belong to")
    if len(names) != p.shape[1]:
        raise ValueError(f"{len(names)} class names for {p.shape[1]} probability columns")
    idx, losses = top_losses(y, p, k)
    pred = predicted_labels(p)
    titles = [
        f"pred {names[pred[i]]} ({p[i, pred[i]]:.2f})\ntrue {names[y[i]]} ({p[i, y[i]]:.2f})\nloss {loss:.2f}"
        for i, loss in zip(idx, losses)
    ]
    if files is not None:
        titles = [f"{_file_label(files[int(i)])}\n{t}" for i, t in zip(idx, titles)]
    fig = plot_image_grid([images[int(i)] for i in idx], titles, ncols=ncols, title_lines=3 if files is None else 4,
                          suptitle=title or "Top losses: prediction (prob), truth (prob), loss")
    if path is not None:
        from cvtoolkit.evaluate.plots import save_figure

        save_figure(fig, path)
        log.debug("wrote top losses %s", path)
    return fig
