"""The whole ``cvtoolkit compare`` workflow as one library call: options in, a leaderboard out.

:class:`CompareJob` holds what the command's flags say (dataset, rows,
split, CNN and feature options, cache, ranking metric, learning curve,
tracking); :func:`run_compare_job` checks the output folder, loads the
dataset, picks the default rows (with the strongest pretrained backbone whose
weights are on disk), resolves the cache folder
(:func:`cvtoolkit.features.cache.default_cache_dir`), the split and the
ranking metric, runs :func:`cvtoolkit.methods.compare.run_compare` and logs
the run to the tracker. It prints nothing: the progress lines the command
shows come through the ``say`` callback, and the rest is in the returned
:class:`CompareJobResult`.

Examples
--------
A job is built from keywords (or from parsed flags with
:meth:`CompareJob.from_args`); nothing runs until :func:`run_compare_job`::

    job = CompareJob(dataset="digits", methods="raw+knn", out="runs/digits", quiet=True)
    outcome = run_compare_job(job, say=print)
    print(outcome.result.verdict)

>>> job = CompareJob(dataset="digits", methods="raw+knn,hog+logreg")
>>> job.out_dir().as_posix(), job.cache_folder() is not None
('runs/compare-digits', True)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

__all__ = ["CompareJob", "CompareJobResult", "run_compare_job"]


@dataclass
class CompareJob:
    """The options of one ``compare`` run (the command's flags, by the same names).

    Parameters
    ----------
    dataset : str
        Dataset spec (``digits``, a folder, an HDF5 store, ...).
    methods : str, optional
        Comma-separated rows; ``None``: the default rows.
    image_size, label_pattern, max_pixels
        How to load the images (``max_pixels`` already validated; ``None``: no limit).
    test_size, seed, folds, repeats
        The split (or the repeated K-fold) every row uses.
    epochs, batch_size, tensorboard
        CNN rows' options.
    weights, alpha
        Pretrained backbone weights file (``"none"``: random weights) and MobileNet width.
    search, n_jobs
        Classifier hyper-parameter search and worker processes (``None``: all cores).
    cache_dir, no_cache
        Feature cache folder (``None``: :func:`~cvtoolkit.features.cache.default_cache_dir`) or none at all.
    out, overwrite
        Output folder (``None``: ``runs/compare-<dataset>``) and whether to replace a foreign one.
    quiet
        No progress bars, CNN rows silent (without it, bars are drawn only when stderr is a terminal).
    metric
        Ranking metric (``None``: from the class balance).
    learning_curve, learning_curve_methods
        Training fractions (``"0.1,0.5,1.0"``) and rows (comma-separated) of a learning curve.
    track
        Tracker spec (``"mlflow[:URI]"``) or ``None``.
    dedupe
        Drop test images duplicated in train before fitting.
    train_per_class, test_per_class
        A published protocol instead of ``test_size``: so many training (and
        test) images per class (:func:`cvtoolkit.data.split.per_class_split`).
    resume : bool
        Reuse the rows an earlier (killed) run on ``out`` finished with the
        same data, split and settings (``<out>/rows``,
        :mod:`cvtoolkit.methods.row_store`); run the rest.
    time_budget : str, optional
        ``"10m"``, ``"600s"``, ``"1h"``: rows run cheapest first and those
        that would not fit are skipped (:mod:`cvtoolkit.methods.budget`).
    keep : {"none", "best", "all"}
        Fitted pipelines kept in ``<out>/models/<row>`` (the format ``predict``,
        ``evaluate`` and ``export`` take), fitted on the split the leaderboard
        scored: none, the best row's, or every row's.
    offline
        Never download backbone weights (also ``CVTOOLKIT_OFFLINE=1``); without it, default rows
        download :data:`~cvtoolkit.methods.backbone_weights.DEFAULT_DOWNLOAD` into Keras's cache
        when no weights are there and the network answers.
    """

    dataset: str = "digits"
    methods: str | None = None
    image_size: int | None = None
    label_pattern: str | None = None
    max_pixels: int | None = None
    test_size: float | int | str = "auto"
    seed: int = 42
    epochs: int | None = None
    batch_size: int | None = None
    weights: str | None = None
    alpha: float | None = None
    search: str | None = None
    n_jobs: int | None = None
    cache_dir: str | None = None
    no_cache: bool = False
    out: str | None = None
    overwrite: bool = False
    quiet: bool = False
    metric: str | None = None
    folds: int | None = None
    repeats: int = 1
    learning_curve: str | None = None
    learning_curve_methods: str | None = None
    track: Any = None
    tensorboard: str | None = None
    dedupe: bool = False
    train_per_class: int | None = None
    test_per_class: int | None = None
    keep: str = "none"
    offline: bool = False
    resume: bool = False
    time_budget: str | None = None

    @classmethod
    def from_args(cls, args: Any, **overrides: Any) -> CompareJob:
        """The job the parsed flags describe (attributes of ``args`` named like the fields), then ``overrides``."""
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
        values.update(overrides)
        return cls(**values)

    def dataset_name(self) -> str:
        """The dataset's file or folder stem (``"dataset"`` when it has none)."""
        return Path(str(self.dataset).rstrip("/\\")).stem or "dataset"

    def out_dir(self) -> Path:
        """``out``, or ``runs/compare-<dataset>``."""
        return Path(self.out) if self.out else Path("runs") / f"compare-{self.dataset_name()}"

    def cache_folder(self) -> str | None:
        """The feature cache folder: ``cache_dir``, else the default one; ``None`` with ``no_cache``."""
        if self.no_cache:
            return None
        from cvtoolkit.features.cache import default_cache_dir

        return str(self.cache_dir or default_cache_dir())


@dataclass
class CompareJobResult:
    """What :func:`run_compare_job` did: the comparison, the data it ran on and the options it used."""

    result: Any
    """The :class:`~cvtoolkit.methods.compare.CompareResult` (board, verdict, files, failed rows)."""
    dataset: Any
    """The loaded :class:`~cvtoolkit.data.Dataset`."""
    out: Path
    """The output folder."""
    methods: list[str]
    """The rows that ran."""
    feature_options: dict[str, Any] = field(default_factory=dict)
    cnn_options: dict[str, Any] = field(default_factory=dict)
    tracking: str | None = None
    """The tracker's line for the user (run id, where to browse it), or ``None`` without ``track``."""
    seconds: float = 0.0
    """Wall time from the output check to the end of tracking."""
    models: dict[str, str] = field(default_factory=dict)
    """``{row: folder}`` of the pipelines kept with ``keep`` (best row first)."""
    models_note: str | None = None
    """A line on what ``keep`` did not keep (a best row that could not be saved), else ``None``."""
    written: list[str] = field(default_factory=list)
    """Every file this run wrote under ``out`` (relative paths, sorted): what the summary lists."""


def files_written(folder: str | os.PathLike, since: float) -> list[str]:
    """Files under ``folder`` modified at or after ``since`` (a ``time.time()``), relative and sorted.

    The output folder is this run's (checked before any work), so what
    changed in it since the start is what the run wrote; older files of an
    earlier run in the same folder are left out.

    Examples
    --------
    >>> import tempfile, time
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, "a.txt"), "w").write("x")
    >>> files_written(folder, time.time() - 5)
    ['a.txt']
    """
    root = Path(folder)
    found = []
    for base, _, names in os.walk(root):
        for name in names:
            path = Path(base) / name
            try:
                if path.stat().st_mtime >= since - 1.0:  # coarse file-system clocks
                    found.append(path.relative_to(root).as_posix())
            except OSError:
                continue
    return sorted(found)


_NOT_A_FILE = ("none", "imagenet", "random")


def _missing_path_message(what: str, path: str, expected: str) -> str:
    """``what PATH: no such file or folder``, with the closest name in its folder, if any."""
    import difflib

    parent = Path(path).expanduser().parent
    try:
        siblings = [p.name for p in parent.iterdir()] if parent.is_dir() else []
    except OSError:
        siblings = []
    close = difflib.get_close_matches(Path(path).name, siblings, n=1, cutoff=0.6)
    hint = f" did you mean {str(Path(path).parent / close[0])!r}?" if close else ""
    return f"{what} {path}: no such file or folder;{hint} expected {expected}"


def check_job(job: CompareJob, requested: list[str] | None) -> None:
    """Check names, options and paths before any image is read (errors say what was meant).

    Rows (against a feature store's extractor when the dataset is one), the
    learning curve's rows and fractions, the dataset and ``--weights`` paths,
    ``--label-pattern`` and ``--cache-dir``: a mistake is one
    :class:`~cvtoolkit.errors.CvToolkitError`, with "did you mean" for a near
    miss, before the dataset is loaded.

    Raises
    ------
    CvToolkitError
        The first problem found.

    Examples
    --------
    >>> check_job(CompareJob(methods="raw+knn"), ["raw+knn"])
    >>> check_job(CompareJob(), ["hog+linear_svn"])
    Traceback (most recent call last):
    ...
    cvtoolkit.errors.MethodError: unknown method(s): 'hog+linear_svn' (unknown classifier 'linear_svn'; did you mean 'linear_svm'? ...
    """
    import re

    from cvtoolkit.data.loaders import BUILTIN_DATASETS, describe_spec
    from cvtoolkit.errors import DatasetError, ModelError, UsageError
    from cvtoolkit.methods.spec import did_you_mean, validate_methods

    dataset = str(job.dataset)
    kind = describe_spec(dataset)
    if kind == "unknown" and not Path(dataset).exists():
        if "/" in dataset or os.sep in dataset or "." in Path(dataset).name:
            raise DatasetError(_missing_path_message(
                "--dataset", dataset, "a class-per-folder directory, an .h5, .npz or .csv file"))
        raise DatasetError(f"--dataset {dataset}: no such folder and not a dataset name;"
                           f"{did_you_mean(dataset, list(BUILTIN_DATASETS))} dataset names: "
                           f"{', '.join(BUILTIN_DATASETS)}; or pass a folder or file")
    stored = None
    if kind == "hdf5":
        from cvtoolkit.io.hdf5_reader import store_info

        info = store_info(dataset)  # its attributes only: a broken store is one line now
        if info.get("kind") == "features":
            stored = info.get("extractor") or "features"
    for rows in (requested, job.learning_curve_methods and
                 [m.strip() for m in job.learning_curve_methods.split(",") if m.strip()]):
        if rows:
            validate_methods(rows, stored_features=stored, source=dataset)
    _learning_curve(job)  # bad fractions, or --learning-curve with --folds
    weights = job.weights
    if weights is not None and str(weights).lower() not in _NOT_A_FILE and not Path(weights).is_file():
        raise ModelError(_missing_path_message("--weights", str(weights), "a Keras weights file (.h5), "
                                               "'imagenet' or 'none'"))
    if job.label_pattern is not None:
        try:
            re.compile(job.label_pattern)
        except re.error as err:
            raise UsageError(f"--label-pattern {job.label_pattern!r} is not a regular expression ({err}); "
                             "expected e.g. '^(cat|dog)\\.'") from None
    from cvtoolkit.tracking import check_tensorboard

    check_tensorboard(job.tensorboard)  # an optional extra: say so now, not once per CNN row
    if job.cache_dir and Path(job.cache_dir).exists() and not Path(job.cache_dir).is_dir():
        raise UsageError(f"--cache-dir {job.cache_dir}: is a file; expected a folder (or leave it out)")


def _bars(job: CompareJob) -> bool:
    """Progress bars only when stderr is a terminal and not ``quiet``: a log file gets no carriage-return runs."""
    import sys

    isatty = getattr(sys.stderr, "isatty", None)
    return not job.quiet and bool(isatty and isatty())


def _load(job: CompareJob, requested: list[str], say: Callable[[str], None]):
    from cvtoolkit.features.options import image_size_for as default_image_size
    from cvtoolkit.data import describe_spec, load_dataset
    from cvtoolkit.methods.backbone_weights import uses_backbone_size

    image_size = job.image_size
    backbone = uses_backbone_size(requested) if requested and image_size is None else None
    if backbone is not None and describe_spec(job.dataset) != "hdf5":
        image_size = default_image_size(job.dataset, None, features=backbone)
        say(f"images loaded at {image_size}x{image_size}, {backbone}'s input size (set --image-size to change)")
    return load_dataset(job.dataset, image_size=default_image_size(job.dataset, image_size),
                        label_pattern=job.label_pattern, max_pixels=job.max_pixels, progress=_bars(job))


def _rows(job: CompareJob, requested: list[str], dataset, say: Callable[[str], None]):
    """The rows to run and the feature options they take (default rows gain a backbone row when weights exist)."""
    from cvtoolkit.methods import default_methods
    from cvtoolkit.methods.backbone_weights import (
        default_backbone_rows,
        download_default_weights,
        find_backbone_weights,
        offline_requested,
    )

    stored = (dataset.attrs.get("extractor") or "features") if dataset.kind == "features" else None
    methods = list(requested or []) or default_methods(stored_features=stored)
    feature_options: dict[str, Any] = {k: v for k, v in {"alpha": job.alpha}.items() if v is not None}
    if job.weights is not None:
        feature_options["weights"] = None if job.weights.lower() == "none" else job.weights
    if not requested and stored is None:  # the strongest classical system joins when the images are large enough
        from cvtoolkit.methods.spec import default_dense_rows

        rows, note = default_dense_rows(dataset)
        say(note)
        methods = [m for m in methods if m not in rows] + rows
    if not requested and stored is None:  # the strongest deep row joins when its weights are on disk
        failed_download = False
        if job.weights is None and not find_backbone_weights() and not offline_requested(job.offline):
            got, note = download_default_weights()  # into Keras's cache, then found there like any file
            say(note)
            failed_download = got is None
        rows, options, note = default_backbone_rows(job.weights)
        if not failed_download:  # its line already said which file to put where
            say(note)
        methods += [r for r in rows if r not in methods]
        for key, value in options.items():
            feature_options.setdefault(key, value)
    return methods, feature_options


def _protocol_name(job: CompareJob) -> str:
    test = f"{job.test_per_class} test" if job.test_per_class else "the rest for testing"
    return f"per class: {job.train_per_class} train, {test}"


def _protocol_split(job: CompareJob, dataset):
    """``(train, test)`` indices of ``--train-per-class``/``--test-per-class``, or None."""
    from cvtoolkit.errors import UsageError

    if job.train_per_class is None:
        if job.test_per_class is not None:
            raise UsageError("--test-per-class needs --train-per-class N (the training images per class)")
        return None
    if job.folds:
        raise UsageError("--train-per-class fixes one split; leave out --folds (or use --folds without it)")
    if job.test_size not in ("auto", None):
        raise UsageError("give either --test-size or --train-per-class, not both")
    from cvtoolkit.data.split import per_class_split

    return per_class_split(dataset.labels, train_per_class=job.train_per_class, test_per_class=job.test_per_class,
                           seed=job.seed, class_names=dataset.class_names)
KEEP_CHOICES = ("none", "best", "all")
"""Values of ``CompareJob.keep`` (``compare --keep``)."""

VALIDATION_FRACTION = 0.1
"""Share of the training split CNN rows hold out to stop on (stratified, :func:`cvtoolkit.data.split.stratified_split`)."""

EARLY_STOPPING_PATIENCE = 5
"""Epochs without a lower validation loss before a CNN row stops; the best epoch's weights are kept."""

MIN_PER_CLASS_FOR_VALIDATION = 20
"""Images per class (whole dataset) below which CNN rows train on the whole training split, unvalidated."""


def cnn_row_options(labels: Any, metric: str) -> tuple[dict[str, Any], str]:
    """``(options, note)``: what ``compare`` adds to every CNN row's :class:`~cvtoolkit.train.KerasImageClassifier`.

    Balanced class weights when ranking by balanced accuracy (the rows are
    judged on every class equally, so they are trained so too), and a
    stratified validation split of :data:`VALIDATION_FRACTION` of the
    training split to stop on, keeping the best epoch's weights (when every
    class has :data:`MIN_PER_CLASS_FOR_VALIDATION` images or more).

    Examples
    --------
    >>> import numpy as np
    >>> options, note = cnn_row_options(np.repeat([0, 1], [90, 30]), "balanced_accuracy")
    >>> sorted(options.items())
    [('class_weight', 'auto'), ('early_stopping', 5), ('validation_fraction', 0.1)]
    >>> cnn_row_options(np.repeat([0, 1], [5, 5]), "accuracy")[0]
    {}
    """
    import numpy as np

    options: dict[str, Any] = {}
    parts = []
    if metric == "balanced_accuracy":
        options["class_weight"] = "auto"
        parts.append("balanced class weights (ranking by balanced accuracy)")
    labels = np.asarray(labels)
    counts = np.bincount(labels[labels >= 0]) if labels.size else np.zeros(0, int)
    counts = counts[counts > 0]
    if counts.size and counts.min() >= MIN_PER_CLASS_FOR_VALIDATION:
        options.update(validation_fraction=VALIDATION_FRACTION, early_stopping=EARLY_STOPPING_PATIENCE)
        parts.append(f"CNN and fine-tune rows hold out {VALIDATION_FRACTION:.0%} of the training split to stop on "
                     f"(patience {EARLY_STOPPING_PATIENCE} epochs, the best epoch's weights kept)")
    else:
        parts.append(f"no validation split (a class has fewer than {MIN_PER_CLASS_FOR_VALIDATION} images): "
                     "every epoch trained, the last one kept")
    return options, "CNN rows: " + "; ".join(parts)


def _is_cnn(name: str, parse: Callable[[str], Any]) -> bool:
    try:
        return parse(name).kind == "cnn"
    except Exception:  # an unknown name: run_compare names it
        return False


def _keep_models(job: CompareJob, result: Any, models_dir: Path) -> tuple[dict[str, str], str | None]:
    """Prune ``models_dir`` to what ``keep`` asks for; ``({row: folder}, note)``, best row first."""
    import shutil

    from cvtoolkit.methods.spec import ENSEMBLES

    kept = {r["method"]: result.files[f"model:{r['method']}"] for r in result.rows
            if not r.get("error") and f"model:{r['method']}" in result.files}
    note = None
    best = next((r["method"] for r in result.rows if not r.get("error")), None)
    fused = None
    if best is not None and best in ENSEMBLES:  # a late fusion has no model of its own: keep the best single row
        fused, best = best, next((r["method"] for r in result.rows if not r.get("error") and r["method"] in kept),
                                 None)
    if job.keep == "best":
        for name, folder in list(kept.items()):
            if name != best:  # written by this run a moment ago: ours to remove
                shutil.rmtree(folder, ignore_errors=True)
                del kept[name]
                del result.files[f"model:{name}"]
        if best is not None and best not in kept:
            note = f"the best row {best} could not be saved (see the warning above); no model kept"
        elif fused is not None and best is not None:
            note = (f"the best row {fused} fuses several rows' probabilities and has no model of its own; "
                    f"kept the best single row, {best}")
    else:
        missing = [r["method"] for r in result.rows if not r.get("error") and r["method"] not in kept]
        if missing:
            note = f"not saved (see the warnings above): {', '.join(missing)}"
    if not kept and models_dir.is_dir() and not any(models_dir.iterdir()):
        models_dir.rmdir()
    return kept, note


def _learning_curve(job: CompareJob):
    """``(fractions, rows)`` of the learning curve, or ``(None, rows)``."""
    fractions = None
    if job.learning_curve is not None:
        from cvtoolkit.methods.learning_curve import LearningCurveError, parse_fractions

        fractions = parse_fractions(job.learning_curve)
        if job.folds:
            raise LearningCurveError("--learning-curve refits rows on one split; leave out --folds for it")
    rows = ([m.strip() for m in job.learning_curve_methods.split(",") if m.strip()]
            if job.learning_curve_methods else None)
    return fractions, rows


def _time_budget(job: CompareJob):
    """The :class:`~cvtoolkit.methods.budget.TimeBudget` of ``time_budget`` (started now) or None; checks ``folds``."""
    if job.folds and (job.resume or job.time_budget):
        from cvtoolkit.errors import FoldsError

        flag = "--resume" if job.resume else "--time-budget"
        raise FoldsError(f"{flag} works on one split; --folds runs every row once per fold and is not resumable "
                         f"or budgeted yet. Leave out --folds (or {flag}).")
    if job.time_budget is None:
        return None
    from cvtoolkit.methods.budget import TimeBudget, parse_duration

    return TimeBudget(parse_duration(job.time_budget))


def run_compare_job(
    job: CompareJob,
    *,
    say: Callable[[str], None] | None = None,
    on_dataset: Callable[[Any], None] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    on_leakage: Callable[[dict | None], None] | None = None,
) -> CompareJobResult:
    """Run the comparison a :class:`CompareJob` describes.

    Parameters
    ----------
    job : CompareJob
        The options.
    say : callable, optional
        Called with each progress line (images size, backbone note, rows,
        split, ranking metric, evaluation), in order; the command passes ``print``.
    on_dataset : callable, optional
        Called with the loaded dataset before it is checked (the command prints its summary).
    on_row, on_leakage : callable, optional
        Passed to :func:`~cvtoolkit.methods.compare.run_compare`.

    Returns
    -------
    CompareJobResult

    Raises
    ------
    CvToolkitError
        Empty or repeated rows, a refused output folder, a missing tracker,
        an unreadable or unusable dataset, bad learning-curve fractions (all
        before any model is fitted).
    """
    say = say or (lambda line: None)
    from cvtoolkit.data import check_classification_data
    from cvtoolkit.data.split import resolve_test_size
    from cvtoolkit.io.outputs import check_output_location
    from cvtoolkit.methods.row_store import RowStore, is_compare_output
    from cvtoolkit.methods.compare import run_compare
    from cvtoolkit.methods.spec import parse_method, split_methods
    from cvtoolkit.methods.verdict import default_sort_metric
    from cvtoolkit.tracking import make_tracker

    requested = split_methods(job.methods)  # empty or repeated rows: one line, before any work
    check_job(job, requested)  # names, options and paths, before any image is read
    if job.keep not in KEEP_CHOICES:
        from cvtoolkit.errors import UsageError

        raise UsageError(f"--keep {job.keep}: expected one of {', '.join(KEEP_CHOICES)}")
    if job.dedupe and job.folds:
        from cvtoolkit.errors import UsageError

        raise UsageError("--dedupe drops the test images that have a copy in train on one split; --folds makes a "
                         "test part per fold and would keep them silently. Leave out --folds, or remove the "
                         "duplicates from the folder first (cvtoolkit audit lists them)")
    if job.keep != "none" and job.folds:
        from cvtoolkit.errors import FoldsError

        raise FoldsError(f"--keep {job.keep} keeps models fitted on one split; --folds fits each row once per "
                         "fold. Leave out --folds (or --keep) to keep the models.")
    out = job.out_dir()
    check_output_location(out, kind="folder", overwrite=job.overwrite, ours=is_compare_output,
                          what="a compare report")
    started = time.perf_counter()
    started_wall = time.time()
    budget = _time_budget(job)
    tracker = make_tracker(job.track)  # MLflow missing: one line now, not after the run
    dataset = _load(job, requested, say)
    if on_dataset is not None:
        on_dataset(dataset)
    check_classification_data(dataset, min_per_class=2)
    methods, feature_options = _rows(job, requested, dataset, say)
    progress = _bars(job)  # bars on a terminal only; CNN rows still print one line per epoch unless quiet
    cnn_options: dict[str, Any] = {k: v for k, v in {"epochs": job.epochs, "batch_size": job.batch_size}.items()
                                   if v is not None}
    cnn_options["verbose"] = 0 if job.quiet else 2
    cnn_options.update(log_dir=str(out / "logs"), tensorboard_dir=job.tensorboard)  # history.csv per CNN row
    say(f"methods ({len(methods)}): {', '.join(methods)}")
    split = _protocol_split(job, dataset)
    test_size = resolve_test_size(dataset, job.test_size) if split is None else _protocol_name(job)
    if split is not None:
        say(f"split: {test_size} (seed {job.seed}); balanced accuracy is the papers' mean per-class accuracy")
    elif not job.folds:
        say("split: the dataset's official test part" if test_size == "official"
            else f"split: stratified, test {test_size}, seed {job.seed}")
    metric, why = (job.metric, "chosen with --metric") if job.metric else default_sort_metric(dataset.labels)
    say(f"ranking by {metric}: {why}")
    if any(_is_cnn(m, parse_method) for m in methods):
        extra_cnn, note = cnn_row_options(dataset.labels, metric)
        cnn_options.update(extra_cnn)
        say(note)
    models_dir = out / "models" if job.keep != "none" else None
    fractions, curve_methods = _learning_curve(job)
    if job.folds:
        say(f"evaluation: repeated stratified {job.folds}-fold x {job.repeats}, seed {job.seed}")
    if budget is not None:
        say(f"time budget {budget.describe()}: rows run cheapest first (estimated cost); those that would not fit "
            "are skipped")
    store = None if job.folds else RowStore.for_output(out, reuse=job.resume)  # each row on disk as it finishes
    with contextlib.ExitStack() as stack:
        live = None
        if tracker is not None:  # MLflow: one nested run per row as it finishes, the parent's files at the end
            live = stack.enter_context(tracker.compare_run(job.dataset, feature_options=feature_options,
                                                           cnn_options=cnn_options, seed=job.seed))
            if store is not None:
                store.listeners.append(live.log_row)
        result = run_compare(
            dataset, methods, test_size=test_size, seed=job.seed, out_dir=out,
            feature_options=feature_options, cnn_options=cnn_options, search=job.search,
            cache_dir=job.cache_folder(), n_jobs=job.n_jobs or os.cpu_count() or 1, progress=progress,
            on_row=on_row, metric=job.metric, folds=job.folds, repeats=job.repeats, split=split,  # None: its reason
            learning_curve=fractions, learning_curve_methods=curve_methods,
            dedupe=job.dedupe, on_leakage=on_leakage, models_dir=models_dir, row_store=store, time_budget=budget,
        )
        models, models_note = _keep_models(job, result, models_dir) if models_dir is not None else ({}, None)
        tracking = live.finish(result, out_dir=out) if live is not None else None
    return CompareJobResult(result, dataset, out, methods, feature_options, cnn_options, tracking,
                            time.perf_counter() - started, models, models_note,
                            written=files_written(out, started_wall))
