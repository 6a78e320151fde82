"""Fit one method and save it as a pipeline folder: the workflow of ``cvtoolkit fit``.

:func:`run_fit` loads a dataset, holds out a stratified validation split,
fits the method (optionally with a cross-validated search of the
classifier, :func:`cvtoolkit.classifiers.search.fit_pipeline_with_search`),
scores the validation part and saves the folder that ``predict`` and
``evaluate`` read (:func:`cvtoolkit.methods.artifact.save_pipeline`).

Examples
--------
>>> import tempfile, os
>>> out = os.path.join(tempfile.mkdtemp(), "digits-knn")
>>> result = run_fit("digits", "raw+knn", out=out, progress=False)
>>> result.report.metrics["accuracy"] > 0.8, sorted(os.listdir(out))
(True, ['manifest.json', 'pipeline.skops'])
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

logger = logging.getLogger(__name__)


@dataclass
class FitResult:
    """What :func:`run_fit` fitted and saved."""

    estimator: Any
    method: str
    out: str
    report: Any = None
    """Validation :class:`cvtoolkit.evaluate.ClassificationReport` (None without a validation split)."""
    best_params: dict | None = None
    fit_seconds: float = 0.0
    tracked: str | None = None
    """The tracker's line (where the run was logged), with ``track``."""


