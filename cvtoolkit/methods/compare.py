"""Run every method on one seeded split and rank them: the engine of ``cvtoolkit compare``.

Rows that share a descriptor share its features: each descriptor is fitted
on the training split once and its features (of train and test) come from
the feature cache when an earlier run computed them.

Examples
--------
>>> from cvtoolkit.data import load_dataset
>>> ds = load_dataset("digits", progress=False)
>>> result = run_compare(ds, ["raw+knn"], out_dir=None, progress=False)
>>> round(result.rows[0]["accuracy"], 2) > 0.9
True
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from cvtoolkit.data.dataset import Dataset
from cvtoolkit.data.split import resolve_test_size, split_dataset
from cvtoolkit.methods.build import full_proba, make_classifier_step, make_features_step, make_method
from cvtoolkit.methods.compare_outputs import CompareResult, safe_filename, write_outputs
from cvtoolkit.methods.progress import still_running
from cvtoolkit.methods.spec import MethodSpec, validate_methods
from cvtoolkit.parallel import classical_fit_threads, feature_jobs

logger = logging.getLogger(__name__)


@dataclass
class _Features:
    train: np.ndarray
    test: np.ndarray
    seconds_per_image: float
    cached: bool
    transformer: Any = None  # the descriptor (unfitted when the features came from the cache)


def _compute_features(spec: MethodSpec, train: Dataset, test: Dataset, full: Dataset | None,
                      options: dict, cache_dir: str | None, n_jobs: int | None,
                      memo: dict | None = None) -> _Features:
    same_size = train.images.dtype != object
    size = tuple(train.images.shape[1:3]) if same_size else None
    channels = int(train.images.shape[-1]) if same_size and train.images.ndim == 4 else None
    transformer = make_features_step(spec, dict(options, n_jobs=feature_jobs(spec.features, n_jobs)),
                                     image_size=size, channels=channels)
    n_train = len(train)
    t0 = time.perf_counter()
    cached = False
    from cvtoolkit.features.cache import is_stateless

    tr_idx, te_idx = train.attrs.get("split_indices"), test.attrs.get("split_indices")
    if full is not None and tr_idx is not None and te_idx is not None and is_stateless(transformer):
        # Per-image descriptors: features of the whole dataset once (one cache entry for every split,
        # fold and learning-curve subset), sliced by the split's indices.
        key = (spec.features, id(full))
        if memo is not None and key in memo:
            X, seconds = memo[key]
            cached = True
        elif cache_dir is not None:
            from cvtoolkit.features.cache import cached_features

            info: dict = {}
            X = cached_features(transformer, full, cache_dir=cache_dir, info=info)
            cached = bool(info.get("hit"))
            seconds = float(info.get("seconds", time.perf_counter() - t0))
        else:
            transformer.fit(train.images, train.labels)  # stateless: learns nothing
            X = transformer.transform(full.images)
            seconds = time.perf_counter() - t0
        X = np.asarray(X, dtype=np.float32)
        if memo is not None:
            memo[key] = (X, seconds)
        return _Features(X[np.asarray(tr_idx)], X[np.asarray(te_idx)], seconds / max(1, len(X)), cached,
                         transformer)
    if cache_dir is not None:
        from cvtoolkit.features.cache import cached_features

        # Features of the whole dataset (train first, then test), fitted on train only.
        ref = full if full is not None else train  # None: a backbone's re-read view of the files
        joined = Dataset(
            np.concatenate([train.images, test.images]),
            np.concatenate([train.labels, test.labels]),
            ref.class_names,
            kind=ref.kind,
            source=ref.source,
        )
        info: dict = {}
        X = cached_features(transformer, joined, cache_dir=cache_dir, fit_indices=np.arange(n_train), info=info)
        cached = bool(info.get("hit"))
        seconds = float(info.get("seconds", time.perf_counter() - t0))
    else:
        transformer.fit(train.images, train.labels)
        X = np.concatenate([transformer.transform(train.images), transformer.transform(test.images)])
        seconds = time.perf_counter() - t0
    X = np.asarray(X, dtype=np.float32)
    return _Features(X[:n_train], X[n_train:], seconds / max(1, len(X)), cached, transformer)


def run_compare(
    dataset: Dataset,
    methods: Sequence[str],
    *,
    test_size: float | int | str = "auto",
    seed: int = 42,
    out_dir: str | os.PathLike | None = None,
    feature_options: dict[str, Any] | None = None,
    cnn_options: dict[str, Any] | None = None,
    search: str | None = None,
    cache_dir: str | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    metric: str | None = None,
    n_resamples: int = 1000,
    split: tuple[np.ndarray, np.ndarray] | None = None,
    folds: int | None = None,
    repeats: int = 1,
    learning_curve: Sequence[float] | None = None,
    learning_curve_methods: Sequence[str] | None = None,
    feature_memo: dict | None = None,
    dedupe: bool = False,
    check_leakage: bool = True,
    on_leakage: Callable[[dict | None], None] | None = None,
    models_dir: str | os.PathLike | None = None,
    row_store: Any = None,
    time_budget: Any = None,
) -> CompareResult:
    """Fit and evaluate every method on one split.

    Parameters
    ----------
    dataset : Dataset
        Images (``(N, H, W, C)`` uint8, same size) or stored features.
    methods : sequence of str
        Row names (see :mod:`cvtoolkit.methods`).
    test_size, seed
        The one split every method uses: a fraction or count for a seeded
        stratified split, ``"official"`` for the dataset's own test part, or
        ``"auto"`` (official when there is one, else 0.25); see
        :func:`cvtoolkit.data.split_dataset`.
    out_dir : path, optional
        Where to write ``leaderboard.json``/``.csv``, ``report.md``,
        ``report.html`` and a confusion matrix PNG per method. None: nothing
        is written.
    feature_options, cnn_options : dict, optional
        Passed to the descriptors and to the CNN estimator.
    search : {"grid", "random"}, optional
        Cross-validated hyper-parameter search of each classifier on the
        training split; the chosen parameters go into the row.
    cache_dir : str, optional
        Feature cache folder; None computes features without caching.
    n_jobs : int, optional
        Processes for descriptors and classifiers that support them.
    on_row : callable, optional
        Called with each finished row (the CLI prints it).
    metric : {"accuracy", "balanced_accuracy", "f1_macro", "log_loss"}, optional
        The ranking metric; None: balanced accuracy when the largest class
        has more than 1.5 times the smallest, else accuracy (see
        :func:`cvtoolkit.methods.verdict.default_sort_metric`).
    n_resamples : int
        Bootstrap resamples of the rows' 95% CIs (0: no CIs).
    split : (train_indices, test_indices), optional
        Use this split instead of ``test_size``/``seed``.
    folds, repeats : int, optional
        Repeated stratified k-fold instead of one split (see
        :func:`cvtoolkit.methods.folds.run_compare_folds`).
    learning_curve : sequence of float, optional
        Fractions of the training split for a learning curve of
        ``learning_curve_methods`` (default: the best classical and the best
        deep row); see :mod:`cvtoolkit.methods.learning_curve`.
    feature_memo : dict, optional
        Features of per-image descriptors kept in memory between calls on
        the same dataset (folds, learning curves).

    Every row gets ``accuracy``, ``balanced_accuracy``, ``f1_macro`` with
    stratified bootstrap CIs, ``deep``, and the exact McNemar test against
    the best row (Holm-corrected: ``p_vs_best``, ``tied_with_best``); the
    result holds the classical-versus-deep ``verdict``.
    dedupe : bool
        Drop the test images with an exact or near duplicate in train, and
        the exact duplicates within train, before fitting.
    check_leakage : bool
        Run the leakage pre-flight (:func:`cvtoolkit.audit.preflight_leakage`);
        its dict is ``result.leakage`` and ``settings["leakage"]``.
    on_leakage : callable, optional
        Called with that dict before the first row is fitted (the CLI prints it).
    models_dir : path, optional
        Keep every row's fitted pipeline in ``models_dir/<row>`` (the folder
        its ``size_bytes`` is measured on; ``result.files["model:<row>"]``).
    row_store : cvtoolkit.methods.row_store.RowStore, optional
        Each finished row is written there as it finishes; with
        ``row_store.reuse`` (``--resume``) the rows it holds with the same
        data, split and settings are reused instead of run.
    time_budget : cvtoolkit.methods.budget.TimeBudget, optional
        Rows run cheapest first (:mod:`cvtoolkit.methods.budget`); a row whose
        estimate exceeds the time left is skipped (``row["skipped"]``) and the
        verdict says which side is incomplete.
    """
    from cvtoolkit.evaluate import ClassificationReport, Leaderboard
    from cvtoolkit.methods.verdict import add_split_statistics, default_sort_metric, is_deep, split_verdict

    if metric is None:
        metric, metric_reason = default_sort_metric(dataset.labels)
    else:
        metric_reason = "chosen with --metric"
    if folds:
        from cvtoolkit.methods.folds import run_compare_folds

        return run_compare_folds(
            dataset, methods, folds=folds, repeats=repeats, seed=seed, out_dir=out_dir, metric=metric,
            metric_reason=metric_reason, feature_options=feature_options, cnn_options=cnn_options,
            search=search, cache_dir=cache_dir, n_jobs=n_jobs, progress=progress, on_row=on_row,
            run_split=run_compare,
        )
    stored = (dataset.attrs.get("extractor") or "features") if dataset.kind == "features" else None
    specs = validate_methods(methods, stored_features=stored, source=dataset.source or None)
    if split is not None:
        train_idx, test_idx = (np.asarray(i, dtype=np.int64) for i in split)
        train, test = dataset.subset(train_idx), dataset.subset(test_idx)
        train.attrs["split_indices"], test.attrs["split_indices"] = train_idx, test_idx
        # a protocol's description ("per class: 30 train, 50 test") stays in the settings; else "given"
        test_size = test_size if isinstance(test_size, str) and test_size.startswith("per class") else "given"
    else:
        test_size = resolve_test_size(dataset, test_size)
        train, test = split_dataset(dataset, test_size=test_size, seed=seed)
    leakage = None
    if check_leakage or dedupe:
        from cvtoolkit.audit import preflight_leakage

        train, test, leakage = preflight_leakage(dataset, train, test, dedupe=dedupe, test_size=test_size, seed=seed,
                                                 cache_dir=cache_dir, progress=progress)
        if on_leakage is not None:
            on_leakage(leakage)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    settings = {
        "dataset": dataset.source,
        "kind": dataset.kind,
        "samples": len(dataset),
        "classes": dataset.n_classes,
        "class_names": dataset.class_names,
        "sample_shape": list(dataset.image_shape),
        "test_size": test_size,
        "seed": seed,
        "train_samples": len(train),
        "test_samples": len(test),
        "skipped_files": len(dataset.skipped),
        "methods": list(methods),
        "search": search,
        "sort_metric": metric,
        "sort_metric_reason": metric_reason,
        "bootstrap_resamples": n_resamples,
        "leakage": leakage,
    }
    result = CompareResult(rows=[], settings=settings, test=test, sort_metric=metric, leakage=leakage)
    feature_cache: dict[str, _Features | Exception] = {}
    # whole-dataset features are kept only for the refits that reuse them (learning curves; folds pass a memo):
    # a single split needs just its train/test slices
    memo = feature_memo if feature_memo is not None else ({} if learning_curve else None)
    views: dict[str, Any] = {}
    # late-fusion rows run last: they combine the rows before them (classifier, training features, deep?)
    specs = [s for s in specs if s.kind != "ensemble"] + [s for s in specs if s.kind == "ensemble"]
    by_name = {s.name: s for s in specs}
    members: dict[str, tuple[Any, np.ndarray, bool]] = {}
    keys, reused = _stored_rows(row_store, specs, dataset, train, test, seed, feature_options, cnn_options, search,
                                models_dir)
    costs = None
    if time_budget is not None:
        from cvtoolkit.methods.budget import RowCosts, order_rows

        costs = RowCosts(specs, dataset, len(train), feature_options, cnn_options, cache_dir)
        specs = order_rows(specs, lambda name: 0.0 if name in reused else costs.estimate(by_name[name]))
        settings["time_budget_seconds"] = time_budget.seconds
    for i, spec in enumerate(specs, start=1):
        logger.info("[%d/%d] %s", i, len(specs), spec.name)
        row: dict[str, Any] = {"method": spec.name, "deep": is_deep(spec)}
        if spec.name in reused:
            _reuse_row(spec, reused[spec.name], row, result, test, dataset, out, models_dir)
            result.rows.append(row)
            if on_row is not None:
                on_row(row)
            continue
        if costs is not None:
            estimate = costs.estimate(spec, computed=feature_cache)
            row["estimated_seconds"] = round(estimate, 2)  # the budget's cost model, beside what the row took
            if not time_budget.fits(estimate):
                from cvtoolkit.methods.budget import skip_reason

                row["skipped"] = skip_reason(estimate, time_budget.left())
                row["error"] = f"skipped: {row['skipped']}"  # not scored: every reader leaves it out
                logger.info("%s skipped: %s", spec.name, row["skipped"])
                result.rows.append(row)
                if on_row is not None:
                    on_row(row)
                continue
        try:
            if spec.kind == "ensemble":
                _fusion_row(spec, row, members, result, train, dataset.n_classes, seed)
                _finish_row(spec, row, result, result.predictions[spec.name], test, dataset, out)
                _store_row(row_store, row, result, keys)
                result.rows.append(row)
                if on_row is not None:
                    on_row(row)
                continue
            row_train, row_test = _row_images(spec, train, test, views, progress, feature_options or {})
            if spec.kind == "cnn":
                est = make_method(spec, feature_options=feature_options, cnn_options=cnn_options,
                                  random_state=seed, n_jobs=n_jobs)
                t0 = time.perf_counter()
                est.fit(row_train.images, row_train.labels)
                fit_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                proba = est.predict_proba(row_test.images)
                pred_s = time.perf_counter() - t0
                if getattr(est, "history_", None):
                    result.histories[spec.name] = est.history_
                row["epochs"] = len(next(iter(est.history_.values()), [])) if getattr(est, "history_", None) else None
            else:
                if spec.kind == "stored":
                    feats = _Features(train.images.astype(np.float32), test.images.astype(np.float32), 0.0, True)
                else:
                    if spec.features not in feature_cache:
                        try:
                            reread = row_train is not train  # a backbone's view of the files: not `dataset`
                            with classical_fit_threads(n_jobs):  # a codebook's k-means, in this process
                                feature_cache[spec.features] = _compute_features(
                                    spec, row_train, row_test, None if reread else dataset, feature_options or {},
                                    cache_dir, n_jobs, None if reread else memo
                                )
                        except Exception as err:  # every row of this descriptor fails the same way
                            feature_cache[spec.features] = err
                    feats = feature_cache[spec.features]
                    if isinstance(feats, Exception):
                        raise feats
                clf = make_classifier_step(spec, random_state=seed, n_jobs=n_jobs, n_classes=dataset.n_classes)
                from cvtoolkit.classifiers import check_class_sizes  # issue 20: name a class too small to fit

                check_class_sizes(spec.classifier, train.labels, dataset.class_names,
                                  search_folds=3 if search else None)
                # BLAS at one thread, OpenMP at n_jobs (cvtoolkit.parallel); a progress line after 5 s.
                with classical_fit_threads(n_jobs), still_running(
                        f"{spec.name}: fitting on {feats.train.shape[0]} x {feats.train.shape[1]}"):
                    t0 = time.perf_counter()
                    if search:
                        from cvtoolkit.classifiers import fit_with_search

                        clf, best_params, _ = fit_with_search(
                            clf, feats.train, train.labels, name=spec.classifier, search=search,
                            n_jobs=n_jobs, random_state=seed,
                        )
                        row["best_params"] = {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                                              for k, v in best_params.items()}
                    else:
                        clf.fit(feats.train, train.labels)
                    fit_s = time.perf_counter() - t0  # the fit alone: features are feature_ms_per_image
                    t0 = time.perf_counter()
                    proba = clf.predict_proba(feats.test)
                    pred_s = time.perf_counter() - t0 + feats.seconds_per_image * len(test)
                row["feature_ms_per_image"] = round(1000.0 * feats.seconds_per_image, 4)
                row["feature_dim"] = int(feats.train.shape[1])
                row["features_cached"] = feats.cached
                members[spec.name] = (clf, feats.train, bool(row["deep"]))
            proba = full_proba(proba, getattr(est if spec.kind == "cnn" else clf, "classes_", None), dataset.n_classes)
            row["fit_seconds"] = round(fit_s, 3)
            row["predict_ms_per_image"] = round(1000.0 * pred_s / max(1, len(test)), 4)
            _finish_row(spec, row, result, proba, test, dataset, out)  # metrics first: a kept manifest records them
            keep = Path(models_dir) / safe_filename(spec.name) if models_dir is not None else None
            row["size_bytes"] = _size_bytes(spec, est if spec.kind == "cnn" else clf,
                                            None if spec.kind == "cnn" else feats.transformer, row_train, dataset,
                                            path=keep, extra=_kept_manifest(row, settings) if keep else None)
            if keep is not None and row["size_bytes"] is not None:
                result.files[f"model:{spec.name}"] = str(keep)
            _store_row(row_store, row, result, keys)  # on disk as it finishes: a kill loses at most the next row
        except Exception as err:  # one failing row must not lose the others
            logger.error("%s failed: %s: %s", spec.name, type(err).__name__, err)
            logger.debug("%s", traceback.format_exc())
            row.update({"accuracy": float("nan"), "f1_macro": float("nan"), "fit_seconds": float("nan"),
                        "predict_ms_per_image": float("nan"), "error": f"{type(err).__name__}: {err}"})
        result.rows.append(row)
        if on_row is not None:
            on_row(row)
    add_split_statistics(result.rows, result.predictions, test.labels, sort_metric=metric,
                         n_resamples=n_resamples, seed=seed)
    result.verdict, result.verdict_detail = split_verdict(
        result.rows, result.predictions, test.labels, sort_metric=metric, n_resamples=n_resamples, seed=seed)
    if any(r.get("skipped") for r in result.rows):
        from cvtoolkit.methods.budget import incomplete_note, incomplete_sides

        result.verdict += incomplete_note(result.rows)
        result.verdict_detail["skipped_rows"] = incomplete_sides(result.rows)
        settings["skipped_rows"] = [r["method"] for r in result.rows if r.get("skipped")]
    if reused:
        settings["reused_rows"] = sorted(reused)
    board = Leaderboard(result.rows, sort_metric=metric)
    result.rows = board.sorted_rows()
    result.board = board
    if learning_curve:
        from cvtoolkit.methods.learning_curve import run_learning_curve

        result.learning_curve = run_learning_curve(
            dataset, result, fractions=learning_curve, methods=learning_curve_methods, seed=seed,
            feature_options=feature_options, cnn_options=cnn_options, search=search, cache_dir=cache_dir,
            n_jobs=n_jobs, feature_memo=memo, out_dir=out, run_split=run_compare,
        )
    if out is not None:
        write_outputs(result, board, out)
    return result


def _finish_row(spec: MethodSpec, row: dict, result: CompareResult, proba: np.ndarray, test: Dataset,
                dataset: Dataset, out: Path | None) -> None:
    """Score a row's test probabilities: its metrics, report, predictions and confusion matrix."""
    from cvtoolkit.evaluate import ClassificationReport

    report = ClassificationReport.from_predictions(test.labels, proba, dataset.class_names, method=spec.name)
    result.reports[spec.name] = report
    result.predictions[spec.name] = proba
    row.update({k: v for k, v in report.metrics.items() if v is not None})
    if out is not None:
        png = out / f"confusion_{safe_filename(spec.name)}.png"
        report.save_confusion_matrix(png, title=spec.name)
        result.files[f"confusion:{spec.name}"] = str(png)


