"""Train a Keras CNN from arrays, a folder or an HDF5 store, with monitoring, checkpoints and resume.

A stratified test split (--test-size, seeded) is held out and scored at the
end; a validation split of the rest (--val-size) drives the best-model
checkpoint and early stopping. Beside --out (models/NAME.keras) it writes
NAME.json (class names, settings: KerasImageClassifier.load reads it),
NAME.history.json, NAME.history.csv and NAME.history.png (updated every epoch),
NAME.best.keras, and NAME.last.keras + NAME.last.json (for --resume).

Folders are loaded into memory at --image-size unless --stream is given
(decoded batch by batch in worker threads); .h5 stores are always streamed.

--strategy trains data-parallel with tf.distribute (TensorFlow backend):
--batch-size is then per replica and each step sees batch size x replicas.
In a multi-worker run every machine runs the same command (TF_CONFIG says
which one it is); only the chief writes --out and its companions, the other
workers write theirs to a temporary folder (and resume from the chief's
NAME.last.keras, so --out must be on a shared file system).

examples:
  cvtoolkit train --dataset datasets/animals --model shallownet --epochs 10 --out models/shallownet.keras
  cvtoolkit train --dataset datasets/animals --model minivggnet --augment --epochs 40 \\
      --schedule one_cycle --lr 0.01 --optimizer sgd --out models/minivggnet.keras
  cvtoolkit train --dataset out/animals.h5 --model minivggnet --class-weight auto --out models/vgg.keras
  cvtoolkit train --dataset datasets/animals --model shallownet --lr-find --out models/s.keras
  cvtoolkit train ... --resume          # continue an interrupted run from NAME.last.keras
  cvtoolkit train ... --tensorboard tb/ --track mlflow   # then: tensorboard --logdir tb/ ; mlflow ui
  cvtoolkit train --dataset datasets/animals --model minivggnet --strategy mirrored --out models/vgg.keras
  TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}' \\
      cvtoolkit train --dataset datasets/animals --model minivggnet --strategy multiworker --out shared/vgg.keras
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import math
import shutil
import tempfile
import time
from pathlib import Path

from cvtoolkit.commands._common import add_max_pixels_argument, max_pixels_from_args
from cvtoolkit.errors import DatasetError


SCHEDULE_NAMES = ("constant", "step", "polynomial", "one_cycle", "cosine")
"""Same as ``cvtoolkit.train.schedules.SCHEDULES``, spelled out so ``--help`` needs no Keras import."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True,
                        help="a class-per-folder directory, an .h5 store (streamed), 'digits', a Keras dataset "
                             "name, an .npz or a pixel CSV")
    add_max_pixels_argument(parser)
    parser.add_argument("--model", required=True, metavar="NAME",
                        help="network name from cvtoolkit.nn (shallownet, lenet, minivggnet, alexnet, "
                             "minigooglenet, resnet)")
    parser.add_argument("--out", default=None, metavar="PATH.keras",
                        help="where to write the trained model (default: models/NAME.keras)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: the model's recommended count, e.g. shallownet 10, "
                             "minivggnet 30; 20 otherwise)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step (default 32)")
    parser.add_argument("--image-size", type=int, default=None, metavar="N",
                        help="resize images to NxN (default: the model's own input size for folders, "
                             "the stored size otherwise)")
    parser.add_argument("--label-pattern", default=None, metavar="REGEX",
                        help="labels from file names in a flat folder (first regex group)")
    parser.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd", "rmsprop"],
                        help="optimizer (default adam; sgd uses Nesterov momentum 0.9)")
    parser.add_argument("--lr", type=float, default=None,
                        help="peak learning rate (default: 1e-3 for adam/adamw/rmsprop, 0.05 for sgd)")
    parser.add_argument("--schedule", default="cosine", choices=list(SCHEDULE_NAMES),
                        help="learning-rate schedule over the run (default cosine with warm-up)")
    parser.add_argument("--lr-find", action="store_true",
                        help="sweep the learning rate first (plot NAME.lr_find.png); use the suggestion unless --lr")
    parser.add_argument("--augment", action="store_true",
                        help="random horizontal flips and shifts (up to 10%%) while training")
    parser.add_argument("--class-weight", choices=["auto"], default=None,
                        help="'auto': weight classes by inverse frequency (imbalanced data)")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="mixed precision: float16 on GPUs, bfloat16 on CPUs (helps only where the "
                             "hardware has fast 16-bit maths)")
    parser.add_argument("--test-size", type=float, default=0.25,
                        help="held-out fraction scored at the end (default 0.25; 0: no test)")
    parser.add_argument("--val-size", type=float, default=0.1,
                        help="fraction of the training part used for validation, best checkpoint and "
                             "early stopping (default 0.1; 0: none)")
    parser.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE",
                        help="stop after PATIENCE epochs without a better validation loss")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from NAME.last.keras (weights, optimizer and "
                             "schedule state); pass the same --epochs as the first run")
    parser.add_argument("--stream", action="store_true",
                        help="stream a folder batch by batch instead of loading it into memory")
    parser.add_argument("--workers", type=int, default=None, help="decoding threads when streaming")
    parser.add_argument("--strategy", choices=["mirrored", "multiworker"], default=None,
                        help="data-parallel training with tf.distribute (TensorFlow backend): 'mirrored' uses all "
                             "GPUs of this machine, 'multiworker' several machines configured by TF_CONFIG; "
                             "--batch-size is then per replica")
    parser.add_argument("--cpu-replicas", type=int, default=None, metavar="N",
                        help="with --strategy mirrored and no GPU: split the CPU into N logical devices and "
                             "mirror over them (to try distributed training or test it; no speed-up)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the splits and the training (default 42)")
    parser.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
    parser.add_argument("--tensorboard", default=None, metavar="DIR",
                        help="write TensorBoard logs to DIR (Keras's TensorBoard callback; view: tensorboard --logdir DIR)")
    from cvtoolkit.tracking import TRACK_HELP, track_arg

    parser.add_argument("--track", type=track_arg, default=None, metavar="mlflow[:URI]", help=TRACK_HELP)


