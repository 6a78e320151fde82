"""Plumbing shared by the task apps in this folder (not an app itself).

Every app is a thin command-line layer over :mod:`cvtoolkit`: it builds an
``argparse`` parser from its module docstring (:func:`make_parser`) and hands
it, with its ``run(args) -> int`` function, to :func:`run_app`, which turns a
:class:`cvtoolkit.errors.CvToolkitError` into one line on stderr and exit
status 2, exactly as the ``cvtoolkit`` command does.

The remaining helpers are the argument groups and the few lines of glue the
image apps share (load a dataset, split it, train a named CNN, print a
report), so no app copies them.

Importing this module also makes the apps runnable from a source checkout
that was not installed with ``pip install -e .``: when ``cvtoolkit`` cannot
be imported, the repository root is put on ``sys.path``.

Examples
--------
An app's skeleton::

    import sys
    from pathlib import Path
    from _cli import make_parser, run_app

    def build_parser():
        parser = make_parser(__doc__, Path(__file__).name)
        parser.add_argument("--dataset", required=True)
        return parser

    def run(args) -> int:
        ...
        return 0

    def main(argv=None) -> int:
        return run_app(build_parser(), run, argv)

    if __name__ == "__main__":
        sys.exit(main())
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

APPS_DIR = Path(__file__).resolve().parent
REPO_ROOT = APPS_DIR.parent

# TensorFlow's C++ start-up chatter is not for the user (set before Keras loads).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

if importlib.util.find_spec("cvtoolkit") is None and (REPO_ROOT / "cvtoolkit").is_dir():
    sys.path.insert(0, str(REPO_ROOT))

from cvtoolkit.errors import CvToolkitError, DatasetError  # noqa: E402
from cvtoolkit.commands._common import add_test_size_argument, positive_int  # noqa: E402
from cvtoolkit.methods.build import full_proba  # noqa: E402,F401  (the apps import it from here)


# --------------------------------------------------------------------------- parser and errors
def make_parser(doc: str | None, prog: str) -> argparse.ArgumentParser:
    """A parser whose description is the app's docstring (examples included), with ``-v``."""
    parser = argparse.ArgumentParser(
        prog=prog, description=(doc or prog).strip(), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show the library's log messages")
    return parser


def run_app(
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], int | None],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse ``argv`` and call ``run(args)``; returns the exit status.

    ``--help`` returns 0 and a bad argument 2 (argparse's codes, returned
    rather than raised, so ``main(argv)`` always returns an int). A
    :class:`~cvtoolkit.errors.CvToolkitError` prints ``PROG: error: MESSAGE``
    on stderr and returns 2; Ctrl-C returns 130.
    """
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as stop:  # --help, --version or a usage error
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    # Apps print their own progress; the library's INFO lines only with -v.
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(run(args) or 0)
    except CvToolkitError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


# --------------------------------------------------------------------------- argument groups
def add_dataset_args(
    parser: argparse.ArgumentParser,
    *,
    default: str | None = None,
    image_size: int | None = 32,
    example: str = "../shared/data/animals",
    image_size_help: str | None = None,
) -> None:
    """``--dataset``, ``--image-size``, ``--label-pattern``, ``--test-size``, ``--seed``, ``--quiet``."""
    parser.add_argument(
        "--dataset", default=default, required=default is None, metavar="SPEC",
        help="a class-per-folder directory (e.g. " + example + "), an .h5 store, a Keras-layout .npz, "
             "a Keras dataset name (mnist, cifar10, ...) or a pixel CSV"
             + (f" (default: {default})" if default else ""),
    )
    parser.add_argument(
        "--image-size", type=positive_int, default=image_size, metavar="N",
        help="resize images to NxN (default: "
             + (image_size_help or (str(image_size) if image_size else "native size")) + ")",
    )
    parser.add_argument(
        "--label-pattern", default=None, metavar="REGEX",
        help="labels from file names in a flat folder: the first group of this regular expression, "
             "e.g. '^(cat|dog)\\.'",
    )
    add_test_size_argument(parser)
    parser.add_argument("--seed", type=int, default=42, help="seed of the split and of the model (default 42)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")


def add_cnn_args(parser: argparse.ArgumentParser, *, epochs: int, batch_size: int = 32,
                 augment_flag: bool = True) -> None:
    """Training options of the CNN apps, and ``--out``/``--plot``."""
    optimizers = ("adam", "sgd", "adamw", "rmsprop")  # cvtoolkit.train.estimator.OPTIMIZERS, without importing it
    parser.add_argument("--epochs", type=int, default=epochs, help=f"passes over the training data (default {epochs})")
    parser.add_argument("--batch-size", type=int, default=batch_size, help=f"images per step (default {batch_size})")
    parser.add_argument("--lr", type=float, default=None,
                        help="peak learning rate (default: 1e-3 for Adam, 0.05 for SGD)")
    parser.add_argument("--optimizer", choices=optimizers, default="adam", help="optimizer (default adam)")
    parser.add_argument("--schedule", default="cosine",
                        help="learning-rate schedule: cosine (warm-up + cosine, default), one_cycle, step, "
                             "polynomial or constant")
    if augment_flag:
        parser.add_argument("--augment", action="store_true", help="random flips, zooms and shifts while training")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="save the trained model as a pipeline folder (cvtoolkit predict --model DIR loads it)")
    parser.add_argument("--plot", default=None, metavar="PNG", help="save the loss/accuracy curves here")


# --------------------------------------------------------------------------- data
def load_app_dataset(args: argparse.Namespace, *, image_size: int | None = None, grey: bool = False):
    """Load ``args.dataset`` (resized to ``image_size``), print its summary; grey to one channel if asked."""
    from cvtoolkit.commands._common import print_dataset_summary
    from cvtoolkit.data import check_classification_data, load_dataset

    size = args.image_size if image_size is None else image_size
    dataset = load_dataset(args.dataset, image_size=size, label_pattern=args.label_pattern,
                           progress=not args.quiet)
    if dataset.kind != "images":
        raise DatasetError(f"{args.dataset} holds {dataset.kind}, not images; this app needs images "
                           "(train_on_features.py takes feature stores).")
    if getattr(dataset.images, "dtype", None) == object:
        raise DatasetError(f"{args.dataset}: the images have different sizes; pass --image-size N.")
    if grey:
        from cvtoolkit.imageops import to_gray

        dataset.images = to_gray(dataset.images, keepdims=True)
    print_dataset_summary(dataset)
    check_classification_data(dataset, min_per_class=2)
    return dataset


def split_app_dataset(dataset, test_size: float | int | str | None, seed: int):
    """``(train, test)`` by :func:`cvtoolkit.data.split_dataset` (None: ``"auto"``, the official split
    when the dataset has one, as mnist.npz and cifar10 do, else a seeded stratified split), printed."""
    from cvtoolkit.data.split import resolve_test_size, split_dataset

    test_size = resolve_test_size(dataset, "auto" if test_size is None else test_size)
    train, test = split_dataset(dataset, test_size=test_size, seed=seed)
    how = "official split" if test_size == "official" else f"stratified split (seed {seed})"
    print(f"{how}: {len(train)} train, {len(test)} test")
    return train, test


def subsample(dataset, n: int | None, seed: int):
    """A seeded random subset of ``n`` samples (kept in order), or the dataset itself."""
    import numpy as np

    if n is None or n >= len(dataset):
        return dataset
    if n < 1:
        raise DatasetError(f"--max-train must be at least 1, got {n}")
    idx = np.sort(np.random.default_rng(seed).choice(len(dataset), size=n, replace=False))
    return dataset.subset(idx)


# --------------------------------------------------------------------------- models and reports
def print_report(y_true, proba, class_names, method: str, *, seconds: float | None = None):
    """Print (and return) the :class:`cvtoolkit.evaluate.ClassificationReport` of one method."""
    from cvtoolkit.evaluate import ClassificationReport

    report = ClassificationReport.from_predictions(y_true, proba, class_names, method=method)
    print()
    print(report.to_text(), end="")
    if seconds is not None:
        print(f"  ({seconds:.1f}s)")
    return report


def fit_cnn(model: str, train, test, args: argparse.Namespace, *, model_kwargs: dict | None = None,
            class_weight: str | None = None):
    """Train ``model`` (a :mod:`cvtoolkit.nn` name) on ``train``, report on ``test``, save if asked.

    The test split is passed as validation data, so every epoch line shows
    ``val_accuracy`` (it is not used to pick a model).

    Returns
    -------
    (KerasImageClassifier, ClassificationReport)
    """
    import time

    from cvtoolkit.train import KerasImageClassifier

    if args.epochs < 1 or args.batch_size < 1:
        raise DatasetError(f"--epochs and --batch-size must be at least 1 (got {args.epochs}, {args.batch_size})")
    clf = KerasImageClassifier(
        model=model, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
        optimizer=args.optimizer, schedule=args.schedule, augment=bool(getattr(args, "augment", False)),
        class_weight=class_weight, seed=args.seed, verbose=0 if args.quiet else 2, model_kwargs=model_kwargs,
    )
    shape = "x".join(str(s) for s in train.image_shape)
    print(f"training {model} on {len(train)} images ({shape}) for {args.epochs} epoch(s)")
    started = time.perf_counter()
    try:
        clf.fit(train.images, train.labels, validation_data=(test.images, test.labels))
    except ValueError as err:  # bad schedule name and the like: the user's to fix
        if isinstance(err, CvToolkitError):
            raise
        raise DatasetError(f"cannot train {model}: {err}") from err
    proba = full_proba(clf.predict_proba(test.images), clf.classes_, len(train.class_names))
    report = print_report(test.labels, proba, train.class_names, model, seconds=time.perf_counter() - started)
    if args.plot:
        from cvtoolkit.train.callbacks.training_monitor import plot_history

        plot_history(clf.history_, args.plot, title=f"{model} on {train.source}")
        print(f"saved training curves to {args.plot}")
    if args.out:
        save_app_pipeline(clf, args.out, method=model, dataset=train, report=report)
    return clf, report


def save_app_pipeline(estimator: Any, out: str, *, method: str, dataset, report=None, kind: str | None = None,
                      extra: dict | None = None) -> None:
    """Save a fitted estimator as a :func:`cvtoolkit.methods.artifact.save_pipeline` folder."""
    from cvtoolkit.methods.artifact import save_pipeline

    images = dataset.kind == "images"
    extra = {"source": dataset.source, "train_samples": len(dataset), **(extra or {})}
    if report is not None:
        extra["test"] = {k: v for k, v in report.metrics.items() if v is not None}
    save_pipeline(
        estimator, out, method=method, class_names=dataset.class_names,
        image_size=int(dataset.images.shape[1]) if images else None,
        channels=int(dataset.images.shape[-1]) if images else None, kind=kind, extra=extra,
    )
    print(f"saved {method} pipeline to {out}")