def _stored_rows(store: Any, specs: list[MethodSpec], dataset: Dataset, train: Dataset, test: Dataset, seed: int,
                 feature_options: dict | None, cnn_options: dict | None, search: str | None,
                 models_dir: str | os.PathLike | None) -> tuple[dict[str, str], dict[str, Any]]:
    """``(keys, reused)``: every row's key, and the stored rows ``--resume`` reuses (see ``methods.row_store``)."""
    if store is None:
        return {}, {}
    from cvtoolkit.methods.row_store import plan_reuse, row_keys, row_settings

    keys = row_keys(specs, dataset, train, test, row_settings(seed=seed, feature_options=feature_options,
                                                              cnn_options=cnn_options, search=search))
    if not store.reuse:
        cleared = store.clear()
        if cleared:
            logger.info("removed %d row(s) an earlier run stored in %s (no --resume)", cleared, store.folder)
        return keys, {}
    stored = {s.name: store.load(s.name, keys[s.name]) for s in specs}
    for name, found in stored.items():  # a kept model that is gone cannot be reused: run the row again
        if found is not None and models_dir is not None and _kind_of(specs, name) != "ensemble" and not (
                Path(models_dir) / safe_filename(name) / "manifest.json").is_file():
            logger.info("%s: stored, but its kept model is not in %s; running it again", name, models_dir)
            stored[name] = None
    reused, notes = plan_reuse(specs, stored)
    for note in notes:
        logger.info("%s", note)
    logger.info("--resume: reusing %d of %d rows stored in %s%s", len(reused), len(specs), store.folder,
                f" ({', '.join(sorted(reused))})" if reused else "")
    return keys, reused