def _paths(out: Path) -> dict[str, Path]:
    stem = out.with_suffix("")
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

    def __init__(self, args: argparse.Namespace):
        from cvtoolkit.data import describe_spec

        self.spec = args.dataset
        self.kind = describe_spec(self.spec)
        self.stream = self.kind == "hdf5" or (args.stream and self.kind == "folder")
        self.dataset = None
        self.image_size = args.image_size
        self.max_pixels = max_pixels_from_args(args)
        if self.stream:
            self._init_stream(args)
        else:
            self._init_memory(args)

    def _init_memory(self, args: argparse.Namespace) -> None:
        from cvtoolkit.commands._common import print_dataset_summary
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
        print_dataset_summary(ds)
        check_classification_data(ds, min_per_class=2)
        self.dataset = ds
        self.labels = ds.labels
        self.class_names = ds.class_names
        self.sample_shape = tuple(ds.images.shape[1:])

    def _init_stream(self, args: argparse.Namespace) -> None:
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
            print(f"dataset {self.spec}: {len(self.labels)} images "
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
            print(f"dataset {self.spec}: {len(self.labels)} image files, {len(self.class_names)} classes "
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


def _strategy(args: argparse.Namespace):
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


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from cvtoolkit.data.split import stratified_split
    from cvtoolkit.train import fit as train_fit
    from cvtoolkit.train.augmentation import (
        TRAINING_AUGMENTATION,
        make_augmentation,
        unwrap_augmentation,
        with_augmentation,
    )
    from cvtoolkit.train.callbacks import read_history
    from cvtoolkit.train.distribute import describe_strategy, distribution_scope, global_batch_size, is_chief
    from cvtoolkit.train.estimator import (
        DEFAULT_LEARNING_RATES,
        RECOMMENDED_EPOCHS,
        KerasImageClassifier,
        make_optimizer,
        sidecar_path,
    )
    from cvtoolkit.train.fit import make_training_data, resume_state, set_mixed_precision
    from cvtoolkit.train.schedules import make_schedule

    started = time.perf_counter()
    if args.epochs is None:
        args.epochs = RECOMMENDED_EPOCHS.get(args.model.lower(), 20)
    for name, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if value < 1:
            raise DatasetError(f"{name} must be at least 1, got {value}")
    out = Path(args.out or f"models/{args.model}.keras")
    if out.suffix != ".keras":
        raise DatasetError(f"--out {out}: a Keras model file must end in .keras (e.g. {out.with_suffix('.keras')})")
    files = _paths(out)

    from cvtoolkit.tracking import make_tracker

    tracker = make_tracker(args.track)  # MLflow missing: one line now, not after training
    strategy = _strategy(args)
    batch = global_batch_size(args.batch_size, strategy)
    resume_from, worker_dir = files["last"], None
    if strategy is not None and not is_chief():
        # Another worker of a multi-worker run: train in step with the chief, write elsewhere.
        worker_dir = Path(tempfile.mkdtemp(prefix="cvtoolkit-worker-"))
        atexit.register(shutil.rmtree, worker_dir, True)
        out = worker_dir / out.name
        files = _paths(out)
        tracker = None  # the chief logs the run
        if args.tensorboard:
            args.tensorboard = str(worker_dir / "tensorboard")
    if strategy is not None:
        print(f"distribution: {describe_strategy(strategy)}; global batch {batch} ({args.batch_size} per replica)"
              + (f"; this worker writes to {worker_dir}" if worker_dir else ""))

    policy = set_mixed_precision(args.mixed_precision)
    import keras

    keras.utils.set_random_seed(args.seed)
    source = _Source(args)
    labels = np.asarray(source.labels)
    n_classes = len(source.class_names)
    if n_classes < 2:
        raise DatasetError(f"{args.dataset}: {n_classes} class; training needs at least 2")
    if args.test_size:
        train_idx, test_idx = stratified_split(labels, test_size=args.test_size, seed=args.seed,
                                               class_names=source.class_names)
    else:
        train_idx, test_idx = np.arange(len(labels)), None
    if args.val_size:
        tr, va = stratified_split(labels[train_idx], test_size=args.val_size, seed=args.seed,
                                  class_names=source.class_names)
        fit_idx, val_idx = train_idx[tr], train_idx[va]
    else:
        fit_idx, val_idx = train_idx, None
    print(f"split: {len(fit_idx)} train, {0 if val_idx is None else len(val_idx)} validation, "
          f"{0 if test_idx is None else len(test_idx)} test (seed {args.seed})")

    def data_for(indices, shuffle):
        if indices is None:
            return None
        if source.dataset is not None:
            ds = source.dataset.subset(indices)
            return (ds.images, ds.labels)
        target = source.listing if source.kind == "folder" else source.spec
        return make_training_data(target, batch_size=batch, image_size=source.image_size,
                                  shuffle=shuffle, indices=indices, seed=args.seed, workers=args.workers,
                                  max_pixels=source.max_pixels)

    train_data = data_for(fit_idx, True)
    val_data = data_for(val_idx, False)

    input_shape = tuple(source.sample_shape)
    steps = math.ceil(len(fit_idx) / batch)
    initial_epoch, resume_best = 0, None
    compile_kw = dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    lr = args.lr
    if args.resume and resume_from.is_file():
        state = resume_state(resume_from, strategy=strategy)
        trainer, initial_epoch = state["model"], state["epoch"]
        resume_best = (state["best"], state["best_epoch"])
        net = unwrap_augmentation(trainer)
        print(f"resuming {resume_from} at epoch {initial_epoch + 1} of {args.epochs}")
        if initial_epoch >= args.epochs:
            print(f"already trained {initial_epoch} epochs; raise --epochs to train more")
    else:
        from cvtoolkit.nn import build_model

        def build():
            keras.utils.set_random_seed(args.seed)
            with distribution_scope(strategy):
                net = build_model(args.model, input_shape=input_shape, classes=n_classes)
                trainer = net
                if args.augment:
                    trainer = with_augmentation(net, make_augmentation(**TRAINING_AUGMENTATION, seed=args.seed))
            return net, trainer

        net, trainer = build()
        if args.lr_find:
            from cvtoolkit.train import LRFinder

            with distribution_scope(strategy):
                trainer.compile(optimizer=make_optimizer(args.optimizer, 1e-3), **compile_kw)
                result = LRFinder(trainer).find(train_data, steps=min(200, max(50, 2 * steps)),
                                                batch_size=batch, seed=args.seed)
            result.plot(files["lr_find"])
            print(f"LR finder: suggested learning rate {result.suggested_lr:.3g} "
                  f"(minimum loss at {result.min_loss_lr:.3g}); plot {files['lr_find']}")
            if lr is None:
                lr = result.suggested_lr
            net, trainer = build()
        if lr is None:
            lr = DEFAULT_LEARNING_RATES[args.optimizer]
        schedule = make_schedule(args.schedule, lr, epochs=args.epochs, steps_per_epoch=steps)
        with distribution_scope(strategy):
            trainer.compile(optimizer=make_optimizer(args.optimizer, schedule), **compile_kw)
        print(f"model {args.model}: {net.count_params():,} parameters, input {input_shape}, "
              f"{args.optimizer} lr {lr:.3g} ({args.schedule}), policy {policy}")

    files["csv"].parent.mkdir(parents=True, exist_ok=True)
    callbacks = [keras.callbacks.CSVLogger(str(files["csv"]), append=bool(initial_epoch))]
    if args.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=args.tensorboard))
    track_params = {"model": args.model, "dataset": args.dataset, "epochs": args.epochs, "batch_size": args.batch_size,
                    "optimizer": args.optimizer, "learning_rate": lr, "schedule": args.schedule, "augment": args.augment,
                    "class_weight": args.class_weight, "test_size": args.test_size, "val_size": args.val_size,
                    "seed": args.seed, "image_size": "x".join(map(str, input_shape[:2])), "initial_epoch": initial_epoch}
    with (tracker.training_run(f"train {out.stem}", params=track_params) if tracker
          else contextlib.nullcontext([])) as track_callbacks:
        history = train_fit(
            trainer, train_data, validation_data=val_data, epochs=args.epochs, batch_size=args.batch_size,
            class_weight=args.class_weight, checkpoint=files["best"] if val_idx is not None else None,
            last_checkpoint=files["last"], save_model=net, early_stopping=args.early_stopping,
            history_path=files["history"], plot_path=files["plot"], initial_epoch=initial_epoch,
            resume_best=resume_best, seed=args.seed, workers=args.workers, strategy=strategy,
            verbose=2 if args.quiet else "auto", callbacks=callbacks + track_callbacks,
        )

    if val_idx is not None and files["best"].is_file() and not args.early_stopping:
        best = keras.models.load_model(files["best"], compile=False)
        net.set_weights(best.get_weights())
        print(f"final weights: best validation epoch ({files['best']})")

    clf = KerasImageClassifier(model=args.model, epochs=args.epochs, batch_size=args.batch_size, learning_rate=lr,
                               optimizer=args.optimizer, schedule=args.schedule, augment=args.augment,
                               class_weight=args.class_weight, seed=args.seed)
    clf.classes_ = np.arange(n_classes)
    clf.model_ = net
    clf.history_ = read_history(files["history"]) or {k: [float(v) for v in vs] for k, vs in history.history.items()}
    clf.input_shape_ = input_shape
    clf.save(out, class_names=source.class_names,
             extra={"dataset": str(args.dataset), "image_size": list(input_shape[:2]), "dtype_policy": policy,
                    "strategy": args.strategy, "replicas": 1 if strategy is None else strategy.num_replicas_in_sync})
    print(f"saved {out} (+ {files['history'].name}, {files['csv'].name}, {files['plot'].name})")

    report = None
    if test_idx is not None:
        y_true, proba = source.predict(net, test_idx, max(64, args.batch_size))
        try:
            from cvtoolkit.evaluate import ClassificationReport

            report = ClassificationReport.from_predictions(y_true, np.asarray(proba, np.float64), source.class_names,
                                                           method=args.model)
            print(report.to_text())
        except ImportError:
            acc = float((np.argmax(proba, axis=1) == y_true).mean())
            print(f"{args.model}: test accuracy {acc:.4f} on {len(y_true)} images")
    if tracker is not None:
        test_metrics = {f"test_{k}": v for k, v in report.metrics.items()} if report is not None else {}
        print(tracker.finish_training(out, sidecar_path(out), files["history"], files["csv"], files["plot"],
                                      metrics=test_metrics))
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0
