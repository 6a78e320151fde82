"""Train a Keras CNN from arrays, a folder or an HDF5 store: the workflow of ``cvtoolkit train``.

:func:`run_training` holds out a stratified test split (``test_size``,
seeded) scored at the end, and a validation split of the rest
(``val_size``) that drives the best-model checkpoint and early stopping. It
builds, compiles and fits through :class:`cvtoolkit.train.KerasImageClassifier`
(:meth:`~cvtoolkit.train.KerasImageClassifier.build_trainer`,
:meth:`~cvtoolkit.train.KerasImageClassifier.fit_data`), with the callbacks
it composes here: CSV log, TensorBoard, MLflow, checkpoints, monitor.

``out`` is a pipeline folder (``models/NAME``, what ``cvtoolkit fit``
writes: ``manifest.json``, ``model.keras``, ``model.json``) unless it ends
in ``.keras``: then the model is one ``.keras`` file with its JSON sidecar,
as before (``predict`` and ``evaluate`` take both). Beside it, from the
stem of ``out``: ``NAME.history.json``, ``NAME.history.csv`` and
``NAME.history.png`` (updated every epoch), ``NAME.best.keras``, and
``NAME.last.keras`` + ``NAME.last.json`` (for ``resume``).

Folders are loaded into memory at ``image_size`` unless ``stream`` (decoded
batch by batch in worker threads); .h5 stores are always streamed.
``strategy`` trains data-parallel with tf.distribute (TensorFlow backend).

Examples
--------
>>> import tempfile, os
>>> out = os.path.join(tempfile.mkdtemp(), "digits-shallow")
>>> result = run_training("digits", "shallownet", out=out, epochs=1, test_size=0.2, val_size=0,
...                       quiet=True)  # doctest: +SKIP
>>> sorted(os.listdir(out))  # doctest: +SKIP
['manifest.json', 'model.json', 'model.keras']
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS
from cvtoolkit.errors import DatasetError, UsageError

logger = logging.getLogger(__name__)

MODEL_FILE_SUFFIXES = (".h5", ".hdf5", ".pkl", ".pickle", ".joblib", ".pt", ".pth", ".onnx", ".tflite", ".npz")
"""``out`` suffixes refused as likely mistakes: a model is a pipeline folder or a ``.keras`` file."""


@dataclass
class TrainResult:
    """What :func:`run_training` trained and wrote."""

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


def check_out(out: Path) -> Path:
    """``out`` is a pipeline folder or a ``.keras`` file.

    Raises
    ------
    UsageError
        ``out`` ends in another model-file suffix (``.h5``, ...).

    Examples
    --------
    >>> check_out(Path("models/x")).name, check_out(Path("m.keras")).name
    ('x', 'm.keras')
    """
    if out.suffix.lower() in MODEL_FILE_SUFFIXES:
        raise UsageError(f"--out {out}: train writes a pipeline folder (e.g. {out.with_suffix('')}) or a "
                         f"Keras model file ending in .keras (e.g. {out.with_suffix('.keras')})")
    return out


def run_training(
    dataset: str,
    model: str,
    *,
    out: str | None = None,
    epochs: int | None = None,
    batch_size: int = 32,
    image_size: int | None = None,
    label_pattern: str | None = None,
    optimizer: str = "adam",
    lr: float | None = None,
    schedule: str = "cosine",
    lr_find: bool = False,
    augment: bool = False,
    class_weight: str | None = None,
    mixed_precision: bool = False,
    test_size: float = 0.25,
    val_size: float = 0.1,
    early_stopping: int | None = None,
    resume: bool = False,
    stream: bool = False,
    workers: int | None = None,
    strategy: str | None = None,
    cpu_replicas: int | None = None,
    seed: int = 42,
    overwrite: bool = False,
    quiet: bool = False,
    tensorboard: str | None = None,
    track: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    verbose: bool = False,
    echo: Callable[[str], None] = logger.info,
    on_dataset: Callable[[Any], None] | None = None,
) -> TrainResult:
    """Train network ``model`` on ``dataset``, save it to ``out``, score the test split.

    Parameters mirror ``cvtoolkit train --help`` (``lr`` is the peak
    learning rate, ``strategy`` is ``"mirrored"``/``"multiworker"``, ``track``
    is ``mlflow[:URI]``); ``out`` defaults to the pipeline folder
    ``models/<model>``. ``echo`` receives the progress lines (the command
    passes ``print``), ``on_dataset`` the loaded in-memory dataset.

    Raises
    ------
    CvToolkitError
        Bad settings, dataset or output location (one line each).
    """
    import numpy as np

    from cvtoolkit.data.split import stratified_split
    from cvtoolkit.io.outputs import check_output_location, is_keras_file, is_pipeline_folder
    from cvtoolkit.tracking import make_tracker
    from cvtoolkit.train.callbacks import read_history
    from cvtoolkit.train.distribute import describe_strategy, global_batch_size, is_chief
    from cvtoolkit.train.estimator import RECOMMENDED_EPOCHS, KerasImageClassifier, sidecar_path
    from cvtoolkit.train.fit import make_training_data, resume_state, set_mixed_precision

    args = SimpleNamespace(dataset=dataset, model=model, stream=stream, image_size=image_size, quiet=quiet,
                           label_pattern=label_pattern, max_pixels=max_pixels, strategy=strategy,
                           cpu_replicas=cpu_replicas, verbose=verbose, echo=echo, on_dataset=on_dataset)
    started = time.perf_counter()
    if epochs is None:
        epochs = RECOMMENDED_EPOCHS.get(model.lower(), 20)
    for name, value in (("--epochs", epochs), ("--batch-size", batch_size)):
        if value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")
    out = check_out(Path(out or f"models/{model}"))
    as_file = out.suffix == ".keras"
    if as_file:
        check_output_location(out, kind="file", overwrite=overwrite, ours=is_keras_file, what="a .keras model")
    else:
        check_output_location(out, kind="folder", overwrite=overwrite, ours=is_pipeline_folder,
                              what="a saved pipeline")
    files = _paths(out)

    tracker = make_tracker(track)  # MLflow missing: one line now, not after training
    dist = _strategy(args)
    batch = global_batch_size(batch_size, dist)
    resume_from, worker_dir = files["last"], None
    if dist is not None and not is_chief():
        # Another worker of a multi-worker run: train in step with the chief, write elsewhere.
        worker_dir = Path(tempfile.mkdtemp(prefix="cvtoolkit-worker-"))
        atexit.register(shutil.rmtree, worker_dir, True)
        out = worker_dir / out.name
        files = _paths(out)
        tracker = None  # the chief logs the run
        if tensorboard:
            tensorboard = str(worker_dir / "tensorboard")
    if dist is not None:
        echo(f"distribution: {describe_strategy(dist)}; global batch {batch} ({batch_size} per replica)"
             + (f"; this worker writes to {worker_dir}" if worker_dir else ""))

    policy = set_mixed_precision(mixed_precision)
    import keras

    keras.utils.set_random_seed(seed)
    source = _Source(args)
    labels = np.asarray(source.labels)
    n_classes = len(source.class_names)
    if n_classes < 2:
        raise DatasetError(f"{dataset}: {n_classes} class; training needs at least 2")
    if test_size:
        train_idx, test_idx = stratified_split(labels, test_size=test_size, seed=seed, class_names=source.class_names)
    else:
        train_idx, test_idx = np.arange(len(labels)), None
    if val_size:
        tr, va = stratified_split(labels[train_idx], test_size=val_size, seed=seed, class_names=source.class_names)
        fit_idx, val_idx = train_idx[tr], train_idx[va]
    else:
        fit_idx, val_idx = train_idx, None
    echo(f"split: {len(fit_idx)} train, {0 if val_idx is None else len(val_idx)} validation, "
         f"{0 if test_idx is None else len(test_idx)} test (seed {seed})")

    def data_for(indices, shuffle):
        if indices is None:
            return None
        if source.dataset is not None:
            ds = source.dataset.subset(indices)
            return (ds.images, ds.labels)
        target = source.listing if source.kind == "folder" else source.spec
        return make_training_data(target, batch_size=batch, image_size=source.image_size, shuffle=shuffle,
                                  indices=indices, seed=seed, workers=workers, max_pixels=source.max_pixels)

    train_data = data_for(fit_idx, True)
    val_data = data_for(val_idx, False)
    input_shape = tuple(source.sample_shape)
    steps = math.ceil(len(fit_idx) / batch)
    clf = KerasImageClassifier(model=model, epochs=epochs, batch_size=batch_size, learning_rate=lr,
                               optimizer=optimizer, schedule=schedule, augment=augment, class_weight=class_weight,
                               seed=seed, verbose=2 if quiet else "auto")
    initial_epoch, resume_best = 0, None
    if resume and resume_from.is_file():
        from cvtoolkit.train.augmentation import unwrap_augmentation

        state = resume_state(resume_from, strategy=dist)
        trainer, initial_epoch = (unwrap_augmentation(state["model"]), state["model"]), state["epoch"]
        resume_best = (state["best"], state["best_epoch"])
        echo(f"resuming {resume_from} at epoch {initial_epoch + 1} of {epochs}")
        if initial_epoch >= epochs:
            echo(f"already trained {initial_epoch} epochs; raise --epochs to train more")
    else:
        if lr_find:
            from cvtoolkit.train import LRFinder
            from cvtoolkit.train.distribute import distribution_scope

            _, sweep = clf.build_trainer(input_shape, n_classes, steps_per_epoch=steps, strategy=dist,
                                         learning_rate=1e-3, schedule="constant")
            with distribution_scope(dist):
                found = LRFinder(sweep).find(train_data, steps=min(200, max(50, 2 * steps)), batch_size=batch,
                                             seed=seed)
            found.plot(files["lr_find"])
            echo(f"LR finder: suggested learning rate {found.suggested_lr:.3g} "
                 f"(minimum loss at {found.min_loss_lr:.3g}); plot {files['lr_find']}")
            if lr is None:
                clf.set_params(learning_rate=found.suggested_lr)
        trainer = clf.build_trainer(input_shape, n_classes, steps_per_epoch=steps, strategy=dist)
        echo(f"model {model}: {trainer[0].count_params():,} parameters, input {input_shape}, "
             f"{optimizer} lr {clf._learning_rate():.3g} ({schedule}), policy {policy}")

    files["csv"].parent.mkdir(parents=True, exist_ok=True)
    callbacks = [keras.callbacks.CSVLogger(str(files["csv"]), append=bool(initial_epoch))]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=tensorboard))
    track_params = {"model": model, "dataset": dataset, "epochs": epochs, "batch_size": batch_size,
                    "optimizer": optimizer, "learning_rate": clf.learning_rate if initial_epoch else clf._learning_rate(),
                    "schedule": schedule, "augment": augment, "class_weight": class_weight, "test_size": test_size,
                    "val_size": val_size, "seed": seed, "image_size": "x".join(map(str, input_shape[:2])),
                    "initial_epoch": initial_epoch}
    with (tracker.training_run(f"train {out.stem}", params=track_params) if tracker
          else contextlib.nullcontext([])) as track_callbacks:
        clf.fit_data(train_data, classes=np.arange(n_classes), input_shape=input_shape, steps_per_epoch=steps,
                     validation_data=val_data, callbacks=callbacks + track_callbacks, trainer=trainer,
                     initial_epoch=initial_epoch, strategy=dist,
                     checkpoint=files["best"] if val_idx is not None else None, last_checkpoint=files["last"],
                     early_stopping=early_stopping, history_path=files["history"], plot_path=files["plot"],
                     resume_best=resume_best, workers=workers)
    net = clf.model_
    if val_idx is not None and files["best"].is_file() and not early_stopping:
        best = keras.models.load_model(files["best"], compile=False)
        net.set_weights(best.get_weights())
        echo(f"final weights: best validation epoch ({files['best']})")
    clf.history_ = read_history(files["history"]) or clf.history_
    clf.class_names_ = list(source.class_names)

    report = None
    if test_idx is not None:
        y_true, proba = source.predict(net, test_idx, max(64, batch_size))
        from cvtoolkit.evaluate import ClassificationReport

        report = ClassificationReport.from_predictions(y_true, np.asarray(proba, np.float64), source.class_names,
                                                       method=model)
        echo(report.to_text())
    extra = {"dataset": str(dataset), "image_size": list(input_shape[:2]), "dtype_policy": policy,
             "strategy": strategy, "replicas": 1 if dist is None else dist.num_replicas_in_sync}
    if as_file:
        clf.save(out, extra=extra)
        model_files = [out, sidecar_path(out)]
    else:
        from cvtoolkit.methods.artifact import save_pipeline

        h, w = input_shape[:2]
        extra = {**extra, "source": str(dataset), "train_samples": len(fit_idx), "seed": seed,
                 "fit_seconds": round(time.perf_counter() - started, 2)}
        extra["input_size"] = extra.pop("image_size")  # the manifest's image_size is predict's resize target
        if report is not None:
            extra["test"] = {k: v for k, v in report.metrics.items() if v is not None}
        save_pipeline(clf, out, method=model, class_names=source.class_names, image_size=h if h == w else [h, w],
                      channels=int(input_shape[-1]), kind="cnn", extra=extra, overwrite=overwrite)
        model_files = [out / "manifest.json", out / "model.keras", out / "model.json"]
    echo(f"saved {out} (+ {files['history'].name}, {files['csv'].name}, {files['plot'].name})")
    result = TrainResult(clf, out, files, report)
    if tracker is not None:
        test_metrics = {f"test_{k}": v for k, v in report.metrics.items()} if report is not None else {}
        result.tracked = tracker.finish_training(*model_files, files["history"], files["csv"], files["plot"],
                                                 metrics=test_metrics)
    result.seconds = time.perf_counter() - started
    return result


def _paths(out: Path) -> dict[str, Path]:
    """``out`` and its companions: ``NAME.history.json`` ... beside a .keras file or a pipeline folder."""
    stem = out.with_suffix("") if out.suffix == ".keras" else out
    return {
        "out": out,
        "history": Path(f"{stem}.history.json"),
        "csv": Path(f"{stem}.history.csv"),
        "plot": Path(f"{stem}.history.png"),
        "best": Path(f"{stem}.best.keras"),
        "last": Path(f"{stem}.last.keras"),
        "lr_find": Path(f"{stem}.lr_find.png"),
    }


class _Source:
    """The data of a run: split indices and how to build each part."""

    def __init__(self, args: SimpleNamespace):
        from cvtoolkit.data import describe_spec

        self.spec = args.dataset
        self.kind = describe_spec(self.spec)
        self.stream = self.kind == "hdf5" or (args.stream and self.kind == "folder")
        self.dataset = None
        self.image_size = args.image_size
        self.max_pixels = args.max_pixels
        self.echo = args.echo
        if self.stream:
            self._init_stream(args)
        else:
            self._init_memory(args)

    def _init_memory(self, args: SimpleNamespace) -> None:
        from cvtoolkit.data import load_dataset
        from cvtoolkit.data.split import check_classification_data

        size = self.image_size
        if size is None and self.kind == "folder":
            size = _model_size(args.model)
        ds = load_dataset(self.spec, image_size=size, label_pattern=args.label_pattern, progress=not args.quiet,
                          max_pixels=self.max_pixels)
        if ds.kind != "images":
            raise DatasetError(f"{self.spec}: holds {ds.kind}, not images; a CNN trains on images "
                               "(pack the images, not extracted features)")
        if ds.images.dtype == object:
            raise DatasetError(f"{self.spec}: images have different sizes; pass --image-size N")
        if args.on_dataset is not None:
            args.on_dataset(ds)
        check_classification_data(ds, min_per_class=2)
        self.dataset = ds
        self.labels = ds.labels
        self.class_names = ds.class_names
        self.sample_shape = tuple(ds.images.shape[1:])

    def _init_stream(self, args: SimpleNamespace) -> None:
        if self.kind == "hdf5":
            from cvtoolkit.io import HDF5Batches

            probe = HDF5Batches(self.spec, 1, shuffle=False)
            if probe.kind != "images":
                raise DatasetError(f"{self.spec}: a {probe.kind} store; a CNN trains on an images store "
                                   "(cvtoolkit pack)")
            self.labels, self.class_names = probe.labels, probe.class_names
            shape = probe.sample_shape
            if self.image_size is not None:
                shape = (self.image_size, self.image_size, *shape[2:])
            self.sample_shape = tuple(shape)
            self.image_size = self.sample_shape[:2]
            self.echo(f"dataset {self.spec}: {len(self.labels)} images "
                  f"({'x'.join(map(str, probe.sample_shape))}), {len(self.class_names)} classes (streamed)")
        else:
            from cvtoolkit.data.folder import list_image_folder

            if args.label_pattern:
                from cvtoolkit.data.filename_labels import list_by_filename

                self.listing = list_by_filename(self.spec, args.label_pattern)
            else:
                self.listing = list_image_folder(self.spec)
            size = self.image_size or _model_size(args.model)
            self.image_size = (size, size)
            self.labels, self.class_names = self.listing.labels, self.listing.class_names
            self.sample_shape = (size, size, 3)
            self.echo(f"dataset {self.spec}: {len(self.labels)} image files, {len(self.class_names)} classes "
                  f"(streamed at {size}x{size})")

    def predict(self, model, indices, batch_size: int):
        """``(y_true, proba)`` of the model on these samples."""
        import numpy as np

        from cvtoolkit.train.estimator import scale_images

        if self.dataset is not None:
            part = self.dataset.subset(indices)
            return part.labels, model.predict(scale_images(part.images), batch_size=batch_size, verbose=0)
        if self.kind == "hdf5":
            from cvtoolkit.train.fit import make_training_data

            data = make_training_data(self.spec, batch_size=batch_size, image_size=self.image_size,
                                      shuffle=False, indices=indices)
            return data.labels, model.predict(data.x, verbose=0)
        from cvtoolkit.data.folder import load_images

        paths = [self.listing.paths[i] for i in indices]
        images, kept, _ = load_images(paths, image_size=self.image_size, progress=False, max_pixels=self.max_pixels)
        labels = self.listing.labels[np.asarray(indices)[kept]]
        return labels, model.predict(scale_images(images), batch_size=batch_size, verbose=0)


def _strategy(args: SimpleNamespace):
    """The tf.distribute strategy of the run (``None`` without --strategy); made before any TensorFlow work."""
    from cvtoolkit.train.distribute import DistributionError, make_strategy, split_cpu_into_logical_devices

    if args.strategy and not getattr(args, "verbose", False):
        logging.getLogger("tensorflow").setLevel(logging.WARNING)  # one INFO line per reduce otherwise
    if args.cpu_replicas is not None:
        if args.strategy != "mirrored":
            raise DistributionError(f"--cpu-replicas {args.cpu_replicas} splits the CPU for --strategy mirrored; "
                                    "add --strategy mirrored (or drop --cpu-replicas)")
        if args.cpu_replicas < 1:
            raise DistributionError(f"--cpu-replicas must be at least 1, got {args.cpu_replicas}")
        split_cpu_into_logical_devices(args.cpu_replicas)
    return make_strategy(args.strategy)


def _model_size(name: str) -> int:
    from cvtoolkit.nn import default_input_size

    return int(default_input_size(name)[0])


