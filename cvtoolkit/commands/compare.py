"""Run every method on one split of a dataset and print a leaderboard (the main job).

Classical rows are <features>+<classifier> (raw+knn, hog+linear_svm,
hsv_hist+random_forest, ...); CNN rows are model names (shallownet, lenet,
minivggnet, ...). Every row is fitted on the same seeded, stratified training
split and scored on the same test split.

examples:
  cvtoolkit compare                                   # embedded digits, default rows
  cvtoolkit compare --dataset datasets/animals --image-size 32 --out runs/animals
  cvtoolkit compare --dataset features.h5             # classifiers on stored features
  cvtoolkit compare --methods raw+knn,hog+linear_svm,shallownet --epochs 10
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from cvtoolkit.commands._common import (
    add_dataset_arguments,
    add_test_size_argument,
    default_image_size,
    fmt_number,
    max_pixels_from_args,
    print_dataset_summary,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser)
    parser.add_argument("--methods", default=None,
                        help="comma-separated rows (default: raw pixels with 4 classifiers, one row per "
                             "descriptor family, and shallownet); see --list-methods")
    parser.add_argument("--list-methods", action="store_true", help="list features, classifiers and CNNs, then exit")
    add_test_size_argument(parser, what="every method")
    parser.add_argument("--seed", type=int, default=42, help="seed of the split and of every model (default 42)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs for CNN rows (default: the model's)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size for CNN rows")
    parser.add_argument("--search", choices=["grid", "random"], default=None,
                        help="cross-validated hyper-parameter search of each classifier on the training split")
    parser.add_argument("--n-jobs", type=int, default=None, help="processes for descriptors/classifiers (default: all cores)")
    parser.add_argument("--cache-dir", default=None,
                        help="feature cache (default: $CVTOOLKIT_CACHE_DIR or ~/.cache/cvtoolkit/features)")
    parser.add_argument("--no-cache", action="store_true", help="compute features without the cache")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output folder (default: runs/compare-<dataset>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--dedupe", action="store_true",
                        help="drop test images with an exact or near duplicate in train (and exact duplicates "
                             "within train) before fitting; see 'cvtoolkit audit'")


def _list_methods() -> int:
    from cvtoolkit.classifiers import CLASSIFIERS
    from cvtoolkit.features import FEATURES
    from cvtoolkit.nn import MODELS

    print("features:    " + ", ".join(FEATURES))
    print("classifiers: " + ", ".join(CLASSIFIERS))
    print("CNNs:        " + ", ".join(MODELS))
    print("rows are <features>+<classifier> or a CNN name, e.g. hog+linear_svm,shallownet")
    return 0


def _print_leakage(info) -> None:
    from cvtoolkit.audit import leakage_line

    print(leakage_line(info), flush=True)


def run(args: argparse.Namespace) -> int:
    if args.list_methods:
        return _list_methods()
    from cvtoolkit.data import check_classification_data, load_dataset
    from cvtoolkit.methods import default_methods
    from cvtoolkit.methods.compare import run_compare

    started = time.perf_counter()
    progress = not args.quiet
    dataset = load_dataset(args.dataset, image_size=default_image_size(args.dataset, args.image_size),
                           label_pattern=args.label_pattern, max_pixels=max_pixels_from_args(args), progress=progress)
    print_dataset_summary(dataset)
    check_classification_data(dataset, min_per_class=2)
    stored = (dataset.attrs.get("extractor") or "features") if dataset.kind == "features" else None
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else default_methods(
        stored_features=stored)
    name = Path(str(args.dataset).rstrip("/\\")).stem or "dataset"
    out = Path(args.out) if args.out else Path("runs") / f"compare-{name}"
    cnn_options = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size}.items() if v is not None}
    cnn_options["verbose"] = 2 if progress else 0
    cache_dir = None
    if not args.no_cache:
        cache_dir = args.cache_dir or os.environ.get("CVTOOLKIT_CACHE_DIR") or os.path.join(
            os.path.expanduser("~"), ".cache", "cvtoolkit", "features")
    n_jobs = args.n_jobs or os.cpu_count() or 1
    print(f"methods ({len(methods)}): {', '.join(methods)}")
    from cvtoolkit.data.split import resolve_test_size

    test_size = resolve_test_size(dataset, args.test_size)
    print("split: the dataset's official test part" if test_size == "official"
          else f"split: stratified, test {test_size}, seed {args.seed}")

    def on_row(row):
        if row.get("error"):
            print(f"  {row['method']:<28} FAILED: {row['error']}", flush=True)
        else:
            print(f"  {row['method']:<28} accuracy {fmt_number(row['accuracy'])}  macro F1 {fmt_number(row['f1_macro'])}  "
                  f"fit {row['fit_seconds']:.2f}s", flush=True)

    result = run_compare(
        dataset, methods, test_size=test_size, seed=args.seed, out_dir=out,
        cnn_options=cnn_options, search=args.search, cache_dir=cache_dir, n_jobs=n_jobs,
        progress=progress, on_row=on_row, dedupe=args.dedupe, on_leakage=_print_leakage,
    )
    print()
    print(result.board.to_text())
    print(f"({result.settings['train_samples']} train, {result.settings['test_samples']} test samples)")
    print()
    for key in ("leaderboard.json", "leaderboard.csv", "report.md", "report.html"):
        if key in result.files:
            print(f"wrote {result.files[key]}")
    n_png = sum(1 for k in result.files if k.startswith("confusion:"))
    print(f"wrote {n_png} confusion matrices in {out}")
    if dataset.skipped:
        print(f"skipped {len(dataset.skipped)} file(s) (see warnings above)")
    print(f"total wall time {time.perf_counter() - started:.1f}s")
    if result.failed:
        print(f"{len(result.failed)} method(s) failed: {', '.join(r['method'] for r in result.failed)}", file=sys.stderr)
        return 1
    return 0

