"""The whole ``cvtoolkit train`` workflow as one library call: a :class:`TrainJob` in, a :class:`TrainResult` out.

:class:`TrainJob` (frozen) holds what the command's flags say, by the same
names; :meth:`TrainJob.from_args` builds it from parsed flags, and
:func:`run_train_job` runs it in named steps:

1. :func:`prepare_outputs`: ``out`` checked before any work (a pipeline
   folder, or one ``.keras`` file), its companions named, the tracker made;
2. :func:`start_distribution`: tf.distribute, the global batch, and a
   temporary folder for the non-chief workers of a multi-worker run;
3. :func:`open_source`: the data source
   (:class:`cvtoolkit.train.workflow.TrainingSource`, loaded or streamed);
4. :func:`split_indices`: a seeded stratified test split and a validation
   split of the rest;
5. :func:`prepare_trainer`: resume from ``NAME.last.keras``, or build and
   compile through :meth:`KerasImageClassifier.build_trainer
   <cvtoolkit.train.KerasImageClassifier.build_trainer>`, after the
   learning-rate sweep (:func:`find_learning_rate`) with ``lr_find``;
6. :func:`fit_job`: callbacks (CSV log, TensorBoard, MLflow) and
   :meth:`~cvtoolkit.train.KerasImageClassifier.fit_data` (checkpoints,
   early stopping, history files);
7. :func:`score_test` on the held-out part, then :func:`save_outputs`
   (a pipeline folder by :func:`cvtoolkit.methods.artifact.save_pipeline`,
   or the ``.keras`` file and its sidecar) and the tracker's artifacts.

It prints nothing: progress lines go to ``echo`` (the command passes ``print``).

Examples
--------
>>> job = TrainJob(dataset="digits", model="shallownet", epochs=1, quiet=True)
>>> job.out_path().as_posix(), job.n_epochs()
('models/shallownet', 1)

Running it (a minute on a laptop)::

    result = run_train_job(TrainJob(dataset="digits", model="shallownet", out="models/digits"), echo=print)
    print(result.report.metrics["accuracy"])
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS
from cvtoolkit.errors import DatasetError, UsageError

logger = logging.getLogger(__name__)

__all__ = ["TrainJob", "TrainResult", "run_train_job", "run_training", "split_indices"]


@dataclass(frozen=True)
class TrainJob:
    """The options of one ``train`` run: ``cvtoolkit train``'s flags, by the same names.

    Parameters
    ----------
    dataset, model
        The dataset spec and the network name (:mod:`cvtoolkit.nn`).
    out
        The pipeline folder to write, or a path ending in ``.keras`` (one
        file and its sidecar); ``None``: ``models/<model>``.
    epochs, batch_size
        ``None`` epochs: the network's recommended count
        (:data:`cvtoolkit.train.estimator.RECOMMENDED_EPOCHS`, 20 otherwise).
        With ``strategy`` the batch size is per replica.
    image_size, label_pattern, max_pixels, stream, workers
        How the images are read (``max_pixels`` already validated; ``None``: no limit).
    optimizer, lr, schedule, lr_find, augment, class_weight, mixed_precision
        Training options (``lr``: the schedule's peak).
    test_size, val_size, seed
        The held-out test fraction (scored at the end) and the validation
        fraction of the rest (best checkpoint, early stopping).
    early_stopping, resume
        Patience in epochs; continue from ``NAME.last.keras``.
    strategy, cpu_replicas
        ``"mirrored"``/``"multiworker"`` (tf.distribute) and CPU logical devices.
    overwrite, quiet, tensorboard, track, verbose
        Replace a foreign ``out``; one line per epoch; TensorBoard folder;
        tracker (``"mlflow[:URI]"``); TensorFlow's INFO lines with a strategy.

    Raises
    ------
    UsageError
        ``epochs`` or ``batch_size`` below 1.
    """

    dataset: str
    model: str
    out: str | None = None
    epochs: int | None = None
    batch_size: int = 32
    image_size: int | None = None
    label_pattern: str | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    optimizer: str = "adam"
    lr: float | None = None
    schedule: str = "cosine"
    lr_find: bool = False
    augment: bool = False
    class_weight: str | None = None
    mixed_precision: bool = False
    test_size: float = 0.25
    val_size: float = 0.1
    early_stopping: int | None = None
    resume: bool = False
    stream: bool = False
    workers: int | None = None
    strategy: str | None = None
    cpu_replicas: int | None = None
    seed: int = 42
    overwrite: bool = False
    quiet: bool = False
    tensorboard: str | None = None
    track: Any = None
    verbose: bool = False

    def __post_init__(self) -> None:
        for name, value in (("--epochs", self.epochs), ("--batch-size", self.batch_size)):
            if value is not None and value < 1:
                raise UsageError(f"{name} must be at least 1, got {value}")

    @classmethod
    def from_args(cls, args: Any, **overrides: Any) -> TrainJob:
        """The job the parsed flags describe (attributes of ``args`` named like the fields), then ``overrides``.

        Examples
        --------
        >>> import argparse
        >>> TrainJob.from_args(argparse.Namespace(dataset="digits", model="lenet", epochs=2), seed=1).seed
        1
        """
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
        values.update(overrides)
        return cls(**values)

    def n_epochs(self) -> int:
        """``epochs``, or the network's recommended count."""
        if self.epochs is not None:
            return int(self.epochs)
        from cvtoolkit.train.estimator import RECOMMENDED_EPOCHS

        return RECOMMENDED_EPOCHS.get(self.model.lower(), 20)

    def out_path(self) -> Path:
        """``out`` (default ``models/<model>``), refused when it ends in another model-file suffix."""
        from cvtoolkit.train.workflow import check_out

        return check_out(Path(self.out or f"models/{self.model}"))


@dataclass
class TrainResult:
    """What :func:`run_train_job` trained and wrote."""

    classifier: Any
    """The fitted :class:`cvtoolkit.train.KerasImageClassifier`."""
    out: Path
    """The pipeline folder or ``.keras`` file."""
    files: dict
    """``out`` and its companions (history, csv, plot, best, last, lr_find)."""
    report: Any = None
    """Test :class:`cvtoolkit.evaluate.ClassificationReport` (None without a test split)."""
    seconds: float = 0.0
    tracked: str | None = None


@dataclass
class Split:
    """Indices of the fitted, validation and test parts (``None``: no such part)."""

    fit: Any
    val: Any = None
    test: Any = None


@dataclass
class _Run:
    """The state the steps hand on: outputs, tracker, strategy, source, split."""

    job: TrainJob
    echo: Callable[[str], None]
    out: Path
    files: dict[str, Path]
    resume_from: Path
    tracker: Any = None
    tensorboard: str | None = None
    dist: Any = None
    batch: int = 32
    source: Any = None
    split: Split | None = None
    policy: str = "float32"
    started: float = field(default_factory=time.perf_counter)

    @property
    def as_file(self) -> bool:
        return self.out.suffix == ".keras"


# --------------------------------------------------------------------------- steps
def prepare_outputs(job: TrainJob, echo: Callable[[str], None]) -> _Run:
    """Step 1: check ``out`` before any work, name its companions, make the tracker (MLflow missing: one line now)."""
    from cvtoolkit.io.outputs import check_output_location, is_keras_file, is_pipeline_folder
    from cvtoolkit.tracking import make_tracker
    from cvtoolkit.train.workflow import companion_paths

    out = job.out_path()
    if out.suffix == ".keras":
        check_output_location(out, kind="file", overwrite=job.overwrite, ours=is_keras_file, what="a .keras model")
    else:
        check_output_location(out, kind="folder", overwrite=job.overwrite, ours=is_pipeline_folder,
                              what="a saved pipeline")
    files = companion_paths(out)
    return _Run(job, echo, out, files, files["last"], tracker=make_tracker(job.track), tensorboard=job.tensorboard)


def start_distribution(run: _Run) -> None:
    """Step 2: the tf.distribute strategy and global batch; a non-chief worker writes to a temporary folder."""
    from cvtoolkit.train.distribute import describe_strategy, global_batch_size, is_chief
    from cvtoolkit.train.workflow import companion_paths, make_run_strategy

    job = run.job
    run.dist = make_run_strategy(job.strategy, job.cpu_replicas, verbose=job.verbose)
    run.batch = global_batch_size(job.batch_size, run.dist)
    worker_dir = None
    if run.dist is not None and not is_chief():
        # Another worker of a multi-worker run: train in step with the chief (resume from the chief's
        # NAME.last.keras), write elsewhere; the chief logs the run.
        worker_dir = Path(tempfile.mkdtemp(prefix="cvtoolkit-worker-"))
        atexit.register(shutil.rmtree, worker_dir, True)
        run.out = worker_dir / run.out.name
        run.files = companion_paths(run.out)  # resume_from stays the chief's
        run.tracker = None
        if run.tensorboard:
            run.tensorboard = str(worker_dir / "tensorboard")
    if run.dist is not None:
        run.echo(f"distribution: {describe_strategy(run.dist)}; global batch {run.batch} ({job.batch_size} per "
                 f"replica)" + (f"; this worker writes to {worker_dir}" if worker_dir else ""))


def open_source(job: TrainJob, echo: Callable[[str], None], on_dataset: Callable[[Any], None] | None = None):
    """Step 3: the data source (:class:`~cvtoolkit.train.workflow.TrainingSource`), with at least 2 classes."""
    from cvtoolkit.train.workflow import TrainingSource

    source = TrainingSource(job.dataset, job.model, image_size=job.image_size, label_pattern=job.label_pattern,
                            max_pixels=job.max_pixels, stream=job.stream, progress=not job.quiet, echo=echo,
                            on_dataset=on_dataset)
    if len(source.class_names) < 2:
        raise DatasetError(f"{job.dataset}: {len(source.class_names)} class; training needs at least 2")
    return source


def split_indices(labels: Any, *, test_size: float, val_size: float, seed: int,
                  class_names: Any = None) -> Split:
    """Step 4: a seeded stratified test part (``test_size``), then a validation part of the rest (``val_size``).

    Examples
    --------
    >>> import numpy as np
    >>> parts = split_indices(np.repeat([0, 1], 10), test_size=0.2, val_size=0.25, seed=0)
    >>> len(parts.fit), len(parts.val), len(parts.test)
    (12, 4, 4)
    """
    import numpy as np

    from cvtoolkit.data.split import stratified_split

    labels = np.asarray(labels)
    if test_size:
        train_idx, test_idx = stratified_split(labels, test_size=test_size, seed=seed, class_names=class_names)
    else:
        train_idx, test_idx = np.arange(len(labels)), None
    if val_size:
        tr, va = stratified_split(labels[train_idx], test_size=val_size, seed=seed, class_names=class_names)
        return Split(train_idx[tr], train_idx[va], test_idx)
    return Split(train_idx, None, test_idx)


def find_learning_rate(run: _Run, clf: Any, train_data: Any, steps: int) -> float:
    """The learning-rate finder step: sweep on a copy of the network, plot ``NAME.lr_find.png``, return the suggestion."""
    from cvtoolkit.train import LRFinder
    from cvtoolkit.train.distribute import distribution_scope

    _, sweep = clf.build_trainer(run.source.sample_shape, len(run.source.class_names), steps_per_epoch=steps,
                                 strategy=run.dist, learning_rate=1e-3, schedule="constant")
    with distribution_scope(run.dist):
        found = LRFinder(sweep).find(train_data, steps=min(200, max(50, 2 * steps)), batch_size=run.batch,
                                     seed=run.job.seed)
    found.plot(run.files["lr_find"])
    run.echo(f"LR finder: suggested learning rate {found.suggested_lr:.3g} "
             f"(minimum loss at {found.min_loss_lr:.3g}); plot {run.files['lr_find']}")
    return found.suggested_lr


def prepare_trainer(run: _Run, clf: Any, train_data: Any, steps: int) -> tuple[Any, int, Any]:
    """Step 5: ``(trainer, initial_epoch, resume_best)``: the resumed model, or one built by ``build_trainer``."""
    job = run.job
    last = run.resume_from
    if job.resume and last.is_file():
        from cvtoolkit.train.augmentation import unwrap_augmentation
        from cvtoolkit.train.fit import resume_state

        state = resume_state(last, strategy=run.dist)
        run.echo(f"resuming {last} at epoch {state['epoch'] + 1} of {job.n_epochs()}")
        if state["epoch"] >= job.n_epochs():
            run.echo(f"already trained {state['epoch']} epochs; raise --epochs to train more")
        return (unwrap_augmentation(state["model"]), state["model"]), state["epoch"], (state["best"],
                                                                                       state["best_epoch"])
    if job.lr_find:
        suggested = find_learning_rate(run, clf, train_data, steps)
        if job.lr is None:
            clf.set_params(learning_rate=suggested)
    trainer = clf.build_trainer(run.source.sample_shape, len(run.source.class_names), steps_per_epoch=steps,
                                strategy=run.dist)
    run.echo(f"model {job.model}: {trainer[0].count_params():,} parameters, input {run.source.sample_shape}, "
             f"{job.optimizer} lr {clf._learning_rate():.3g} ({job.schedule}), policy {run.policy}")
    return trainer, 0, None


def fit_job(run: _Run, clf: Any, train_data: Any, val_data: Any) -> None:
    """Step 6: compose the callbacks (CSV log, TensorBoard, MLflow) and fit through ``fit_data``."""
    import keras
    import numpy as np

    job, files = run.job, run.files
    input_shape = tuple(run.source.sample_shape)
    steps = math.ceil(len(run.split.fit) / run.batch)
    trainer, initial_epoch, resume_best = prepare_trainer(run, clf, train_data, steps)
    files["csv"].parent.mkdir(parents=True, exist_ok=True)
    callbacks = [keras.callbacks.CSVLogger(str(files["csv"]), append=bool(initial_epoch))]
    if run.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=run.tensorboard))
    params = {"model": job.model, "dataset": job.dataset, "epochs": job.n_epochs(), "batch_size": job.batch_size,
              "optimizer": job.optimizer,
              "learning_rate": clf.learning_rate if initial_epoch else clf._learning_rate(),
              "schedule": job.schedule, "augment": job.augment, "class_weight": job.class_weight,
              "test_size": job.test_size, "val_size": job.val_size, "seed": job.seed,
              "image_size": "x".join(map(str, input_shape[:2])), "initial_epoch": initial_epoch}
    with (run.tracker.training_run(f"train {run.out.stem}", params=params) if run.tracker
          else contextlib.nullcontext([])) as track_callbacks:
        clf.fit_data(train_data, classes=np.arange(len(run.source.class_names)), input_shape=input_shape,
                     steps_per_epoch=steps, validation_data=val_data, callbacks=callbacks + track_callbacks,
                     trainer=trainer, initial_epoch=initial_epoch, strategy=run.dist,
                     checkpoint=files["best"] if run.split.val is not None else None, last_checkpoint=files["last"],
                     early_stopping=job.early_stopping, history_path=files["history"], plot_path=files["plot"],
                     resume_best=resume_best, workers=job.workers)


