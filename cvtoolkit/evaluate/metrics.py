"""Classification metrics from true labels and a probability matrix.

Plain functions on NumPy arrays, no plotting and no files: the report and
leaderboard classes (:mod:`cvtoolkit.evaluate.report`,
:mod:`cvtoolkit.evaluate.leaderboard`) present what these compute. Every
method of the toolkit (a descriptor with a scikit-learn classifier, or a
Keras CNN) ends in an ``(N, K)`` matrix of class probabilities, so one
function scores them all the same way.

The heavy lifting is scikit-learn's (:mod:`sklearn.metrics`); this module
fixes the conventions: columns of ``proba`` are the classes ``0 .. K-1``,
so a small test split that misses a class never changes the meaning of a
column nor crashes the log loss.

Examples
--------
>>> import numpy as np
>>> y = np.array([0, 1, 2, 2])
>>> proba = np.array([[.8, .1, .1], [.2, .7, .1], [.1, .2, .7], [.5, .3, .2]])
>>> m = classification_metrics(y, proba)
>>> m["accuracy"], m["rank5"]
(0.75, None)
>>> rank_k_accuracy(y, proba, 2), rank_k_accuracy(y, proba, 3)
(0.75, 1.0)
"""

from __future__ import annotations

import logging
import math
from typing import Any, Sequence

import numpy as np
from sklearn import metrics as skm

log = logging.getLogger(__name__)

__all__ = [
    "METRIC_KEYS",
    "check_predictions",
    "classification_metrics",
    "confusion_matrix",
    "per_class_metrics",
    "predicted_labels",
    "rank_k_accuracy",
]

METRIC_KEYS = (
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "rank1",
    "rank5",
    "log_loss",
    "roc_auc",
)
"""Keys of the dict :func:`classification_metrics` returns (plus ``n_samples``)."""


