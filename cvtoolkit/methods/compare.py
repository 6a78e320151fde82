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
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from cvtoolkit.data.dataset import Dataset
from cvtoolkit.data.split import resolve_test_size, split_dataset
from cvtoolkit.methods.build import full_proba, make_classifier_step, make_features_step, make_method
from cvtoolkit.methods.spec import MethodSpec, validate_methods

logger = logging.getLogger(__name__)


@dataclass
class CompareResult:
    """What a compare run produced: leaderboard rows, reports and files."""

    rows: list[dict[str, Any]]
    reports: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    histories: dict[str, dict] = field(default_factory=dict)
    test: Dataset | None = None
    board: Any = None  # the cvtoolkit.evaluate.Leaderboard of the rows
    # Leakage pre-flight (cvtoolkit.audit.preflight_leakage): test_with_duplicate_in_train, n_test,
    # pairs [[test, train], ...], dedupe, ...; None when not checked (stored features).
    leakage: dict | None = None

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("error")]


def safe_filename(name: str) -> str:
    """A method name as a file-name part (``hog+linear_svm`` stays readable)."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)


@dataclass
class _Features:
    train: np.ndarray
    test: np.ndarray
    seconds_per_image: float
    cached: bool


def _compute_features(spec: MethodSpec, train: Dataset, test: Dataset, full: Dataset,
                      options: dict, cache_dir: str | None, n_jobs: int | None) -> _Features:
    same_size = train.images.dtype != object
    size = tuple(train.images.shape[1:3]) if same_size else None
    channels = int(train.images.shape[-1]) if same_size and train.images.ndim == 4 else None
    transformer = make_features_step(spec, dict(options, n_jobs=n_jobs), image_size=size, channels=channels)
    n_train = len(train)
    t0 = time.perf_counter()
    cached = False
    if cache_dir is not None:
        from cvtoolkit.features.cache import cached_features

        # Features of the whole dataset (train first, then test), fitted on train only.
        joined = Dataset(
            np.concatenate([train.images, test.images]),
            np.concatenate([train.labels, test.labels]),
            full.class_names,
            kind=full.kind,
            source=full.source,
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
    return _Features(X[:n_train], X[n_train:], seconds / max(1, len(X)), cached)


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
    dedupe: bool = False,
    check_leakage: bool = True,
    on_leakage: Callable[[dict | None], None] | None = None,
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
    dedupe : bool
        Drop the test images with an exact or near duplicate in train, and
        the exact duplicates within train, before fitting.
    check_leakage : bool
        Run the leakage pre-flight (:func:`cvtoolkit.audit.preflight_leakage`);
        its dict is ``result.leakage`` and ``settings["leakage"]``.
    on_leakage : callable, optional
        Called with that dict before the first row is fitted (the CLI prints it).
    """
    from cvtoolkit.evaluate import ClassificationReport, Leaderboard

    stored = (dataset.attrs.get("extractor") or "features") if dataset.kind == "features" else None
    specs = validate_methods(methods, stored_features=stored, source=dataset.source or None)
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
        "leakage": leakage,
    }
    result = CompareResult(rows=[], settings=settings, test=test, leakage=leakage)
    board = Leaderboard()
    feature_cache: dict[str, _Features | Exception] = {}
    for i, spec in enumerate(specs, start=1):
        logger.info("[%d/%d] %s", i, len(specs), spec.name)
        row: dict[str, Any] = {"method": spec.name}
        try:
            if spec.kind == "cnn":
                est = make_method(spec, cnn_options=cnn_options, random_state=seed, n_jobs=n_jobs)
                t0 = time.perf_counter()
                est.fit(train.images, train.labels)
                fit_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                proba = est.predict_proba(test.images)
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
                            feature_cache[spec.features] = _compute_features(
                                spec, train, test, dataset, feature_options or {}, cache_dir, n_jobs
                            )
                        except Exception as err:  # every row of this descriptor fails the same way
                            feature_cache[spec.features] = err
                    feats = feature_cache[spec.features]
                    if isinstance(feats, Exception):
                        raise feats
                clf = make_classifier_step(spec, random_state=seed, n_jobs=n_jobs)
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
                fit_s = time.perf_counter() - t0 + feats.seconds_per_image * len(train)
                t0 = time.perf_counter()
                proba = clf.predict_proba(feats.test)
                pred_s = time.perf_counter() - t0 + feats.seconds_per_image * len(test)
                row["feature_dim"] = int(feats.train.shape[1])
                row["features_cached"] = feats.cached
            proba = full_proba(proba, getattr(est if spec.kind == "cnn" else clf, "classes_", None), dataset.n_classes)
            report = ClassificationReport.from_predictions(test.labels, proba, dataset.class_names, method=spec.name)
            result.reports[spec.name] = report
            result.predictions[spec.name] = proba
            row.update({k: v for k, v in report.metrics.items() if v is not None})
            row["fit_seconds"] = round(fit_s, 3)
            row["predict_ms_per_image"] = round(1000.0 * pred_s / max(1, len(test)), 4)
            if out is not None:
                png = out / f"confusion_{safe_filename(spec.name)}.png"
                report.save_confusion_matrix(png, title=spec.name)
                result.files[f"confusion:{spec.name}"] = str(png)
        except Exception as err:  # one failing row must not lose the others
            logger.error("%s failed: %s: %s", spec.name, type(err).__name__, err)
            logger.debug("%s", traceback.format_exc())
            row.update({"accuracy": float("nan"), "f1_macro": float("nan"), "fit_seconds": float("nan"),
                        "predict_ms_per_image": float("nan"), "error": f"{type(err).__name__}: {err}"})
        board.add(row)
        result.rows.append(row)
        if on_row is not None:
            on_row(row)
    result.rows = board.sorted_rows()
    result.board = board
    if out is not None:
        _write_outputs(result, board, out)
    return result


