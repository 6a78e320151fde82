"""k-nearest neighbours on raw pixels: the baseline every other method must beat.

Each image is resized to NxN and flattened (RGB, scaled to [0, 1]); k-NN with
raw Euclidean distances votes among the k closest training images. The data
are split (seeded, stratified), and the test part is scored with accuracy,
macro F1 and a per-class table.

examples:
  python apps/knn_raw.py --dataset ../shared/data/animals
  python apps/knn_raw.py --dataset ../shared/data/animals --image-size 32 --neighbors 3 --jobs 2
  python apps/knn_raw.py --dataset datasets/pets --neighbors 1,3,5,7
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
    parser.add_argument("--neighbors", "-k", default="1", metavar="K[,K...]",
                        help="neighbours voting (default 1); a comma list scores each value on the same split")
    parser.add_argument("--jobs", type=int, default=-1,
                        help="parallel jobs for the distance queries (default -1: all cores)")
    return parser


def parse_neighbors(text: str) -> list[int]:
    """``"1,3,5"`` to ``[1, 3, 5]``.

    Examples
    --------
    >>> parse_neighbors("1, 3")
    [1, 3]
    """
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise DatasetError(f"--neighbors {text!r}: expected integers, e.g. 1 or 1,3,5") from None
    if not values or min(values) < 1:
        raise DatasetError(f"--neighbors {text!r}: every k must be at least 1")
    return values


def run(args: argparse.Namespace) -> int:
    from cvtoolkit.methods import make_method

    ks = parse_neighbors(args.neighbors)
    dataset = load_app_dataset(args)
    train, test = split_app_dataset(dataset, args.test_size, args.seed)
    if max(ks) > len(train):
        raise DatasetError(f"--neighbors {max(ks)} is more than the {len(train)} training images")
    scores = []
    for k in ks:
        started = time.perf_counter()
        model = make_method("raw+knn", feature_options={"size": args.image_size},
                            classifier_params={"n_neighbors": k}, random_state=args.seed)
        model.set_params(classifier__clf__n_jobs=args.jobs)  # parallel queries; pixels need no workers
        model.fit(train.images, train.labels)
        proba = full_proba(model.predict_proba(test.images), model.classes_, dataset.n_classes)
        report = print_report(test.labels, proba, dataset.class_names,
                              f"raw pixels {args.image_size}x{args.image_size} + {k}-NN",
                              seconds=time.perf_counter() - started)
        scores.append((k, report.metrics["accuracy"], report.metrics["f1_macro"]))
    if len(scores) > 1:
        print("\n   k  accuracy  F1 (macro)")
        for k, acc, f1 in scores:
            print(f"  {k:>2}  {acc:8.4f}  {f1:10.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_app(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
