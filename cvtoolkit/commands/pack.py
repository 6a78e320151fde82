"""Pack a dataset's images, resized to one size, into one HDF5 store (images.h5).

The store holds the images (uint8 RGB), labels, class names and source paths,
and is written atomically: an interrupted run leaves no file at --out. A
folder is streamed (--chunk-rows images decoded and written at a time), so
its size is not bounded by memory. Files that cannot be decoded are skipped
and listed. Use the store anywhere a dataset is expected (--dataset
images.h5), or stream it to Keras with cvtoolkit.train.HDF5Batches.

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

from cvtoolkit.commands._common import add_max_pixels_argument, max_pixels_from_args, positive_int, print_skipped

MAX_SKIPPED_LISTED = 10
"""Skipped files named in the summary (the rest are counted)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", required=True,
        help="a class-per-folder directory, a Keras-layout .npz, a pixel CSV, a Keras dataset "
             "name (mnist, cifar10, ...), 'digits', or another images store",
    )
    parser.add_argument(
        "--image-size", type=positive_int, default=None, metavar="N",
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
        help="images decoded and written per chunk (default 1024): bounds the memory used",
    )
    parser.add_argument(
        "--compression", choices=["gzip", "lzf"], default=None,
        help="compress the images in the store (smaller, slower; default off)",
    )
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out even if it is not a cvtoolkit store (default: refuse)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _size(n_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return ""  # pragma: no cover


def _pack_files(args: argparse.Namespace, out: Path, progress: bool):
    """Stream a folder (or file-name-labelled folder) into the store: one chunk of images in memory."""
    from cvtoolkit.data import list_by_filename, list_image_folder
    from cvtoolkit.errors import DatasetError
    from cvtoolkit.io import pack_image_files

    listing = (list_by_filename(args.dataset, args.label_pattern) if args.label_pattern
               else list_image_folder(args.dataset))
    if not listing.paths:
        raise DatasetError(f"{args.dataset}: no image files found, nothing to pack")
    resize = f"Resize({args.image_size})" if args.image_size else ""
    return pack_image_files(
        listing.paths, listing.labels, listing.class_names, out, image_size=args.image_size,
        max_pixels=max_pixels_from_args(args), chunk_rows=args.chunk_rows, compression=args.compression,
        skipped=listing.skipped, attrs={"source": str(args.dataset), "preprocessing": resize}, progress=progress,
    )


def _pack_dataset(args: argparse.Namespace, out: Path, progress: bool):
    """Load the dataset (arrays, CSVs, Keras datasets, stores), then write it."""
    from cvtoolkit.data import load_dataset
    from cvtoolkit.errors import DatasetError
    from cvtoolkit.io import write_store
    from cvtoolkit.io.pack import PackSummary

    dataset = load_dataset(args.dataset, image_size=args.image_size, max_pixels=max_pixels_from_args(args),
                           progress=progress)
    if dataset.kind != "images":
        raise DatasetError(
            f"{args.dataset} holds {dataset.kind}, not images; pack stores images. "
            "Feature stores are made by `cvtoolkit extract`."
        )
    if len(dataset) == 0:
        raise DatasetError(f"{args.dataset}: no usable images found, nothing to pack")
    write_store(dataset, out, chunk_rows=args.chunk_rows, progress=progress, compression=args.compression)
    return PackSummary(out, len(dataset), tuple(dataset.image_shape), dataset.class_counts(),
                       list(dataset.skipped), int((dataset.labels < 0).sum()))


def run(args: argparse.Namespace) -> int:
    from cvtoolkit.errors import UsageError

    if args.image_size is not None and args.image_size < 1:
        raise UsageError(f"--image-size must be a positive number of pixels, got {args.image_size}")
    if args.chunk_rows < 1:
        raise UsageError(f"--chunk-rows must be at least 1, got {args.chunk_rows}")
    from cvtoolkit.io.lock import output_lock
    from cvtoolkit.io.outputs import check_output_location, is_store_file

    check_output_location(args.out, kind="file", overwrite=args.overwrite, ours=is_store_file,
                          what="an .h5 store")
    with output_lock(args.out):  # before any work: a second run on the same --out stops here
        return _run_locked(args)


def _run_locked(args: argparse.Namespace) -> int:
    from cvtoolkit.data import describe_spec

    progress = not args.quiet and sys.stderr.isatty()
    start = time.perf_counter()
    out = Path(args.out)
    replaced = out.exists()
    streamed = bool(args.label_pattern) or describe_spec(args.dataset) == "folder"
    pack = _pack_files if streamed else _pack_dataset
    summary = pack(args, out, progress)
    elapsed = time.perf_counter() - start

    print(f"packed {summary.n_rows} images ({'x'.join(str(s) for s in summary.sample_shape)} uint8) from "
          f"{args.dataset}" + (" (streamed)" if streamed else ""))
    counts, skipped = summary.class_counts, summary.skipped
    print(f"classes ({len(counts)}): " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    if summary.n_unlabelled:
        print(f"unlabelled: {summary.n_unlabelled}")
    print_skipped(skipped, f"skipped files: {len(skipped)}", indent="  ", limit=MAX_SKIPPED_LISTED)
    verb = "replaced" if replaced else "wrote"
    print(f"{verb} {out} ({_size(out.stat().st_size)}) in {elapsed:.1f}s")
    return 0