def _write_outputs(result: CompareResult, board, out: Path) -> None:
    from cvtoolkit.io import write_json_atomic

    board.save_json(out / "leaderboard.json")
    board.save_csv(out / "leaderboard.csv")
    write_json_atomic(out / "settings.json", result.settings)
    images = {name: Path(p).name for key, p in result.files.items() if key.startswith("confusion:")
              for name in [key.split(":", 1)[1]]}
    board.save_markdown_report(out / "report.md", title="cvtoolkit compare", settings=result.settings, images=images)
    result.files.update({"leaderboard.json": str(out / "leaderboard.json"),
                         "leaderboard.csv": str(out / "leaderboard.csv"),
                         "report.md": str(out / "report.md")})
    from cvtoolkit.evaluate import plot_top_losses
    from cvtoolkit.evaluate.html_report import write_html_report

    curves, losses = {}, {}
    for name, history in result.histories.items():
        from cvtoolkit.train.callbacks.training_monitor import plot_history  # imports Keras: CNN rows only

        png = out / f"curves_{safe_filename(name)}.png"
        plot_history(history, png, title=name)
        curves[name] = str(png)
    test = result.test
    if test is not None and test.kind == "images" and test.images.dtype != object:
        for name, proba in result.predictions.items():
            png = out / f"top_losses_{safe_filename(name)}.png"
            plot_top_losses(test.images, test.labels, proba, test.class_names, k=min(9, len(test)), path=png,
                            title=f"{name}: top losses")
            losses[name] = str(png)
    result.files.update({f"curves:{k}": v for k, v in curves.items()})
    result.files.update({f"top_losses:{k}": v for k, v in losses.items()})
    confusion = {k.split(":", 1)[1]: v for k, v in result.files.items() if k.startswith("confusion:")}
    write_html_report(out / "report.html", title="cvtoolkit compare", settings=result.settings,
                      leaderboard=board, confusion_pngs=confusion, curves_pngs=curves, top_losses_pngs=losses)
    result.files["report.html"] = str(out / "report.html")
