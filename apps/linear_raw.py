"""A linear classifier on raw pixels: softmax (multinomial logistic) regression trained by SGD.

Each image is resized to NxN and flattened; pixels are standardised and a
linear model W x + b is learned with stochastic gradient descent on the
log-loss (softmax scores, one per class) and L2 regularisation --alpha.
--classifier logreg fits the same model with L-BFGS instead (exact, slower on
big data). The seeded, stratified test split is scored with accuracy, macro
F1 and a per-class table.

examples:
  python apps/linear_raw.py --dataset ../shared/data/animals
  python apps/linear_raw.py --dataset ../shared/data/animals --image-size 32 --alpha 0.01 --epochs 50
  python apps/linear_raw.py --dataset ../shared/data/animals --classifier logreg
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _cli import add_dataset_args, full_proba, load_app_dataset, make_parser, print_report, run_app, split_app_dataset

from cvtoolkit.errors import DatasetError


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__, Path(__file__).name)
    add_dataset_args(parser, image_size=32)
    parser.add_argument("--classifier", choices=["sgd", "logreg"], default="sgd",
                        help="sgd: softmax regression by SGD (default); logreg: the same model by L-BFGS")
    parser.add_argument("--loss", choices=["log_loss", "hinge", "modified_huber"], default="log_loss",
                        help="SGD loss: log_loss is softmax regression (default), hinge a linear SVM")
    parser.add_argument("--alpha", type=float, default=1e-3,
                        help="SGD L2 regularisation strength (default 1e-3)")
    parser.add_argument("--epochs", type=int, default=100, help="most SGD passes over the data (default 100)")
    return parser


def make_sgd_classifier(*, loss: str, alpha: float, epochs: int, seed: int):
    """Standardise, then ``SGDClassifier`` (one linear score per class, early stopping off).

    Examples
    --------
    >>> [name for name, _ in make_sgd_classifier(loss="log_loss", alpha=1e-3, epochs=5, seed=0).steps]
    ['scale', 'clf']
    """
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    sgd = SGDClassifier(loss=loss, alpha=alpha, max_iter=epochs, tol=1e-4, learning_rate="optimal",
                        random_state=seed)
    return Pipeline([("scale", StandardScaler()), ("clf", sgd)])


def run(args: argparse.Namespace) -> int:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import Pipeline

    from cvtoolkit.features import make_features
    from cvtoolkit.methods import make_method

    if args.epochs < 1 or args.alpha <= 0:
        raise DatasetError(f"--epochs must be at least 1 and --alpha positive (got {args.epochs}, {args.alpha})")
    dataset = load_app_dataset(args)
    train, test = split_app_dataset(dataset, args.test_size, args.seed)
    size = args.image_size
    if args.classifier == "logreg":
        model = make_method("raw+logreg", feature_options={"size": size}, random_state=args.seed)
        title = f"raw pixels {size}x{size} + logistic regression (L-BFGS)"
    else:
        clf = make_sgd_classifier(loss=args.loss, alpha=args.alpha, epochs=args.epochs, seed=args.seed)
        model = Pipeline([("features", make_features("raw", size=size)), ("classifier", clf)])
        title = f"raw pixels {size}x{size} + SGD ({args.loss}, alpha {args.alpha:g})"
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(train.images, train.labels)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        print("note: the optimiser stopped before converging; try more --epochs or a larger --alpha")
    if args.loss == "hinge" and args.classifier == "sgd":
        import numpy as np

        scores = model.decision_function(test.images)
        scores = scores[:, None] * np.array([-1, 1]) if scores.ndim == 1 else scores
        proba = np.exp(scores - scores.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)  # a hinge model has no probabilities: softmax of its scores
    else:
        proba = model.predict_proba(test.images)
    proba = full_proba(proba, model.classes_, dataset.n_classes)
    print_report(test.labels, proba, dataset.class_names, title, seconds=time.perf_counter() - started)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_app(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