def _kind_of(specs: list[MethodSpec], name: str) -> str | None:
    """The kind of the row called ``name`` in ``specs``."""
    return next((s.kind for s in specs if s.name == name), None)


def _reuse_row(spec: MethodSpec, stored: Any, row: dict, result: CompareResult, test: Dataset, dataset: Dataset,
               out: Path | None, models_dir: str | os.PathLike | None) -> None:
    """A row an earlier run finished (``--resume``): its stored fields, scored again from its stored probabilities."""
    row.update(stored.row)
    row["reused"] = True
    if stored.history:
        result.histories[spec.name] = stored.history
    _finish_row(spec, row, result, stored.proba, test, dataset, out)
    if models_dir is not None and spec.kind != "ensemble":
        result.files[f"model:{spec.name}"] = str(Path(models_dir) / safe_filename(spec.name))
    logger.info("%s: reused from an earlier run", spec.name)


def _store_row(store: Any, row: dict, result: CompareResult, keys: dict[str, str]) -> None:
    """Write a finished row to the row store (``--out/rows``), if there is one."""
    if store is None:
        return
    name = row["method"]
    try:
        store.save({k: v for k, v in row.items() if k != "reused"}, result.predictions[name], key=keys[name],
                   history=result.histories.get(name),
                   files={k: v for k, v in result.files.items() if k.partition(":")[2] == name})
    except OSError as err:  # a full disk: the run goes on, the row is just not resumable
        logger.warning("%s: could not store the finished row for --resume: %s", name, err)


