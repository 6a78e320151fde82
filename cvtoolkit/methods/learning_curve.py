"""Learning curves for ``cvtoolkit compare --learning-curve``: the score against training size.

The chosen rows (by default the best classical and the best deep row of the
main run) are refitted on nested, stratified fractions of the training
split and scored on the same test split, with bootstrap 95% CIs. Where two
curves cross is where more data changes which family wins. Features of
per-image descriptors come from the main run (in memory or the feature
cache), so only the classifiers and CNNs are refitted.

Examples
--------
>>> nested_subsets([0, 0, 0, 0, 1, 1, 1, 1], [0.5, 1.0], seed=0)[0].size
4
>>> parse_fractions("0.5,0.1,1")
[0.1, 0.5, 1.0]
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from cvtoolkit.errors import LearningCurveError  # noqa: F401  (defined in cvtoolkit.errors; importable here as before)

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_FRACTIONS", "LearningCurveError", "find_crossings", "nested_subsets", "parse_fractions",
           "plot_learning_curve", "run_learning_curve"]

DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
"""Fractions of the training split a learning curve uses by default."""


def parse_fractions(text: str | Sequence[float]) -> list[float]:
    """Sorted, distinct fractions in (0, 1] from ``"0.1,0.25,0.5,1.0"`` (or a sequence).

    Raises
    ------
    LearningCurveError
        A value is not a number in (0, 1], a value is given twice, or fewer
        than two are given (one point is not a curve).
    """
    parts = [p.strip() for p in text.split(",") if p.strip()] if isinstance(text, str) else list(text)
    out = set()
    for p in parts:
        try:
            v = float(p)
        except (TypeError, ValueError):
            raise LearningCurveError(f"learning-curve fraction {p!r} is not a number; "
                                     "give fractions such as 0.1,0.25,0.5,1.0") from None
        if not 0.0 < v <= 1.0:
            raise LearningCurveError(f"learning-curve fraction {v} is outside (0, 1]; "
                                     "give fractions of the training split such as 0.1,0.25,0.5,1.0")
        if v in out:
            raise LearningCurveError(f"learning-curve fraction {v} is given twice; give distinct fractions of the "
                                     "training split such as 0.1,0.25,0.5,1.0")
        out.add(v)
    if len(out) < 2:
        raise LearningCurveError(f"--learning-curve needs at least two fractions (a curve), got {len(out)}; "
                                 "give fractions such as 0.1,0.25,0.5,1.0")
    return sorted(out)


def nested_subsets(labels: Sequence[int] | np.ndarray, fractions: Sequence[float], *, seed: int = 0
                   ) -> list[np.ndarray]:
    """Positions (into ``labels``) of nested, stratified subsets, one per fraction.

    Each class is shuffled once (seeded); a fraction ``f`` keeps the first
    ``ceil(f * n_class)`` samples of every class (at least one), so a smaller
    subset is always contained in a larger one.

    Examples
    --------
    >>> a, b = nested_subsets([0] * 10 + [1] * 10, [0.2, 0.6], seed=1)
    >>> len(a), len(b), set(a) <= set(b)
    (4, 12, True)
    """
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    orders = {int(c): rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)}
    out = []
    for f in fractions:
        keep = [order[: max(1, math.ceil(f * len(order) - 1e-9))] for order in orders.values()]
        out.append(np.sort(np.concatenate(keep)))
    return out


def find_crossings(points: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Where two curves swap order between consecutive training sizes.

    ``points``: ``{method: [{"n_train", "value"}, ...]}`` in increasing size.
    Each crossing gives both methods, the two sizes it lies between, and
    ``n_train`` where the gap, interpolated linearly in log training size
    (as the plot draws it), is zero.

    Examples
    --------
    >>> pts = {"a": [{"n_train": 10, "value": .5}, {"n_train": 20, "value": .7}],
    ...        "b": [{"n_train": 10, "value": .6}, {"n_train": 20, "value": .6}]}
    >>> round(find_crossings(pts)[0]["n_train"], 2)  # 10 * sqrt(2)
    14.14
    """
    names = list(points)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pa = {p["n_train"]: p.get("value") for p in points[a]}
            pb = {p["n_train"]: p.get("value") for p in points[b]}
            sizes = sorted(n for n in pa if n in pb and pa[n] is not None and pb[n] is not None)
            for n0, n1 in zip(sizes, sizes[1:]):
                d0, d1 = pa[n0] - pb[n0], pa[n1] - pb[n1]
                if d0 == 0 or d0 * d1 >= 0:
                    continue
                at = math.exp(math.log(n0) + (math.log(n1) - math.log(n0)) * d0 / (d0 - d1))
                out.append({"methods": [a, b], "between": [n0, n1], "n_train": float(at),
                            "leader_after": a if d1 > 0 else b})
    return out


