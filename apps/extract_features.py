"""Extract pretrained CNN features (or any descriptor) from an image dataset into an HDF5 store.

Each image is resized to the backbone's input size (default 224; --image-size
to change it), passed through the backbone's own preprocess_input and the
network without its top, and globally pooled to one vector (MobileNet 0.25:
256 numbers; VGG16: 512; ResNet50: 2048). A class-per-folder dataset is
streamed chunk by chunk in bounded memory; the store (written atomically)
holds the features, labels, class names, file paths and the extractor's
parameters. Train a classifier on it with apps/train_on_features.py or
`cvtoolkit compare --dataset FEATURES.h5`.

--weights takes 'imagenet' (Keras's cache, or a download), a local weights
file, or 'none' (random weights: a smoke test, not useful features).
--backbone also accepts the classical descriptors (hog, lbp, hsv_hist, ...,
or a comma list of them), so the same store layout serves both halves.

examples:
  python apps/extract_features.py --dataset ../shared/data/flowers17 --backbone mobilenet --alpha 0.25 \\
      --weights ../shared/data/weights/mobilenet_2_5_224_tf_no_top.h5 --out runs/flowers17-mobilenet.h5
  python apps/extract_features.py --dataset ../shared/data/dogs_vs_cats/train --label-pattern '^(cat|dog)\\.' \\
      --backbone resnet50 --out runs/dvc-resnet50.h5
  python apps/extract_features.py --dataset ../shared/data/animals --backbone hog,hsv_hist --image-size 64 \\
      --out runs/animals-hog.h5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _cli import make_parser, run_app

from cvtoolkit.commands._common import positive_int
from cvtoolkit.errors import DatasetError


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__, Path(__file__).name)
    parser.add_argument("--dataset", required=True, metavar="SPEC",
                        help="a class-per-folder directory (streamed), an .h5 image store, an .npz, a pixel CSV "
                             "or a dataset name")
    parser.add_argument("--out", required=True, metavar="FILE.h5", help="the feature store to write")
    parser.add_argument("--backbone", default="mobilenet", metavar="NAME",
                        help="vgg16, resnet50, mobilenet (default), mobilenetv2, efficientnetb0, or descriptor "
                             "name(s) such as hog or hog,lbp")
    parser.add_argument("--alpha", type=float, default=None, help="width multiplier of MobileNet backbones (e.g. 0.25)")
    parser.add_argument("--weights", default=None, metavar="imagenet|none|PATH",
                        help="backbone weights (default imagenet)")
    parser.add_argument("--image-size", type=positive_int, default=None, metavar="N",
                        help="input side of the backbone (default: its own, 224; at least 32)")
    parser.add_argument("--label-pattern", default=None, metavar="REGEX",
                        help="labels from file names in a flat folder, e.g. '^(cat|dog)\\.'")
    parser.add_argument("--batch-size", type=int, default=64, help="images per chunk (default 64)")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="worker processes, each describing whole chunks (default 1)")
    parser.add_argument("--max-images", type=int, default=None, metavar="M",
                        help="describe a seeded random subset of M images (quick runs)")
    parser.add_argument("--seed", type=int, default=42, help="seed of --max-images (default 42)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def run(args: argparse.Namespace) -> int:
    from cvtoolkit.commands.extract import build_extractor
    from cvtoolkit.features import FEATURES
    from cvtoolkit.features.extraction import extract_to_store

    names = [n.strip() for n in args.backbone.split(",") if n.strip()]
    unknown = [n for n in names if n not in FEATURES]
    if not names or unknown:
        raise DatasetError(f"--backbone {args.backbone!r}: unknown name(s) {unknown}; known: {', '.join(FEATURES)}")
    if args.batch_size < 1:
        raise DatasetError(f"--batch-size must be at least 1, got {args.batch_size}")
    options = {k: v for k, v in {"alpha": args.alpha, "weights": args.weights, "image_size": args.image_size}.items()
               if v is not None}
    options["n_jobs"] = 1  # parallel over chunks, not inside a descriptor
    try:
        extractor = build_extractor(names, options)
    except (TypeError, ValueError) as err:
        if isinstance(err, DatasetError) or err.__class__.__module__.startswith("cvtoolkit"):
            raise
        raise DatasetError(f"cannot build {args.backbone} with {options}: {err}") from err
    source = args.dataset
    if args.label_pattern:
        from cvtoolkit.data import list_by_filename

        source = list_by_filename(args.dataset, args.label_pattern)
    print(f"extracting {'+'.join(names)} features from {args.dataset} -> {args.out}", flush=True)
    summary = extract_to_store(
        extractor, source, args.out, image_size=args.image_size, batch_size=args.batch_size, n_jobs=args.n_jobs,
        max_images=args.max_images, seed=args.seed, extractor="+".join(names), progress=not args.quiet,
    )
    print(f"wrote {summary.path}: {summary.n_rows} images x {summary.n_features} features, "
          f"{len(summary.class_names)} classes ({summary.seconds:.1f}s, {summary.images_per_second:.1f} images/s)")
    print("  per class: " + ", ".join(f"{k} {v}" for k, v in list(summary.class_counts.items())[:12]))
    if summary.skipped:
        print(f"  skipped {len(summary.skipped)} unreadable file(s):")
        for item in summary.skipped[:10]:
            print(f"    {item}")
    print(f"next: python apps/train_on_features.py --db {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_app(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
