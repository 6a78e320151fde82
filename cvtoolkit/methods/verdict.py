"""Compare's statistics: confidence intervals, tests against the best row, the verdict.

Computation only (what :func:`cvtoolkit.methods.compare.run_compare`
stores in its rows and result); the printing and the reports present it.

- :func:`default_sort_metric`: balanced accuracy on imbalanced data, else accuracy.
- :func:`add_split_statistics`: on one test split, each row gets
  ``accuracy``, ``balanced_accuracy``, ``f1_macro`` with their stratified
  bootstrap 95% CIs (``<metric>_ci_low``/``_ci_high``), and the exact
  McNemar test against the best row, Holm-corrected over the rows
  (``p_vs_best``, ``tied_with_best``).
- :func:`split_verdict`: best classical row against best deep row, with a
  paired bootstrap CI of the difference and the McNemar p-value.
- :func:`aggregate_folds` and :func:`folds_verdict`: the same over repeated
  k-fold, with the Nadeau-Bengio corrected resampled t-test.

Examples
--------
>>> import numpy as np
>>> default_sort_metric(np.repeat([0, 1], [30, 10]))[0]
'balanced_accuracy'
>>> format_verdict({"best_classical": "hog+svm", "best_deep": "shallownet", "diff": 0.214,
...                 "ci_low": 0.18, "ci_high": 0.249, "p_value": 1e-5, "significant": True,
...                 "metric": "accuracy"})
'deep (shallownet) beats classical (hog+svm) by +21.4 points [18.0, 24.9], p < 0.001'
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np

from cvtoolkit.evaluate import stats
from cvtoolkit.evaluate.leaderboard import SORT_METRICS, format_p

log = logging.getLogger(__name__)

__all__ = [
    "ALPHA",
    "CI_METRICS",
    "add_split_statistics",
    "aggregate_folds",
    "classical_side",
    "default_sort_metric",
    "folds_verdict",
    "format_verdict",
    "is_deep",
    "is_pretrained",
    "split_verdict",
]

ALPHA = 0.05
"""Significance level of the tests (after Holm's correction for the rows)."""

CI_METRICS = ("accuracy", "balanced_accuracy", "f1_macro")
"""Metrics every row carries with a bootstrap CI."""

NO_PRETRAINED_NOTE = ("deep side: CNNs from scratch only, no pretrained backbone ran; one usually adds about "
                      "20 points on photos (Animals 32 px: shallownet 0.709, mobilenet+logreg 0.941): see "
                      "README, 'Pretrained backbones'")
"""Appended to the verdict when deep rows ran but none of them was a pretrained backbone."""

IMBALANCE_RATIO = 1.5
"""Largest over smallest class count above which the default metric is balanced accuracy."""


def default_sort_metric(labels: Sequence[int] | np.ndarray) -> tuple[str, str]:
    """``(metric, reason)``: the default ranking metric for these labels.

    Balanced accuracy when the largest class has more than 1.5 times the
    samples of the smallest (counted on the labelled samples, ``-1`` being
    unlabelled), else accuracy.

    Examples
    --------
    >>> default_sort_metric([0, 0, 1, 1])
    ('accuracy', 'classes are balanced (largest/smallest = 1.00 <= 1.5)')
    """
    y = np.asarray(labels)
    y = y[y >= 0]
    counts = np.bincount(y.astype(np.int64))
    counts = counts[counts > 0]
    if len(counts) < 2:
        return "accuracy", "fewer than 2 labelled classes"
    ratio = float(counts.max() / counts.min())
    if ratio > IMBALANCE_RATIO:
        return "balanced_accuracy", (f"classes are imbalanced (largest/smallest = {counts.max()}/{counts.min()} "
                                     f"= {ratio:.2f} > {IMBALANCE_RATIO})")
    return "accuracy", f"classes are balanced (largest/smallest = {ratio:.2f} <= {IMBALANCE_RATIO})"


def _backbone_names() -> set[str]:
    """Feature names served by a Keras ImageNet backbone (read from the registry, no TensorFlow import)."""
    from cvtoolkit.features.registry import REGISTRY

    return {name for name in REGISTRY.names()
            if isinstance(REGISTRY.entry(name).target, str)
            and REGISTRY.entry(name).target.startswith("cvtoolkit.transfer.")}


def is_deep(spec: Any) -> bool:
    """True for a CNN, a fine-tuning row, or a classifier on ImageNet-backbone features.

    ``spec`` is a :class:`~cvtoolkit.methods.MethodSpec` (or a row name).

    Examples
    --------
    >>> from cvtoolkit.methods import parse_method
    >>> is_deep(parse_method("shallownet")), is_deep(parse_method("mobilenet+logreg")), is_deep("hog+knn")
    (True, True, False)
    """
    if isinstance(spec, str):
        from cvtoolkit.methods.spec import parse_method

        spec = parse_method(spec)
    if spec.kind in ("cnn", "finetune") or str(spec.name).endswith("+finetune"):
        return True
    return spec.features is not None and spec.features in _backbone_names()


def _ok(row: Mapping[str, Any]) -> bool:
    return not row.get("error")


def is_pretrained(name: str) -> bool:
    """True for a row on an ImageNet backbone (``mobilenet+logreg``, ``mobilenet+finetune``), from its name.

    Examples
    --------
    >>> is_pretrained("mobilenet+finetune"), is_pretrained("shallownet"), is_pretrained("hog+knn")
    (True, False, False)
    """
    feat, plus, _ = str(name).partition("+")
    return bool(plus) and feat in _backbone_names()


def _pretrained_ran(rows: Sequence[Mapping[str, Any]]) -> bool:
    return any(_ok(r) and is_pretrained(r.get("method", "")) for r in rows)


def best_row(rows: Sequence[Mapping[str, Any]], metric: str) -> Mapping[str, Any] | None:
    """The row that did not fail with the best ``metric``; ties as the leaderboard breaks them
    (higher macro F1, then name), so the best row is always the leaderboard's first."""
    sign = 1.0 if metric == "log_loss" else -1.0
    scored = [r for r in rows if _ok(r) and r.get(metric) is not None and np.isfinite(r[metric])]
    if not scored:
        return None
    return min(scored, key=lambda r: (sign * float(r[metric]),
                                      -(float(r["f1_macro"]) if r.get("f1_macro") is not None
                                        and np.isfinite(r["f1_macro"]) else 0.0),
                                      str(r["method"])))


def add_split_statistics(
    rows: list[dict[str, Any]],
    predictions: Mapping[str, np.ndarray],
    y_test: np.ndarray,
    *,
    sort_metric: str,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> None:
    """Fill each row (in place) with its metrics, CIs and test against the best row.

    Parameters
    ----------
    rows : list of dict
        Leaderboard rows; those with ``error`` are left out of every test.
    predictions : dict
        ``{method: (N, K) probabilities}`` on the test split.
    y_test : ndarray
        True test labels.
    sort_metric : str
        The ranking metric; the best row by it is the reference of the tests.
    n_resamples, confidence, seed
        Of the stratified bootstrap; every row uses the same resamples.
    """
    from sklearn.metrics import balanced_accuracy_score

    y = np.asarray(y_test, dtype=np.int64)
    idx = stats.bootstrap_indices(y, n_resamples, seed=seed) if n_resamples > 0 else None
    preds: dict[str, np.ndarray] = {}
    for row in rows:
        proba = predictions.get(row["method"])
        if not _ok(row) or proba is None:
            continue
        pred = np.asarray(proba).argmax(axis=1)
        preds[row["method"]] = pred
        row["balanced_accuracy"] = float(balanced_accuracy_score(y, pred))
        if idx is not None:
            values = stats.resampled_metrics(y, pred, CI_METRICS, idx)
            alpha = 100.0 * (1.0 - confidence) / 2.0
            for m in CI_METRICS:
                low, high = np.percentile(values[m], [alpha, 100.0 - alpha])
                row[f"{m}_ci_low"], row[f"{m}_ci_high"] = float(low), float(high)
    best = best_row([r for r in rows if r["method"] in preds], sort_metric)
    if best is None:
        return
    others = [r for r in rows if r["method"] in preds and r is not best]
    raw = [stats.mcnemar_exact(y, preds[best["method"]], preds[r["method"]]) for r in others]
    adjusted = stats.holm(raw) if raw else []
    best["p_vs_best"], best["tied_with_best"] = None, True
    for row, p in zip(others, adjusted):
        row["p_vs_best"] = float(p)
        row["tied_with_best"] = bool(p >= ALPHA)


def _sides(rows: Sequence[Mapping[str, Any]], metric: str) -> tuple[Mapping | None, Mapping | None]:
    ok = [r for r in rows if _ok(r)]
    classical = best_row([r for r in ok if not r.get("deep")], metric)
    deep = best_row([r for r in ok if r.get("deep")], metric)
    return classical, deep


def classical_side(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the classical side of a verdict was: the classical rows that finished, and whether the
    literature's strongest classical family (dense SIFT encodings) was among them.

    Examples
    --------
    >>> classical_side([{"method": "hog+linear_svm", "deep": False, "accuracy": 0.6},
    ...                 {"method": "shallownet", "deep": True, "accuracy": 0.7}])
    {'classical_rows': ['hog+linear_svm'], 'strongest_classical_ran': False}
    """
    from cvtoolkit.features.registry import DENSE_FEATURES

    names = [str(r["method"]) for r in rows if _ok(r) and not r.get("deep")]
    strongest = any(name.partition("+")[0] in DENSE_FEATURES for name in names)
    return {"classical_rows": names, "strongest_classical_ran": strongest}


def _with_side(text: str, detail: dict[str, Any], rows: Sequence[Mapping[str, Any]]) -> tuple[str, dict[str, Any]]:
    detail.update(classical_side(rows))
    if detail["classical_rows"] and not detail["strongest_classical_ran"]:
        text += _WITHOUT_STRONGEST
    return text, detail


_WITHOUT_STRONGEST = "; classical side without dense SIFT encodings (the strongest classical family)"


def _missing_side(classical: Mapping | None, deep: Mapping | None, metric: str,
                  rows: Sequence[Mapping[str, Any]] = ()) -> tuple[str, dict[str, Any]]:
    detail = {"best_classical": classical["method"] if classical else None,
              "best_deep": deep["method"] if deep else None, "diff": None, "ci_low": None,
              "ci_high": None, "p_value": None, "significant": False, "metric": metric}
    if classical is None and deep is None:
        return "no verdict: no row finished", detail
    if deep is not None:
        detail["pretrained"] = _pretrained_ran(list(rows) or [deep])
    if deep is None:
        return (f"no verdict: no deep row (CNN or backbone) finished; best classical is "
                f"{classical['method']}"), detail
    sentence = f"no verdict: no classical row finished; best deep is {deep['method']}"
    return (sentence if detail["pretrained"] else f"{sentence}; {NO_PRETRAINED_NOTE}"), detail


def split_verdict(
    rows: Sequence[Mapping[str, Any]],
    predictions: Mapping[str, np.ndarray],
    y_test: np.ndarray,
    *,
    sort_metric: str,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[str, dict[str, Any]]:
    """``(sentence, detail)``: best classical row against best deep row on one test split.

    ``detail['diff']`` is deep minus classical in ``sort_metric`` with its
    paired bootstrap 95% CI; ``p_value`` is the exact McNemar test of the
    two rows' predictions. The gap is ``significant`` when ``p < 0.05`` and
    the CI excludes 0.
    """
    classical, deep = _sides(rows, sort_metric)
    if classical is None or deep is None:
        return _with_side(*_missing_side(classical, deep, sort_metric, rows), rows)
    y = np.asarray(y_test, dtype=np.int64)
    pd_, pc = predictions[deep["method"]], predictions[classical["method"]]
    if sort_metric == "log_loss":
        a, b = pd_, pc
    else:
        a, b = np.asarray(pd_).argmax(axis=1), np.asarray(pc).argmax(axis=1)
    diff, low, high = stats.paired_bootstrap_diff(y, a, b, sort_metric, n_resamples=max(n_resamples, 1000),
                                                  seed=seed)
    p = stats.mcnemar_exact(y, np.asarray(pd_).argmax(axis=1), np.asarray(pc).argmax(axis=1))
    detail = {"best_classical": classical["method"], "best_deep": deep["method"], "diff": diff,
              "ci_low": low, "ci_high": high, "p_value": p,
              "significant": bool(p < ALPHA and (low > 0 or high < 0)), "metric": sort_metric,
              "test": "paired bootstrap CI, exact McNemar", "pretrained": _pretrained_ran(rows)}
    # McNemar's discordant counts: test images only the deep row gets right, and only the classical row
    deep_ok, classical_ok = np.asarray(pd_).argmax(axis=1) == y, np.asarray(pc).argmax(axis=1) == y
    detail["deep_only_right"] = int(np.count_nonzero(deep_ok & ~classical_ok))
    detail["classical_only_right"] = int(np.count_nonzero(~deep_ok & classical_ok))
    return _with_side(format_verdict(detail), detail, rows)


def _amount(metric: str, value: float, signed: bool = True) -> str:
    if metric == "log_loss":
        return f"{value:+.3f}" if signed else f"{value:.3f}"
    return f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"


def format_verdict(detail: Mapping[str, Any]) -> str:
    """The verdict sentence from :func:`split_verdict`'s or :func:`folds_verdict`'s detail.

    Examples
    --------
    >>> format_verdict({"best_classical": "combined+rbf_svm", "best_deep": "shallownet", "diff": -0.009,
    ...                 "ci_low": -0.024, "ci_high": 0.007, "p_value": 0.3, "significant": False,
    ...                 "metric": "accuracy"})
    'no significant difference between deep (shallownet) and classical (combined+rbf_svm): -0.9 points [-2.4, 0.7], p = 0.30'
    """
    metric = detail["metric"]
    deep, classical = detail["best_deep"], detail["best_classical"]
    diff, low, high = detail["diff"], detail["ci_low"], detail["ci_high"]
    unit = "log loss" if metric == "log_loss" else "points"
    name = "" if metric == "accuracy" else f" of {SORT_METRICS.get(metric, metric)}"
    how = f", {format_p(detail['p_value'])}"
    if detail.get("test_note"):
        how += f" ({detail['test_note']})"
    if detail.get("pretrained") is False:  # said in the verdict itself, not in a line that scrolls away
        how += f"; {NO_PRETRAINED_NOTE}"
    if not detail["significant"]:
        return (f"no significant difference between deep ({deep}) and classical ({classical}): "
                f"{_amount(metric, diff)} {unit}{name} [{_amount(metric, low, False)}, "
                f"{_amount(metric, high, False)}]{how}")
    deep_wins = (diff < 0) if metric == "log_loss" else (diff > 0)
    if metric == "log_loss":  # report the winner's advantage as a positive amount
        gap, lo, hi = (-diff, -high, -low) if deep_wins else (diff, low, high)
    else:
        gap, lo, hi = (diff, low, high) if deep_wins else (-diff, -high, -low)
    winner, loser = (f"deep ({deep})", f"classical ({classical})") if deep_wins else (
        f"classical ({classical})", f"deep ({deep})")
    return (f"{winner} beats {loser} by {_amount(metric, gap)} {unit}{name} "
            f"[{_amount(metric, lo, False)}, {_amount(metric, hi, False)}]{how}")


# ----------------------------------------------------------------------------- repeated k-fold

FOLD_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "log_loss")


def aggregate_folds(
    fold_rows: Sequence[Sequence[Mapping[str, Any]]],
    *,
    sort_metric: str,
    n_train: float,
    n_test: float,
    confidence: float = 0.95,
) -> list[dict[str, Any]]:
    """One row per method from the rows of each fold.

    Each metric of :data:`FOLD_METRICS` becomes its mean (under its own
    name), ``<metric>_mean``, ``<metric>_std`` (``ddof=1``) and
    ``fold_values`` (the per-fold values); ``<metric>_ci_low``/``_ci_high``
    is the corrected resampled t interval of the mean. Against the best row:
    the corrected resampled t-test of the per-fold differences in
    ``sort_metric``, Holm-corrected (``p_vs_best``, ``tied_with_best``). A
    method that failed in any fold keeps the first error.
    """
    order: list[str] = []
    by_method: dict[str, list[Mapping[str, Any]]] = {}
    for rows in fold_rows:
        for row in rows:
            if row["method"] not in by_method:
                order.append(row["method"])
            by_method.setdefault(row["method"], []).append(row)
    out: list[dict[str, Any]] = []
    for method in order:
        runs = by_method[method]
        err = next((r["error"] for r in runs if r.get("error")), None)
        row: dict[str, Any] = {"method": method, "deep": bool(runs[0].get("deep")), "folds": len(runs)}
        if err or len(runs) != len(fold_rows):
            row.update({"accuracy": float("nan"), "f1_macro": float("nan"), "fit_seconds": float("nan"),
                        "predict_ms_per_image": float("nan"), "error": err or "missing in some folds"})
            out.append(row)
            continue
        row["fold_values"] = {}
        for m in FOLD_METRICS:
            vals = np.array([float(r[m]) if r.get(m) is not None else np.nan for r in runs])
            if np.isnan(vals).any():
                continue
            row[m] = row[f"{m}_mean"] = float(vals.mean())
            row[f"{m}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
            row["fold_values"][m] = vals.tolist()
            if m in CI_METRICS:
                low, high = stats.corrected_ttest_ci(vals, n_train, n_test, confidence)
                row[f"{m}_ci_low"], row[f"{m}_ci_high"] = max(0.0, low), min(1.0, high)  # scores in [0, 1]
        for key in ("fit_seconds", "predict_ms_per_image"):
            row[key] = float(np.mean([float(r.get(key) or 0.0) for r in runs]))
        out.append(row)
    ok = [r for r in out if _ok(r) and sort_metric in r["fold_values"]]
    best = best_row(ok, sort_metric)
    if best is None:
        return out
    others = [r for r in ok if r is not best]
    raw = []
    for r in others:
        d = np.subtract(best["fold_values"][sort_metric], r["fold_values"][sort_metric])
        raw.append(stats.corrected_resampled_ttest(d, n_train, n_test)[1] if len(d) > 1 else np.nan)
    adjusted = stats.holm(raw) if raw else []
    best["p_vs_best"], best["tied_with_best"] = None, True
    for row, p in zip(others, adjusted):
        row["p_vs_best"] = None if np.isnan(p) else float(p)
        row["tied_with_best"] = bool(np.isnan(p) or p >= ALPHA)
    return out


def folds_verdict(rows: Sequence[Mapping[str, Any]], *, sort_metric: str, n_train: float, n_test: float,
                  confidence: float = 0.95) -> tuple[str, dict[str, Any]]:
    """``(sentence, detail)``: best classical against best deep over repeated k-fold.

    ``diff`` is the mean per-fold difference (deep minus classical) with the
    corrected resampled t interval and test.
    """
    classical, deep = _sides(rows, sort_metric)
    if classical is None or deep is None:
        return _with_side(*_missing_side(classical, deep, sort_metric, rows), rows)
    d = np.subtract(deep["fold_values"][sort_metric], classical["fold_values"][sort_metric])
    t, p = stats.corrected_resampled_ttest(d, n_train, n_test)
    low, high = stats.corrected_ttest_ci(d, n_train, n_test, confidence)
    detail = {"best_classical": classical["method"], "best_deep": deep["method"], "diff": float(d.mean()),
              "ci_low": low, "ci_high": high, "p_value": p,
              "significant": bool(p < ALPHA and (low > 0 or high < 0)), "metric": sort_metric,
              "test": "corrected resampled t-test (Nadeau-Bengio)", "test_note": f"corrected t-test, {len(d)} folds",
              "pretrained": _pretrained_ran(rows)}
    return _with_side(format_verdict(detail), detail, rows)
