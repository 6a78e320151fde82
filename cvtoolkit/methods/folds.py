"""Repeated stratified k-fold for ``cvtoolkit compare --folds K --repeats R``.

Every method is fitted and scored on each of the ``K x R`` folds of
scikit-learn's :class:`~sklearn.model_selection.RepeatedStratifiedKFold`
(seeded); a row reports the mean and standard deviation of each metric over
the folds, the per-fold values, and the Nadeau-Bengio corrected resampled
t-test against the best row (Holm-corrected over the rows). Features of
per-image descriptors are computed once on the whole dataset (one cache
entry) and sliced per fold, so classical rows stay cheap; descriptors that
learn (bags of visual words) are refitted on each fold's training part.

Examples
--------
>>> from cvtoolkit.data import load_dataset
>>> from cvtoolkit.methods.compare import run_compare
>>> ds = load_dataset("digits", progress=False)
>>> res = run_compare(ds, ["raw+knn", "raw+logreg"], folds=3, progress=False)  # calls run_compare_folds
>>> row = res.rows[0]
>>> len(row["fold_values"]["accuracy"]), row["accuracy_std"] >= 0
(3, True)
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from cvtoolkit.data.dataset import Dataset
from cvtoolkit.errors import FoldsError  # noqa: F401  (defined in cvtoolkit.errors; importable here as before)

log = logging.getLogger(__name__)

__all__ = ["FoldsError", "run_compare_folds"]


def run_compare_folds(
    dataset: Dataset,
    methods: Sequence[str],
    *,
    folds: int = 5,
    repeats: int = 1,
    seed: int = 42,
    out_dir: str | os.PathLike | None = None,
    metric: str | None = None,
    metric_reason: str = "",
    feature_options: dict[str, Any] | None = None,
    cnn_options: dict[str, Any] | None = None,
    search: str | None = None,
    cache_dir: str | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    run_split: Callable[..., Any],
) -> Any:
    """Compare methods over repeated stratified k-fold; returns a :class:`~cvtoolkit.methods.compare.CompareResult`.

    Parameters
    ----------
    dataset, methods
        As for :func:`~cvtoolkit.methods.compare.run_compare`.
    run_split : callable
        The one-split engine, called per fold with ``split=(train, test)``
        (:func:`~cvtoolkit.methods.compare.run_compare` passes itself: this
        module does not import it, so the two do not import each other).
    folds, repeats : int
        ``K`` folds (at least 2), repeated ``R`` times with different shuffles.
    seed : int
        Seed of the folds and of every model.
    metric : str, optional
        The ranking metric (default: see
        :func:`~cvtoolkit.methods.verdict.default_sort_metric`).
    on_row : callable, optional
        Called with each aggregated row once every fold is done.

    Returns
    -------
    CompareResult
        ``rows`` hold ``<metric>`` (the mean), ``<metric>_mean``,
        ``<metric>_std``, ``fold_values``, corrected-t CIs, ``p_vs_best`` and
        ``tied_with_best``; ``folds`` holds the fold settings and sizes.

    Raises
    ------
    FoldsError
        ``folds < 2``, ``repeats < 1``, or a class with fewer samples than folds.
    """
    from sklearn.model_selection import RepeatedStratifiedKFold

    from cvtoolkit.evaluate import Leaderboard
    from cvtoolkit.methods.compare_outputs import CompareResult, write_outputs
    from cvtoolkit.methods.verdict import aggregate_folds, default_sort_metric, folds_verdict

    if folds < 2 or repeats < 1:
        raise FoldsError(f"--folds must be at least 2 and --repeats at least 1; got {folds} and {repeats}")
    labels = np.asarray(dataset.labels)
    counts = np.bincount(labels[labels >= 0].astype(np.int64))
    counts = counts[counts > 0]
    if counts.min() < folds:
        small = [dataset.class_names[c] for c, n in enumerate(np.bincount(labels)) if 0 < n < folds]
        raise FoldsError(f"{folds}-fold needs at least {folds} samples per class; {', '.join(small[:5])} "
                         f"ha{'s' if len(small) == 1 else 've'} fewer. Use fewer folds.")
    if metric is None:
        metric, metric_reason = default_sort_metric(labels)
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    splits = list(splitter.split(np.zeros(len(labels)), labels))
    memo: dict = {}
    fold_rows, fold_sizes = [], []
    started = time.perf_counter()
    for i, (tr, te) in enumerate(splits, start=1):
        log.info("fold %d/%d (%d train, %d test)", i, len(splits), len(tr), len(te))
        res = run_split(dataset, methods, seed=seed, out_dir=None, feature_options=feature_options,
                          cnn_options=cnn_options, search=search, cache_dir=cache_dir, n_jobs=n_jobs,
                          progress=progress, metric=metric, n_resamples=0, split=(tr, te), feature_memo=memo)
        fold_rows.append(res.rows)
        fold_sizes.append((len(tr), len(te)))
    n_train = float(np.mean([a for a, _ in fold_sizes]))
    n_test = float(np.mean([b for _, b in fold_sizes]))
    rows = aggregate_folds(fold_rows, sort_metric=metric, n_train=n_train, n_test=n_test)
    if on_row is not None:
        for row in rows:
            on_row(row)
    verdict, detail = folds_verdict(rows, sort_metric=metric, n_train=n_train, n_test=n_test)
    settings = {
        "dataset": dataset.source, "kind": dataset.kind, "samples": len(dataset), "classes": dataset.n_classes,
        "class_names": dataset.class_names, "sample_shape": list(dataset.image_shape),
        "evaluation": f"repeated stratified {folds}-fold x {repeats}", "folds": folds, "repeats": repeats,
        "seed": seed, "train_samples": int(round(n_train)), "test_samples": int(round(n_test)),
        "skipped_files": len(dataset.skipped), "methods": list(methods), "search": search,
        "sort_metric": metric, "sort_metric_reason": metric_reason,
        "test": "Nadeau-Bengio corrected resampled t-test, Holm over rows",
    }
    board = Leaderboard(rows, sort_metric=metric)
    result = CompareResult(rows=board.sorted_rows(), settings=settings, board=board, sort_metric=metric,
                           verdict=verdict, verdict_detail=detail)
    result.folds = {"k": folds, "repeats": repeats, "n_splits": len(splits), "n_train": n_train, "n_test": n_test,
                    "seconds": round(time.perf_counter() - started, 3),
                    "per_fold": {r["method"]: r.get("fold_values", {}) for r in rows}}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_outputs(result, board, out)
    return result