def restore_best(run: _Run, clf: Any) -> None:
    """The best validation epoch's weights (without early stopping, which restores them itself); the history files."""
    import keras

    from cvtoolkit.train.callbacks import read_history

    best = run.files["best"]
    if run.split.val is not None and best.is_file() and not run.job.early_stopping:
        clf.model_.set_weights(keras.models.load_model(best, compile=False).get_weights())
        run.echo(f"final weights: best validation epoch ({best})")
    clf.history_ = read_history(run.files["history"]) or clf.history_
    clf.class_names_ = list(run.source.class_names)


def score_test(run: _Run, clf: Any):
    """Step 7a: the test part's :class:`~cvtoolkit.evaluate.ClassificationReport` (``None`` without one)."""
    import numpy as np

    from cvtoolkit.evaluate import ClassificationReport

    if run.split.test is None:
        return None
    y_true, proba = run.source.predict(clf.model_, run.split.test, max(64, run.job.batch_size))
    report = ClassificationReport.from_predictions(y_true, np.asarray(proba, np.float64), run.source.class_names,
                                                   method=run.job.model)
    run.echo(report.to_text())
    return report


def save_outputs(run: _Run, clf: Any, report: Any) -> list[Path]:
    """Step 7b: save the model (pipeline folder, or ``.keras`` + sidecar); the files to hand to the tracker."""
    from cvtoolkit.train.estimator import sidecar_path

    job, out, shape = run.job, run.out, tuple(run.source.sample_shape)
    extra = {"dataset": str(job.dataset), "image_size": list(shape[:2]), "dtype_policy": run.policy,
             "strategy": job.strategy, "replicas": 1 if run.dist is None else run.dist.num_replicas_in_sync}
    if run.as_file:
        clf.save(out, extra=extra)
        return [out, sidecar_path(out)]
    from cvtoolkit.methods.artifact import save_pipeline

    h, w = shape[:2]
    extra = {**extra, "source": str(job.dataset), "train_samples": len(run.split.fit), "seed": job.seed,
             "fit_seconds": round(time.perf_counter() - run.started, 2)}
    extra["input_size"] = extra.pop("image_size")  # the manifest's image_size is predict's resize target
    if report is not None:
        extra["test"] = {k: v for k, v in report.metrics.items() if v is not None}
    save_pipeline(clf, out, method=job.model, class_names=run.source.class_names, image_size=h if h == w else [h, w],
                  channels=int(shape[-1]), kind="cnn", extra=extra, overwrite=job.overwrite)
    return [out / "manifest.json", out / "model.keras", out / "model.json"]


