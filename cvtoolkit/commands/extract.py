"""Extract descriptor features from a dataset into an HDF5 feature store.

The store holds the features, labels, class names, file paths and the
extractor's name and parameters; `cvtoolkit compare --dataset F.h5` then
trains classifiers on it without touching the images again. A
class-per-folder dataset is streamed: decoded, described and written chunk
by chunk in bounded memory. Several descriptors (a comma list) are
concatenated side by side, like a scikit-learn FeatureUnion.

A run that is interrupted (Ctrl-C, a crash, SIGKILL) leaves OUT.partial;
the same command run again continues it without describing the finished
chunks again (--no-resume starts over). --scheduler sends the chunks to a
Dask cluster (local:N starts one on this machine); the store is the same.

examples:
  cvtoolkit extract --dataset ../shared/data/animals --features hsv_hist,hog,lbp --out animals.h5
  cvtoolkit extract --dataset datasets/flowers17 --features combined --image-size 128 --n-jobs 2 --out f17.h5
  cvtoolkit extract --dataset digits --features hog --set size=32 --set pixels_per_cell=4 --out digits-hog.h5
  cvtoolkit extract --dataset datasets/dogs --features mobilenet --alpha 0.25 --weights w.h5 --out dogs.h5
  cvtoolkit extract --dataset /data/animals --features hog,lbp --scheduler local:2 --out animals.h5
  cvtoolkit extract --dataset /shared/animals --features hog --scheduler tcp://10.0.0.5:8786 --out animals.h5
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from cvtoolkit.commands._common import (
    add_max_pixels_argument,
    max_pixels_from_args,
    positive_int,
    print_skipped,
    seed_arg,
)
from cvtoolkit.errors import CvToolkitError, ExtractArgumentError  # noqa: F401  (defined in cvtoolkit.errors)
from cvtoolkit.features.options import (  # noqa: F401  (the library side; these names stay importable from here)
    build_extractor,
    check_options,
    make_extractor,
    option_names,
    parse_options,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default=None,
                        help="a class-per-folder directory (streamed), an .h5 image store, 'digits', a Keras "
                             "dataset name, an .npz or a pixel CSV")
    parser.add_argument("--features", default=None, metavar="NAMES",
                        help="descriptor name, or a comma list concatenated side by side (e.g. hsv_hist,hog,lbp); "
                             "see --list-features")
    parser.add_argument("--out", default=None, metavar="FILE.h5", help="feature store to write")
    parser.add_argument("--image-size", type=positive_int, default=None, metavar="N",
                        help="resize images to NxN when loading (default: native size; descriptors with a fixed "
                             "grid, such as hog and raw, resize to their own size anyway)")
    parser.add_argument("--n-jobs", type=int, default=1, metavar="K",
                        help="processes decoding and describing whole chunks, this one included (default 1; "
                             "-1: all cores); the output does not depend on it")
    parser.add_argument("--batch-size", type=int, default=128, metavar="B", help="images per chunk (default 128)")
    parser.add_argument("--max-images", type=int, default=None, metavar="M",
                        help="describe a seeded random subset of M images (quick runs)")
    parser.add_argument("--seed", type=seed_arg, default=42, help="seed of --max-images and of fitting samples (default 42)")
    parser.add_argument("--alpha", type=float, default=None, help="width multiplier of a MobileNet backbone")
    parser.add_argument("--weights", default=None, metavar="PATH",
                        help="weights file of a CNN backbone (instead of downloading ImageNet weights)")
    parser.add_argument("--flip-average", action=argparse.BooleanOptionalAction, default=None,
                        help="CNN backbones: average each image's features with its mirror's (twice the forward "
                             "passes; see docs/design.md for the measured cost and gain; default: the backbone's)")
    parser.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="descriptor option, given to every descriptor that takes it (repeatable), e.g. "
                             "--set size=96 --set orientations=12")
    parser.add_argument("--scheduler", default=None, metavar="SPEC",
                        help="describe the chunks on a Dask cluster: local:N (N worker processes started for this "
                             "run) or the address of a running scheduler, tcp://HOST:PORT (workers must see the "
                             "image files at the same absolute paths); replaces --n-jobs; same output")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue OUT.partial left by an interrupted run with the same settings, without "
                             "describing its finished chunks again (default); --no-resume starts over")
    parser.add_argument("--label-pattern", default=None, metavar="REGEX",
                        help="labels from file names in a flat folder (first group of this regular expression)")
    add_max_pixels_argument(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out even if it is not a cvtoolkit store (default: refuse)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--list-features", action="store_true", help="list the descriptor names, then exit")


def _list_features() -> int:
    from cvtoolkit.features import FEATURES, describe_features

    for name in FEATURES:
        try:
            print("  " + describe_features(name))
        except CvToolkitError as err:
            print(f"  {name}: unavailable ({err})")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list_features:
        return _list_features()
    missing = [f"--{k}" for k in ("dataset", "features", "out") if not getattr(args, k)]
    if missing:
        raise ExtractArgumentError(f"missing {', '.join(missing)}; e.g. cvtoolkit extract --dataset "
                                   "datasets/animals --features hog,lbp --out animals.h5")
    from cvtoolkit.io.lock import output_lock
    from cvtoolkit.io.outputs import check_output_location, is_store_file

    check_output_location(args.out, kind="file", overwrite=args.overwrite, ours=is_store_file,
                          what="an .h5 store")
    with output_lock(args.out):  # before any work: a second run on the same --out stops here
        return _run_locked(args)


def _run_locked(args: argparse.Namespace) -> int:
    from cvtoolkit.parallel import start_workers, stop_workers

    if args.scheduler is None:
        start_workers(args.n_jobs)  # the workers import beside this process's imports below
    from cvtoolkit.features.extraction import extract_to_store

    names = [n.strip() for n in str(args.features).split(",") if n.strip()]
    if args.batch_size < 1:
        raise ExtractArgumentError(f"--batch-size must be at least 1; got {args.batch_size}")
    options = {k: v for k, v in {"alpha": args.alpha, "weights": args.weights,
                                 "image_size": args.image_size,
                                 "flip_average": args.flip_average}.items() if v is not None}
    transformer = make_extractor(names, options, args.options)

    source: Any = args.dataset
    if args.label_pattern:
        from cvtoolkit.data import list_by_filename

        source = list_by_filename(args.dataset, args.label_pattern)
    started = time.perf_counter()
    print(f"extracting {'+'.join(names)} from {args.dataset} -> {args.out}", flush=True)
    try:
        summary = extract_to_store(
            transformer, source, args.out, image_size=args.image_size, batch_size=args.batch_size,
            n_jobs=args.n_jobs, max_images=args.max_images, seed=args.seed, extractor="+".join(names),
            progress=not args.quiet and sys.stderr.isatty(), resume=args.resume, scheduler=args.scheduler,
            max_pixels=max_pixels_from_args(args),
        )
    finally:
        stop_workers()
    print(f"wrote {summary.path}: {summary.n_rows} samples x {summary.n_features} features "
          f"({'+'.join(names)}), {len(summary.class_names)} classes")
    shown = ", ".join(f"{k} {v}" for k, v in list(summary.class_counts.items())[:12])
    print(f"  per class: {shown}{' ...' if len(summary.class_counts) > 12 else ''}")
    where = (f"{summary.n_jobs} Dask worker(s) ({summary.scheduler})" if summary.scheduler
             else f"{summary.n_jobs} process(es)")
    print(f"  image size: {'native' if args.image_size is None else f'{args.image_size}x{args.image_size}'}; "
          f"{where}; {summary.seconds:.1f}s, {summary.images_per_second:.1f} images/s")
    if summary.resumed_rows:
        print(f"  resumed {args.out}.partial: {summary.resumed_rows} rows were already written by an "
              "interrupted run")
    if summary.skipped:
        print_skipped(summary.skipped, f"  skipped {len(summary.skipped)} unreadable file(s):")
    print(f"total wall time {time.perf_counter() - started:.1f}s")
    return 0
