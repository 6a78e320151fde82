"""Uncertainty and paired tests for classifier scores: plain NumPy/SciPy functions.

- :func:`bootstrap_ci`: a seeded, stratified percentile bootstrap of one
  metric on one test set, vectorised (one index matrix, one ``bincount`` of
  confusion counts per resample; no Python loop over resamples).
- :func:`paired_bootstrap_diff`: the same resamples for two predictions of
  the same test set, giving a CI of their difference.
- :func:`mcnemar_exact`: exact McNemar test (binomial test on the
  discordant pairs) of two classifiers on the same test set.
- :func:`holm`: Holm's step-down adjustment of several p-values.
- :func:`corrected_resampled_ttest`: Nadeau and Bengio's (2003) corrected
  resampled t-test of per-fold score differences from repeated k-fold.

Metrics by name (``"accuracy"``, ``"balanced_accuracy"``, ``"f1_macro"``)
take predicted class indices; ``"log_loss"`` takes an ``(N, K)`` probability
matrix. Each equals scikit-learn's function of the same name on every
resample (``f1_macro`` with ``zero_division=0`` over the classes present in
the truth or the predictions, like :func:`sklearn.metrics.f1_score`).

References
----------
.. [1] B. Efron and R. Tibshirani, *An Introduction to the Bootstrap*, 1993.
.. [2] Q. McNemar, "Note on the sampling error of the difference between
   correlated proportions or percentages", Psychometrika 12, 1947.
.. [3] S. Holm, "A simple sequentially rejective multiple test procedure",
   Scandinavian Journal of Statistics 6, 1979.
.. [4] C. Nadeau and Y. Bengio, "Inference for the generalization error",
   Machine Learning 52, 2003.

Examples
--------
>>> import numpy as np
>>> y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
>>> a = np.array([0, 0, 1, 1, 1, 1, 2, 2, 2, 0])
>>> low, high = bootstrap_ci(y, a, "accuracy", n_resamples=200, seed=0)
>>> bool(low <= 0.8 <= high)
True
>>> mcnemar_exact(y, a, y)  # b: 0 wins, 2 losses -> 2 * 0.5**2
0.5
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

__all__ = [
    "METRICS",
    "bootstrap_ci",
    "bootstrap_indices",
    "corrected_resampled_ttest",
    "corrected_ttest_ci",
    "holm",
    "mcnemar_exact",
    "metric_value",
    "paired_bootstrap_diff",
    "resampled_metric",
    "resampled_metrics",
]

METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "log_loss")
"""Metric names these functions know (``log_loss``: lower is better)."""

_CHUNK = 2_000_000  # index-matrix cells per chunk: bounds memory (~16 MB of int64 per array)


def _as_labels(y: Sequence[int] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D class indices, got shape {arr.shape}")
    return arr.astype(np.int64, copy=False)


def bootstrap_indices(
    y_true: Sequence[int] | np.ndarray,
    n_resamples: int = 1000,
    *,
    seed: int = 0,
    stratify: bool = True,
) -> np.ndarray:
    """The ``(n_resamples, N)`` index matrix the bootstrap functions use.

    With ``stratify`` each resample draws, with replacement, as many samples
    from each true class as the class has (so class counts never change);
    otherwise ``N`` samples from all. Classes are drawn in sorted order from
    one ``numpy.random.default_rng(seed)``: same seed, same matrix.

    Examples
    --------
    >>> idx = bootstrap_indices([1, 0, 1, 1], 3, seed=0)
    >>> idx.shape, sorted(np.asarray([1, 0, 1, 1])[idx[0]].tolist())
    ((3, 4), [0, 1, 1, 1])
    """
    y = _as_labels(y_true, "y_true")
    n = len(y)
    if n == 0:
        raise ValueError("cannot bootstrap an empty test set")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    if not stratify:
        return rng.integers(0, n, size=(n_resamples, n))
    idx = np.empty((n_resamples, n), dtype=np.int64)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        idx[:, members] = members[rng.integers(0, len(members), size=(n_resamples, len(members)))]
    return idx


def _confusions(y: np.ndarray, pred: np.ndarray, idx: np.ndarray, k: int) -> np.ndarray:
    """``(B, k, k)`` confusion counts (rows: true class) of each resample in ``idx``."""
    b, n = idx.shape
    codes = y[idx] * k + pred[idx]
    codes += (np.arange(b, dtype=np.int64) * (k * k))[:, None]
    return np.bincount(codes.ravel(), minlength=b * k * k).reshape(b, k, k)


def _from_confusions(cm: np.ndarray, metric: str) -> np.ndarray:
    """A metric of each confusion matrix of a ``(B, k, k)`` stack (as scikit-learn computes it)."""
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
    support = cm.sum(axis=2).astype(np.float64)  # true counts per class
    predicted = cm.sum(axis=1).astype(np.float64)
    if metric == "accuracy":
        return tp.sum(axis=1) / cm.sum(axis=(1, 2))
    if metric == "balanced_accuracy":  # mean recall over the classes present in the truth
        present = support > 0
        recall = np.divide(tp, support, out=np.zeros_like(tp), where=present)
        return recall.sum(axis=1) / present.sum(axis=1)
    if metric == "f1_macro":  # over the classes in the truth or the predictions; 0 when undefined
        denom = support + predicted
        present = denom > 0
        f1 = np.divide(2.0 * tp, denom, out=np.zeros_like(tp), where=present)
        return f1.sum(axis=1) / present.sum(axis=1)
    raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")


def _sample_losses(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or len(p) != len(y):
        raise ValueError(f"log_loss needs an (N, K) probability matrix with N={len(y)}, got shape {p.shape}")
    p = np.clip(p, 1e-15, None)
    p = p / p.sum(axis=1, keepdims=True)
    return -np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1.0))


def _k(y: np.ndarray, *preds: np.ndarray) -> int:
    return int(max([int(y.max())] + [int(p.max()) for p in preds])) + 1


def resampled_metric(
    y_true: Sequence[int] | np.ndarray,
    y_pred: np.ndarray,
    metric: str | Callable[[np.ndarray, np.ndarray], float],
    idx: np.ndarray,
) -> np.ndarray:
    """The metric on each resample (row) of the index matrix ``idx``.

    ``metric`` is a name of :data:`METRICS` (vectorised) or a callable
    ``metric(y_true, y_pred) -> float`` (called once per resample).

    Examples
    --------
    >>> y = np.array([0, 1, 1]); idx = np.array([[0, 1, 2], [1, 1, 2]])
    >>> resampled_metric(y, np.array([0, 1, 0]), "accuracy", idx).round(3).tolist()
    [0.667, 0.667]
    """
    y = _as_labels(y_true, "y_true")
    idx = np.asarray(idx, dtype=np.int64)
    if callable(metric):
        pred = np.asarray(y_pred)
        return np.array([float(metric(y[row], pred[row])) for row in idx])
    if metric == "log_loss":
        losses = _sample_losses(y, y_pred)
        return losses[idx].mean(axis=1)
    return resampled_metrics(y, y_pred, [metric], idx)[metric]


def resampled_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: np.ndarray,
    metrics: Sequence[str],
    idx: np.ndarray,
) -> dict[str, np.ndarray]:
    """Several confusion-based metrics on each resample, from one pass of confusion counts.

    ``y_pred`` holds class indices; ``metrics`` are names of :data:`METRICS`
    other than ``"log_loss"``.

    Examples
    --------
    >>> y = np.array([0, 1, 1]); idx = np.array([[0, 1, 2], [1, 1, 2]])
    >>> out = resampled_metrics(y, np.array([0, 1, 0]), ["accuracy", "balanced_accuracy"], idx)
    >>> out["balanced_accuracy"].round(3).tolist()
    [0.75, 0.667]
    """
    y = _as_labels(y_true, "y_true")
    pred = _as_labels(y_pred, "y_pred")
    if len(pred) != len(y):
        raise ValueError(f"y_true has {len(y)} labels but y_pred has {len(pred)}")
    idx = np.asarray(idx, dtype=np.int64)
    k = _k(y, pred)
    step = max(1, _CHUNK // max(1, len(y)))
    parts: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    for i in range(0, len(idx), step):
        cm = _confusions(y, pred, idx[i:i + step], k)
        for m in metrics:
            parts[m].append(_from_confusions(cm, m))
    return {m: np.concatenate(v) for m, v in parts.items()}


def metric_value(y_true: Sequence[int] | np.ndarray, y_pred: np.ndarray,
                 metric: str | Callable[[np.ndarray, np.ndarray], float]) -> float:
    """The metric on the whole test set (no resampling).

    Examples
    --------
    >>> metric_value([0, 0, 0, 1], np.array([0, 0, 0, 0]), "balanced_accuracy")
    0.5
    """
    y = _as_labels(y_true, "y_true")
    return float(resampled_metric(y, y_pred, metric, np.arange(len(y))[None, :])[0])


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(values, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(low), float(high)


def bootstrap_ci(
    y_true: Sequence[int] | np.ndarray,
    y_pred: np.ndarray,
    metric: str | Callable[[np.ndarray, np.ndarray], float],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of a metric on one test set.

    Parameters
    ----------
    y_true : array-like of int, shape (N,)
        True class indices.
    y_pred : ndarray
        Predicted class indices ``(N,)``, or probabilities ``(N, K)`` for
        ``"log_loss"``.
    metric : str or callable
        ``"accuracy"``, ``"balanced_accuracy"``, ``"f1_macro"``,
        ``"log_loss"``, or ``metric(y_true, y_pred) -> float`` (slower: one
        call per resample).
    n_resamples : int
        Bootstrap resamples (default 1000).
    confidence : float
        Coverage of the interval (default 0.95).
    seed : int
        Seed of the resampling (see :func:`bootstrap_indices`).
    stratify : bool
        Resample within each true class (default), so every resample keeps
        the test set's class counts.

    Returns
    -------
    (low, high) : tuple of float

    Examples
    --------
    >>> y = np.repeat([0, 1], 50)
    >>> pred = y.copy(); pred[:10] = 1
    >>> low, high = bootstrap_ci(y, pred, "accuracy", seed=0)
    >>> 0.8 < low < 0.9 < high < 0.97
    True
    """
    idx = bootstrap_indices(y_true, n_resamples, seed=seed, stratify=stratify)
    return _percentiles(resampled_metric(y_true, y_pred, metric, idx), confidence)


