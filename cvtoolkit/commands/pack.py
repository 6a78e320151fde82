"""Pack a dataset's images, resized to one size, into one HDF5 store (images.h5).

The store holds the images (uint8 RGB), labels, class names and source paths,
and is written atomically: an interrupted run leaves no file at --out. Files
that cannot be decoded are skipped and listed. Use the store anywhere a
dataset is expected (--dataset images.h5), or stream it to Keras with
cvtoolkit.io.HDF5Batches.

examples:
  cvtoolkit pack --dataset datasets/animals --image-size 32 --out runs/animals32.h5
  cvtoolkit pack --dataset datasets/train --label-pattern '^(cat|dog)\\.' --image-size 64 --out dogs_vs_cats64.h5
  cvtoolkit pack --dataset mnist.npz --out mnist.h5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cvtoolkit.commands._common import add_max_pixels_argument, max_pixels_from_args

MAX_SKIPPED_LISTED = 10
"""Skipped files named in the summary (the rest are counted)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", required=True,
        help="a class-per-folder directory, a Keras-layout .npz, a pixel CSV, a Keras dataset "
             "name (mnist, cifar10, ...), 'digits', or another images store",
    )
    parser.add_argument(
        "--image-size", type=int, default=None, metavar="N",
        help="resize every image to NxN (required for folders of mixed sizes)",
    )
    parser.add_argument(
        "--label-pattern", default=None, metavar="REGEX",
        help="labels from file names in a flat folder, e.g. '^(cat|dog)\\.'",
    )
    add_max_pixels_argument(parser)
    parser.add_argument("--out", required=True, metavar="FILE.h5", help="the store to write")
    parser.add_argument(
        "--chunk-rows", type=int, default=1024, metavar="N",
        help="rows written per chunk (default 1024)",
    )
    parser.add_argument(
        "--compression", choices=["gzip", "lzf"], default=None,
        help="compress the images in the store (smaller, slower; default off)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _size(n_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return ""  # pragma: no cover


def run(args: argparse.Namespace) -> int:
    from cvtoolkit.data import load_dataset
    from cvtoolkit.errors import DatasetError
    from cvtoolkit.io import write_store

    if args.image_size is not None and args.image_size < 1:
        raise DatasetError(f"--image-size must be a positive number of pixels, got {args.image_size}")
    if args.chunk_rows < 1:
        raise DatasetError(f"--chunk-rows must be at least 1, got {args.chunk_rows}")
    progress = not args.quiet and sys.stderr.isatty()
    start = time.perf_counter()
    kw = {"label_pattern": args.label_pattern} if args.label_pattern else {}
    dataset = load_dataset(args.dataset, image_size=args.image_size, max_pixels=max_pixels_from_args(args),
                           progress=progress, **kw)
    if dataset.kind != "images":
        raise DatasetError(
            f"{args.dataset} holds {dataset.kind}, not images; pack stores images. "
            "Feature stores are made by `cvtoolkit extract`."
        )
    if len(dataset) == 0:
        raise DatasetError(f"{args.dataset}: no usable images found, nothing to pack")
    out = Path(args.out)
    replaced = out.exists()
    write_store(
        dataset,
        out,
        chunk_rows=args.chunk_rows,
        progress=progress,
        compression=args.compression,
    )
    elapsed = time.perf_counter() - start

    counts = dataset.class_counts()
    shape = "x".join(str(s) for s in dataset.image_shape)
    print(f"packed {len(dataset)} images ({shape} uint8) from {args.dataset}")
    print(f"classes ({dataset.n_classes}): " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    unlabelled = int((dataset.labels < 0).sum())
    if unlabelled:
        print(f"unlabelled: {unlabelled}")
    skipped = list(dataset.skipped)
    print(f"skipped files: {len(skipped)}")
    for item in skipped[:MAX_SKIPPED_LISTED]:
        print(f"  {item}")
    if len(skipped) > MAX_SKIPPED_LISTED:
        print(f"  ... and {len(skipped) - MAX_SKIPPED_LISTED} more")
    verb = "replaced" if replaced else "wrote"
    print(f"{verb} {out} ({_size(out.stat().st_size)}) in {elapsed:.1f}s")
    return 0