def _fusion_row(spec: MethodSpec, row: dict, members: dict, result: CompareResult, train: Dataset, n_classes: int,
                seed: int) -> None:
    """A late-fusion row: weights from the training split's out-of-fold probabilities (see ``methods.ensemble``)."""
    from cvtoolkit.methods.ensemble import ENSEMBLE_ROWS, fit_late_fusion

    deep = ENSEMBLE_ROWS[spec.name]
    side = {name: (clf, X) for name, (clf, X, is_deep_row) in members.items() if is_deep_row == deep}
    with classical_fit_threads(None), still_running(f"{spec.name}: out-of-fold probabilities of {len(side)} rows"):
        fused = fit_late_fusion(side, result.predictions, train.labels, n_classes=n_classes, seed=seed)
    row["members"] = {name: w for name, w in fused.weights.items() if w > 0}
    row["fit_seconds"] = round(fused.seconds, 3)
    by_name = {r["method"]: r for r in result.rows}
    row["predict_ms_per_image"] = round(sum(by_name[n].get("predict_ms_per_image", 0.0) or 0.0
                                            for n in row["members"]), 4)
    row["size_bytes"] = None
    logger.info("%s: weights %s", spec.name, row["members"])
    result.predictions[spec.name] = fused.proba


def _row_images(spec: MethodSpec, train: Dataset, test: Dataset, views: dict, progress: bool,
                options: dict | None = None):
    """The images a row fits on.

    Backbone rows get the files re-read at the backbone's size, dense-descriptor
    rows (``dsift_*``, ``osift_*``) at their natural size (longer side at most
    the descriptor's ``max_side``), when they can.
    """
    from cvtoolkit.features.registry import DENSE_FEATURES
    from cvtoolkit.transfer.weights_files import BACKBONE_NAMES, backbone_images

    if spec.kind == "classical" and spec.features in DENSE_FEATURES:
        from cvtoolkit.data.views import natural_size_images

        side = getattr(make_features_step(spec, dict(options or {})), "max_side", None)
        key = f"natural:{side}"
        if key not in views:
            views[key] = natural_size_images(train, test, max_side=side, progress=progress)
            if views[key] is not None:
                logger.info("dense-descriptor rows see the image files at their own size (longer side <= %s)", side)
        return views[key] or (train, test)
    if spec.features not in BACKBONE_NAMES or spec.kind == "stored":
        return train, test
    if "backbone" not in views:
        views["backbone"] = backbone_images(train, test, progress=progress)
        if views["backbone"] is not None:
            logger.info("backbone rows see the image files at %s pixels", views["backbone"][0].images.shape[1:3])
    return views["backbone"] or (train, test)


def _kept_manifest(row: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """What a kept pipeline's manifest says of where it came from: the split and the row's test metrics."""
    return {"trained_by": "cvtoolkit compare", "dataset": settings.get("dataset"),
            "split": {"test_size": settings.get("test_size"), "seed": settings.get("seed"),
                      "train_samples": settings.get("train_samples"), "test_samples": settings.get("test_samples")},
            "test_metrics": {k: row[k] for k in ("accuracy", "balanced_accuracy", "f1_macro", "log_loss") if k in row}}


def _size_bytes(spec: MethodSpec, fitted: Any, transformer: Any, train: Dataset, dataset: Dataset,
                path: Path | None = None, extra: dict | None = None) -> int | None:
    """The row's pipeline size as ``cvtoolkit fit`` would save it (None, with a warning, if it cannot be saved);
    with ``path`` the pipeline is kept there."""
    from cvtoolkit.methods.cost import row_size_bytes

    try:
        return row_size_bytes(spec, fitted, transformer=transformer, train=train, class_names=dataset.class_names,
                              path=path, extra=extra)
    except Exception as err:  # a size is a nicety: never lose the row for it
        logger.warning("%s: cannot measure the saved size: %s: %s", spec.name, type(err).__name__, err)
        return None