def plot_learning_curve(data: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write the learning-curve PNG: metric against training size, CI bands, crossings marked."""
    from cvtoolkit.evaluate.plots import new_figure, save_figure

    metric = data["metric"]
    lower_better = metric == "log_loss"
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


def run_learning_curve(
    dataset: Any,
    result: Any,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    methods: Sequence[str] | None = None,
    seed: int = 42,
    feature_options: dict[str, Any] | None = None,
    cnn_options: dict[str, Any] | None = None,
    search: str | None = None,
    cache_dir: str | None = None,
    n_jobs: int | None = None,
    feature_memo: dict | None = None,
    out_dir: str | os.PathLike | None = None,
    n_resamples: int = 1000,
    run_split: Callable[..., Any],
) -> dict[str, Any]:
    """Refit rows on nested fractions of ``result``'s training split; returns the curve's points.

    Parameters
    ----------
    dataset : Dataset
        The dataset of the main run.
    result : CompareResult
        The main run (its test split, rows, verdict and predictions).
    fractions : sequence of float
        Fractions of the training split, in (0, 1].
    methods : sequence of str, optional
        Rows to refit; default: the verdict's best classical and best deep
        row (or the best row when one side is missing).
    out_dir : path, optional
        Where to write ``learning_curve.png`` and ``learning_curve.json``
        (recorded in ``result.files``).
    run_split : callable
        The one-split engine, called per fraction with ``split=(subset, test)``
        (:func:`~cvtoolkit.methods.compare.run_compare` passes itself).

    Returns
    -------
    dict
        ``metric``, ``fractions``, ``test_samples``, ``methods`` (``{name:
        [{fraction, n_train, value, ci_low, ci_high, fit_seconds, error}]}``)
        and ``crossings`` (see :func:`find_crossings`).

    Raises
    ------
    LearningCurveError
        A named row was not part of the main run.
    """
    from cvtoolkit.evaluate import stats

    metric = result.sort_metric
    fractions = parse_fractions(fractions)
    ran = [r["method"] for r in result.rows]
    if methods:
        missing = [m for m in methods if m not in ran]
        if missing:
            raise LearningCurveError(f"--learning-curve-methods: {', '.join(missing)} not among the rows run "
                                     f"({', '.join(ran)})")
        chosen = list(methods)
    else:
        detail = result.verdict_detail or {}
        chosen = [m for m in (detail.get("best_classical"), detail.get("best_deep")) if m]
        if not chosen and result.board is not None and result.board.best() is not None:
            chosen = [result.board.best()["method"]]
    test = result.test
    test_idx = np.asarray(test.attrs["split_indices"], dtype=np.int64)
    train_idx = np.setdiff1d(np.arange(len(dataset)), test_idx)
    subsets = nested_subsets(np.asarray(dataset.labels)[train_idx], fractions, seed=seed)
    y_test = np.asarray(test.labels, dtype=np.int64)
    points: dict[str, list[dict[str, Any]]] = {m: [] for m in chosen}
    full_rows = {r["method"]: r for r in result.rows}

    def point(name: str, f: float, n: int, proba: np.ndarray | None, row: Mapping[str, Any]) -> dict[str, Any]:
        p: dict[str, Any] = {"fraction": f, "n_train": int(n), "value": None, "ci_low": None, "ci_high": None,
                             "fit_seconds": row.get("fit_seconds"), "error": row.get("error")}
        if proba is None or row.get("error"):
            return p
        y_pred = proba if metric == "log_loss" else np.asarray(proba).argmax(axis=1)
        p["value"] = stats.metric_value(y_test, y_pred, metric)
        p["ci_low"], p["ci_high"] = stats.bootstrap_ci(y_test, y_pred, metric, n_resamples=n_resamples, seed=seed)
        return p

    for f, pos in zip(fractions, subsets):
        sub = train_idx[pos]
        if len(sub) == len(train_idx):  # the main run already fitted these rows on the whole training split
            for m in chosen:
                points[m].append(point(m, f, len(sub), result.predictions.get(m), full_rows[m]))
            continue
        log.info("learning curve: %d%% of the training split (%d samples)", round(100 * f), len(sub))
        res = run_split(dataset, chosen, seed=seed, out_dir=None, feature_options=feature_options,
                          cnn_options=cnn_options, search=search, cache_dir=cache_dir, n_jobs=n_jobs,
                          progress=False, metric=metric, n_resamples=0, split=(sub, test_idx),
                          feature_memo=feature_memo)
        rows = {r["method"]: r for r in res.rows}
        for m in chosen:
            points[m].append(point(m, f, len(sub), res.predictions.get(m), rows.get(m, {"error": "not run"})))
    data = {"metric": metric, "fractions": fractions, "train_samples": int(len(train_idx)),
            "test_samples": int(len(test_idx)), "seed": seed, "confidence": 0.95, "n_resamples": n_resamples,
            "methods": points, "deep": {m: bool(full_rows[m].get("deep")) for m in chosen},
            "crossings": find_crossings(points)}
    if out_dir is not None:
        from cvtoolkit.io import write_json_atomic

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "learning_curve.json", data)
        plot_learning_curve(data, out / "learning_curve.png")
        result.files["learning_curve.json"] = str(out / "learning_curve.json")
        result.files["learning_curve.png"] = str(out / "learning_curve.png")
    return data