def check_predictions(
    y_true: Sequence[int] | np.ndarray, proba: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and normalise labels and a probability matrix.

    Parameters
    ----------
    y_true : array-like of int, shape (N,)
        True class indices in ``0 .. K-1``.
    proba : array-like of float, shape (N, K) or (N,)
        Class probabilities, one column per class. A 1-D array is read as
        the probability of class 1 of a binary problem.

    Returns
    -------
    y_true : ndarray of int64, shape (N,)
    proba : ndarray of float64, shape (N, K)
        Negative values clipped to 0, then each row rescaled to sum to 1
        (rows that sum to 0 become uniform).

    Raises
    ------
    ValueError
        Empty input, lengths that differ, fewer than 2 columns, non-finite
        probabilities, or labels outside ``0 .. K-1`` (``-1`` marks
        unlabelled samples, which cannot be scored).

    Examples
    --------
    >>> y, p = check_predictions([0, 1], [0.2, 0.9])
    >>> p.tolist()
    [[0.8, 0.2], [0.09999999999999998, 0.9]]
    """
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D class indices, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("y_true must hold integer class indices, got non-integer values")
    y = y.astype(np.int64)
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1:
        p = np.stack([1.0 - p, p], axis=1)
    if p.ndim != 2:
        raise ValueError(f"proba must be an (N, K) matrix of class probabilities, got shape {p.shape}")
    if len(y) == 0:
        raise ValueError("cannot score an empty prediction set (0 samples); evaluate on at least one sample")
    if len(y) != len(p):
        raise ValueError(
            f"y_true has {len(y)} labels but proba has {len(p)} rows; "
            "pass one probability row per labelled sample"
        )
    k = p.shape[1]
    if k < 2:
        raise ValueError(f"proba has {k} column; classification needs at least 2 classes")
    if not np.all(np.isfinite(p)):
        raise ValueError("proba contains NaN or infinite values; check the model's output")
    bad = (y < 0) | (y >= k)
    if bad.any():
        raise ValueError(
            f"y_true holds {int(bad.sum())} labels outside 0..{k - 1} (first: {int(y[bad][0])}); "
            "-1 marks unlabelled samples, which cannot be scored; drop them first"
        )
    p = np.clip(p, 0.0, None)
    sums = p.sum(axis=1, keepdims=True)
    zero = sums[:, 0] <= 0
    if zero.any():
        p[zero] = 1.0 / k
        sums[zero] = 1.0
    p = p / sums
    return y, p


def predicted_labels(proba: np.ndarray) -> np.ndarray:
    """Index of the most probable class of each row (first one on ties).

    Examples
    --------
    >>> predicted_labels(np.array([[.2, .8], [.5, .5]])).tolist()
    [1, 0]
    """
    p = np.asarray(proba)
    if p.ndim == 1:
        return (p > 0.5).astype(np.int64)
    return np.argmax(p, axis=1).astype(np.int64)


def _top_k_hits(y: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    # A stable sort on -p ranks tied classes by index, as argmax does, so
    # rank-1 equals accuracy exactly.
    order = np.argsort(-p, axis=1, kind="stable")[:, :k]
    return np.any(order == y[:, None], axis=1)


def rank_k_accuracy(y_true: Sequence[int] | np.ndarray, proba: np.ndarray, k: int) -> float:
    """Fraction of samples whose true class is among the ``k`` most probable.

    Parameters
    ----------
    y_true : array-like of int, shape (N,)
        True class indices.
    proba : array-like, shape (N, K)
        Class probabilities (or any scores: only their order matters).
    k : int
        How many top classes count as a hit; ``k >= K`` gives 1.0.

    Returns
    -------
    float
        Rank-``k`` accuracy in ``[0, 1]``; rank-1 is the plain accuracy.

    Examples
    --------
    >>> proba = np.array([[.1, .2, .3, .4], [.4, .3, .2, .1]])
    >>> rank_k_accuracy([1, 1], proba, 1), rank_k_accuracy([1, 1], proba, 3)
    (0.0, 1.0)
    """
    if int(k) < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    y, p = check_predictions(y_true, proba)
    return float(np.mean(_top_k_hits(y, p, int(k))))


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    k = p.shape[1]
    present = np.unique(y)
    if len(present) < k:
        # One-vs-rest AUC needs positives and negatives of every class.
        log.debug("ROC AUC undefined: classes %s absent from y_true",
                  sorted(set(range(k)) - set(present.tolist())))
        return None
    try:
        if k == 2:
            value = skm.roc_auc_score(y, p[:, 1])
        else:
            value = skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=list(range(k)))
    except ValueError as err:  # pragma: no cover - guarded above
        log.debug("ROC AUC undefined: %s", err)
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    proba: np.ndarray,
    *,
    labels: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Score class probabilities against true labels.

    Parameters
    ----------
    y_true : array-like of int, shape (N,)
        True labels. With ``labels=None`` these are column indices of
        ``proba`` (``0 .. K-1``).
    proba : array-like of float, shape (N, K)
        Class probabilities; column ``j`` is class ``j`` (or ``labels[j]``).
        Negative values are clipped to 0 and rows renormalised to sum to 1.
    labels : sequence of int, optional
        The label value of each column of ``proba`` when they are not
        ``0 .. K-1`` (for example a classifier's ``classes_``).

    Returns
    -------
    dict
        ``accuracy``, ``precision_macro``, ``recall_macro``, ``f1_macro``
        (macro averages over the classes present in ``y_true`` or the
        predictions, zero for undefined ratios), ``rank1``, ``rank5`` (only
        meaningful when ``K > 5``, else ``None``), ``log_loss`` (over all
        ``K`` columns, so classes missing from a small split are fine;
        probabilities clipped away from 0), ``roc_auc`` (binary: AUC of
        column 1; multiclass: one-vs-rest macro; ``None`` when undefined,
        e.g. a class absent from ``y_true``), and ``n_samples``. All values
        are Python ``float``/``int``/``None``, ready for JSON.

    Raises
    ------
    ValueError
        Inconsistent shapes, fewer than 2 classes, labels outside the
        columns (see :func:`check_predictions`).

    Examples
    --------
    >>> y = [0, 0, 1, 1]
    >>> proba = np.array([[.9, .1], [.4, .6], [.3, .7], [.2, .8]])
    >>> m = classification_metrics(y, proba)
    >>> m["accuracy"], m["roc_auc"], round(m["log_loss"], 4)
    (0.75, 1.0, 0.4004)
    """
    p_raw = np.asarray(proba)
    if labels is not None:
        labels = [int(v) for v in labels]
        k = p_raw.shape[1] if p_raw.ndim == 2 else 2
        if len(labels) != k:
            raise ValueError(f"labels has {len(labels)} entries but proba has {k} columns; give one label per column")
        index = {v: i for i, v in enumerate(labels)}
        y_in = np.asarray(y_true).astype(np.int64)
        unknown = sorted({int(v) for v in y_in} - set(index))
        if unknown:
            raise ValueError(f"y_true holds labels {unknown[:5]} that are not in labels={labels}")
        y_true = np.array([index[int(v)] for v in y_in], dtype=np.int64)
    y, p = check_predictions(y_true, p_raw)
    k = p.shape[1]
    y_pred = predicted_labels(p)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y, y_pred, average="macro", zero_division=0
    )
    rank1 = float(np.mean(_top_k_hits(y, p, 1)))
    out: dict[str, Any] = {
        "accuracy": float(skm.accuracy_score(y, y_pred)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
        "rank1": rank1,
        "rank5": float(np.mean(_top_k_hits(y, p, 5))) if k > 5 else None,
        "log_loss": float(skm.log_loss(y, np.clip(p, 1e-15, 1.0), labels=list(range(k)))),
        "roc_auc": _roc_auc(y, p),
        "n_samples": int(len(y)),
    }
    return out


def confusion_matrix(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, n_classes: int
) -> np.ndarray:
    """The ``(K, K)`` count matrix: row = true class, column = predicted class.

    Every class ``0 .. n_classes-1`` gets a row and a column, present or not.

    Examples
    --------
    >>> confusion_matrix([0, 1, 1], [0, 0, 1], 3).tolist()
    [[1, 0, 0], [1, 1, 0], [0, 0, 0]]
    """
    y = np.asarray(y_true, dtype=np.int64)
    yp = np.asarray(y_pred, dtype=np.int64)
    return skm.confusion_matrix(y, yp, labels=list(range(int(n_classes)))).astype(np.int64)


def per_class_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
) -> dict[str, dict[str, float | int]]:
    """Precision, recall, F1 and support of every class, keyed by class name.

    Undefined ratios (a class never predicted, or absent) are 0.

    Examples
    --------
    >>> per_class_metrics([0, 1, 1], [0, 0, 1], ["cat", "dog"])["dog"]
    {'precision': 1.0, 'recall': 0.5, 'f1': 0.6666666666666666, 'support': 2}
    """
    names = [str(c) for c in class_names]
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        np.asarray(y_true, dtype=np.int64),
        np.asarray(y_pred, dtype=np.int64),
        labels=list(range(len(names))),
        average=None,
        zero_division=0,
    )
    return {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
    }