def paired_bootstrap_diff(
    y_true: Sequence[int] | np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    metric: str | Callable[[np.ndarray, np.ndarray], float],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[float, float, float]:
    """``metric(a) - metric(b)`` on the test set and its paired bootstrap CI.

    Both predictions are scored on the same resamples, so what the two
    methods share (the hard test images) cancels out of the difference.

    Returns
    -------
    (diff, low, high) : tuple of float

    Examples
    --------
    >>> y = np.repeat([0, 1], 50)
    >>> a = y.copy(); b = y.copy(); b[:20] = 1
    >>> diff, low, high = paired_bootstrap_diff(y, a, b, "accuracy", seed=0)
    >>> round(diff, 2), 0 < low < diff < high
    (0.2, True)
    """
    y = _as_labels(y_true, "y_true")
    idx = bootstrap_indices(y, n_resamples, seed=seed, stratify=stratify)
    diffs = resampled_metric(y, pred_a, metric, idx) - resampled_metric(y, pred_b, metric, idx)
    low, high = _percentiles(diffs, confidence)
    return metric_value(y, pred_a, metric) - metric_value(y, pred_b, metric), low, high


def mcnemar_exact(y_true: Sequence[int] | np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> float:
    """Two-sided exact McNemar p-value of two classifiers on the same test set.

    Only the discordant samples count: ``b`` where only ``a`` is right and
    ``c`` where only ``b`` is right; under the null hypothesis ``b`` is
    ``Binomial(b + c, 1/2)`` (:func:`scipy.stats.binomtest`). With no
    discordant sample the p-value is 1.

    Examples
    --------
    >>> y = np.zeros(10, int)
    >>> a = np.zeros(10, int); b = np.zeros(10, int); b[:6] = 1   # b=6, c=0
    >>> round(mcnemar_exact(y, a, b), 6)  # 2 * 0.5**6
    0.03125
    """
    from scipy.stats import binomtest

    y = _as_labels(y_true, "y_true")
    a_ok = _as_labels(pred_a, "pred_a") == y
    b_ok = _as_labels(pred_b, "pred_b") == y
    b = int(np.count_nonzero(a_ok & ~b_ok))
    c = int(np.count_nonzero(~a_ok & b_ok))
    if b + c == 0:
        return 1.0
    return float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input order.

    The ``i``-th smallest p-value (from 0) is multiplied by ``m - i``, then
    made non-decreasing in that order and capped at 1. NaN stays NaN and
    does not count towards ``m``.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
    [0.04, 0.09, 0.09, 0.5]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out[order] = np.minimum(adjusted, 1.0)
    return out


def corrected_resampled_ttest(diffs: Sequence[float] | np.ndarray, n_train: float, n_test: float
                              ) -> tuple[float, float]:
    """Nadeau-Bengio corrected resampled t-test of per-fold score differences.

    ``t = mean(d) / sqrt((1/k + n_test/n_train) * var(d))`` with ``k``
    differences, ``var`` with ``ddof=1``, and a two-sided p-value from
    Student's t with ``k - 1`` degrees of freedom. The ``n_test/n_train``
    term accounts for the overlap of training sets between folds, which
    makes the plain paired t-test far too eager.

    Returns
    -------
    (t, p) : tuple of float
        ``(0, 1)`` when every difference is 0; ``(+-inf, 0)`` when they are
        all equal but not 0.

    Examples
    --------
    >>> t, p = corrected_resampled_ttest([0.02, 0.03, 0.01, 0.02, 0.02], n_train=80, n_test=20)
    >>> round(t, 3), round(p, 4)
    (4.216, 0.0135)
    """
    from scipy.stats import t as student_t

    d = np.asarray(diffs, dtype=np.float64)
    k = len(d)
    if k < 2:
        raise ValueError(f"the corrected t-test needs at least 2 per-fold differences, got {k}")
    if n_train <= 0 or n_test <= 0:
        raise ValueError(f"n_train and n_test must be positive, got {n_train} and {n_test}")
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    if var == 0.0:
        return (0.0, 1.0) if mean == 0.0 else (math.copysign(math.inf, mean), 0.0)
    t = mean / math.sqrt((1.0 / k + n_test / n_train) * var)
    return float(t), float(2.0 * student_t.sf(abs(t), k - 1))


def corrected_ttest_ci(diffs: Sequence[float] | np.ndarray, n_train: float, n_test: float,
                       confidence: float = 0.95) -> tuple[float, float]:
    """The confidence interval of the mean that matches :func:`corrected_resampled_ttest`.

    Examples
    --------
    >>> low, high = corrected_ttest_ci([0.9, 0.92, 0.91], n_train=80, n_test=20)
    >>> bool(low < 0.91 < high)
    True
    """
    from scipy.stats import t as student_t

    d = np.asarray(diffs, dtype=np.float64)
    k = len(d)
    mean = float(d.mean())
    if k < 2:
        return mean, mean
    half = float(student_t.ppf(0.5 + confidence / 2.0, k - 1)) * math.sqrt(
        (1.0 / k + n_test / n_train) * float(d.var(ddof=1)))
    return mean - half, mean + half