# --------------------------------------------------------------------------- the job
def run_train_job(job: TrainJob, *, echo: Callable[[str], None] | None = None,
                  on_dataset: Callable[[Any], None] | None = None) -> TrainResult:
    """Train ``job.model`` on ``job.dataset``, save it to ``job.out``, score the test split.

    Parameters
    ----------
    job : TrainJob
    echo : callable, optional
        Receives the progress lines (default: this module's logger); the command passes ``print``.
    on_dataset : callable, optional
        Called with an in-memory dataset once loaded (the command prints its summary).

    Returns
    -------
    TrainResult

    Raises
    ------
    CvToolkitError
        Bad settings, dataset or output location (one line each, before training).
    """
    import keras

    from cvtoolkit.train.estimator import KerasImageClassifier
    from cvtoolkit.train.fit import set_mixed_precision

    run = prepare_outputs(job, echo or logger.info)
    start_distribution(run)
    run.policy = set_mixed_precision(job.mixed_precision)
    keras.utils.set_random_seed(job.seed)
    run.source = open_source(job, run.echo, on_dataset)
    run.split = split_indices(run.source.labels, test_size=job.test_size, val_size=job.val_size, seed=job.seed,
                              class_names=run.source.class_names)
    split = run.split
    run.echo(f"split: {len(split.fit)} train, {0 if split.val is None else len(split.val)} validation, "
             f"{0 if split.test is None else len(split.test)} test (seed {job.seed})")
    data = {"batch_size": run.batch, "seed": job.seed, "workers": job.workers}
    train_data = run.source.training_data(split.fit, shuffle=True, **data)
    val_data = run.source.training_data(split.val, shuffle=False, **data)
    clf = KerasImageClassifier(model=job.model, epochs=job.n_epochs(), batch_size=job.batch_size,
                               learning_rate=job.lr, optimizer=job.optimizer, schedule=job.schedule,
                               augment=job.augment, class_weight=job.class_weight, seed=job.seed,
                               verbose=2 if job.quiet else "auto")
    fit_job(run, clf, train_data, val_data)
    restore_best(run, clf)
    report = score_test(run, clf)
    model_files = save_outputs(run, clf, report)
    files = run.files
    run.echo(f"saved {run.out} (+ {files['history'].name}, {files['csv'].name}, {files['plot'].name})")
    result = TrainResult(clf, run.out, files, report)
    if run.tracker is not None:
        metrics = {f"test_{k}": v for k, v in report.metrics.items()} if report is not None else {}
        result.tracked = run.tracker.finish_training(*model_files, files["history"], files["csv"], files["plot"],
                                                     metrics=metrics)
    result.seconds = time.perf_counter() - run.started
    return result


def run_training(dataset: str, model: str, *, echo: Callable[[str], None] | None = None,
                 on_dataset: Callable[[Any], None] | None = None, **options: Any) -> TrainResult:
    """``run_train_job(TrainJob(dataset, model, **options))``: the keyword form of the job.

    Examples
    --------
    ``run_training("digits", "shallownet", out="models/digits", epochs=1, quiet=True)``
    """
    return run_train_job(TrainJob(dataset=dataset, model=model, **options), echo=echo, on_dataset=on_dataset)