def run_fit(
    dataset: str,
    method: str,
    *,
    out: str | os.PathLike,
    image_size: int | None = None,
    size_for: Callable[[str | None], int | None] | None = None,
    label_pattern: str | None = None,
    max_pixels: int | None = None,
    feature_options: dict | None = None,
    cnn_options: dict | None = None,
    search: str | None = None,
    val_size: float = 0.2,
    seed: int = 42,
    n_jobs: int | None = None,
    overwrite: bool = False,
    dedupe: bool = False,
    progress: bool = True,
    track: str | None = None,
    echo: Callable[[str], None] = logger.info,
    on_dataset: Callable[[Any], None] | None = None,
) -> FitResult:
    """Fit ``method`` on ``dataset``, score a validation split, save the pipeline folder ``out``.

    Parameters
    ----------
    dataset : str
        A dataset spec (folder, .h5, .npz, CSV, name).
    method : str
        A row name (``hog+linear_svm``, ``mobilenet+logreg``, ``minivggnet``).
    out : path-like
        The pipeline folder to write.
    image_size : int, optional
        Load size; ``size_for(features)`` is asked when given (the command's
        default per descriptor).
    label_pattern : str, optional
        Labels from file names.
    max_pixels : int, optional
        Decompression-bomb limit per image.
    feature_options, cnn_options : dict, optional
        Options of the descriptor/backbone and of CNN methods
        (:func:`cvtoolkit.methods.make_method`).
    search : {"grid", "random"}, optional
        Cross-validated search of the classifier on the training part.
    val_size : float
        Validation fraction held out and scored (0: fit on everything).
    seed, n_jobs
        Seed of the split and the model; processes (default: all cores).
    overwrite : bool
        Replace ``out`` even if it is not a saved pipeline.
    dedupe : bool
        Drop the validation images with an exact or near duplicate in train,
        and the exact duplicates within train (the leakage pre-flight,
        :func:`cvtoolkit.audit.preflight_leakage`, runs on every image
        dataset with a validation split and its line is echoed).
    progress : bool
        Progress bars while loading.
    track : str, optional
        ``mlflow[:URI]``: log the run (:mod:`cvtoolkit.tracking`).
    echo : callable
        Receives the progress lines (the command passes ``print``).
    on_dataset : callable, optional
        Called with the loaded dataset (the command prints its summary).

    Raises
    ------
    CvToolkitError
        Bad method, dataset or output location (one line each).
    """
    from cvtoolkit.data import check_classification_data, describe_spec, load_dataset, split_dataset
    from cvtoolkit.evaluate import ClassificationReport
    from cvtoolkit.io.outputs import check_output_location, is_pipeline_folder
    from cvtoolkit.methods import make_method, parse_method, validate_methods
    from cvtoolkit.methods.artifact import save_pipeline
    from cvtoolkit.methods.build import full_proba
    from cvtoolkit.tracking import make_tracker

    out = str(out)
    check_output_location(out, kind="folder", overwrite=overwrite, ours=is_pipeline_folder, what="a saved pipeline")
    tracker = make_tracker(track)  # MLflow missing: one line now, not after fitting
    spec = parse_method(method)
    if describe_spec(dataset) != "hdf5":
        # Fail on a misspelt method before loading; a store may hold features whose
        # extractor name (<extractor>+<classifier>) is checked once it is open.
        spec = validate_methods([method])[0]
    size = size_for(spec.features) if size_for is not None else image_size
    data = load_dataset(dataset, image_size=size, label_pattern=label_pattern, max_pixels=max_pixels,
                        progress=progress)
    if on_dataset is not None:
        on_dataset(data)
    check_classification_data(data, min_per_class=2 if val_size else 1)
    stored = (data.attrs.get("extractor") or "features") if data.kind == "features" else None
    spec = validate_methods([method], stored_features=stored, source=data.source or None)[0]
    saved_size = size
    if size is None and data.kind == "images" and data.images.dtype != object:
        h, w = (int(s) for s in data.images.shape[1:3])
        saved_size = h if h == w else [h, w]  # predict brings new images to the size fitted on
    train, val = split_dataset(data, test_size=val_size, seed=seed) if val_size else (data, None)
    leakage = _preflight(data, train, val, dedupe=dedupe, val_size=val_size, seed=seed, progress=progress, echo=echo)
    if leakage is not None:
        train, val, leakage = leakage
    n_jobs = n_jobs or os.cpu_count() or 1
    channels = None if data.kind == "features" or data.images.dtype == object else int(data.images.shape[-1])
    estimator = make_method(spec, feature_options=feature_options or {}, cnn_options=cnn_options or {},
                            random_state=seed, n_jobs=n_jobs, image_size=size, channels=channels)
    if spec.kind != "cnn":  # a class too small for the classifier's internal folds: name it, before fitting
        from cvtoolkit.classifiers import check_class_sizes

        check_class_sizes(spec.classifier, train.labels, data.class_names, search_folds=3 if search else None,
                          where=f"{data.source or 'the dataset'}'s training part"
                                + (f" (after holding out {val_size:g} for validation)" if val is not None else ""))
    echo(f"fitting {spec.name} on {len(train)} samples" + (f", validating on {len(val)}" if val is not None else ""))
    t0 = time.perf_counter()
    best_params = None
    if search and spec.kind != "cnn":
        from cvtoolkit.classifiers.search import fit_pipeline_with_search

        estimator, best_params, _ = fit_pipeline_with_search(estimator, train.images, train.labels,
                                                             name=spec.classifier, search=search, n_jobs=n_jobs,
                                                             random_state=seed)
        echo(f"  search chose {best_params}")
    else:
        estimator.fit(train.images, train.labels)
    fit_s = time.perf_counter() - t0
    extra = {"source": data.source, "label_pattern": label_pattern, "train_samples": len(train),
             "fit_seconds": round(fit_s, 2), "seed": seed}
    if best_params:
        extra["best_params"] = best_params
    if leakage is not None:
        extra["leakage"] = {k: v for k, v in leakage.items() if k != "pairs"} | {"pairs": leakage["pairs"][:100]}
    report = None
    if val is not None:
        proba = full_proba(estimator.predict_proba(val.images), getattr(estimator, "classes_", None), data.n_classes)
        report = ClassificationReport.from_predictions(val.labels, proba, data.class_names, method=spec.name)
        echo(report.to_text())
        extra["validation"] = {k: v for k, v in report.metrics.items() if v is not None}
        extra["validation_samples"] = len(val)
    save_pipeline(estimator, out, method=spec.name, class_names=data.class_names,
                  image_size=saved_size if data.kind == "images" else None, channels=channels,
                  kind=spec.kind, extra=extra, overwrite=overwrite)
    result = FitResult(estimator, spec.name, out, report, best_params, fit_s)
    if tracker is not None:
        result.tracked = tracker.log_fit(out, history=getattr(estimator, "history_", None))
    return result


def _preflight(data: Any, train: Any, val: Any, *, dedupe: bool, val_size: float, seed: int, progress: bool,
               echo: Callable[[str], None]):
    """The leakage pre-flight of ``fit``: ``(train, val, leakage dict)``, or None when it does not apply."""
    if data.kind != "images" or (val is None and not dedupe):
        return None
    import numpy as np

    from cvtoolkit.audit import leakage_line, preflight_leakage
    from cvtoolkit.features.cache import default_cache_dir

    if val is None:  # no validation part: only exact duplicates within train can be dropped
        train.attrs["split_indices"] = np.arange(len(train))
        empty = data.subset([])
        empty.attrs["split_indices"] = np.zeros(0, np.int64)
        train, _, leakage = preflight_leakage(data, train, empty, dedupe=True, seed=seed,
                                              cache_dir=default_cache_dir(), progress=progress)
        echo(f"dedupe: dropped {leakage['dropped_train']} exact-duplicate training images")
        return train, None, leakage
    train, val, leakage = preflight_leakage(data, train, val, dedupe=dedupe, test_size=val_size, seed=seed,
                                            cache_dir=default_cache_dir(), progress=progress)
    echo(leakage_line(leakage).replace("test images", "validation images"))
    return train, val, leakage
