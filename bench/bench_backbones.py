"""Benchmark: pretrained backbone features + logistic regression.

Loads a folder dataset, extracts globally pooled features of a
``keras.applications`` backbone with :class:`cvtoolkit.transfer.BackboneFeatures`
(the same transformer ``cvtoolkit extract`` runs), then fits the toolkit's
``logreg`` classifier on a stratified 75/25 split (seed 42, the toolkit's own
:func:`cvtoolkit.data.split_dataset`) and reports test accuracy, extraction
throughput and wall times.

The issue's target: Flowers-17, MobileNet alpha 0.25 from the local weights
file, logistic regression: accuracy at least 0.90.

Usage::

    python bench/bench_backbones.py            # Flowers-17, MobileNet 0.25, local weights
    python bench/bench_backbones.py --dataset ../shared/data/animals \\
        --backbone mobilenet --alpha 0.25 \\
        --weights ../shared/data/weights/mobilenet_2_5_224_tf_no_top.h5 \\
        --image-size 224 --json bench/results/backbones.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from _paths import SHARED  # noqa: E402  (bench/ is on sys.path when a script runs)
DEFAULT_DATASET = SHARED / "flowers17"
DEFAULT_WEIGHTS = SHARED / "weights" / "mobilenet_2_5_224_tf_no_top.h5"
TARGET_ACCURACY = 0.90


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET))
    parser.add_argument("--backbone", default="mobilenet")
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                        help="'imagenet', a weights file, or 'none' (random)")
    parser.add_argument("--image-size", type=int, default=None,
                        help="side the images are resized to (default: the backbone's, 224)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-flip", action="store_true",
                        help="plain features (no averaging with the mirrored image)")
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation of logreg")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    from cvtoolkit.classifiers import make_classifier
    from cvtoolkit.data import load_dataset, split_dataset
    from cvtoolkit.transfer import BackboneFeatures

    weights = None if args.weights.lower() == "none" else args.weights
    t0 = time.perf_counter()
    data = load_dataset(args.dataset, progress=False)  # native sizes: the transformer resizes
    load_s = time.perf_counter() - t0
    train, test = split_dataset(data, test_size=0.25, seed=42)

    feats = BackboneFeatures(
        args.backbone, alpha=args.alpha, weights=weights, image_size=args.image_size,
        batch_size=args.batch_size, flip_average=not args.no_flip,
    )
    t0 = time.perf_counter()
    feats.fit()
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    X_train = feats.transform(train.images)
    X_test = feats.transform(test.images)
    extract_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    clf = make_classifier("logreg", C=args.C).fit(X_train, train.labels)
    accuracy = float(np.mean(clf.predict(X_test) == test.labels))
    fit_s = time.perf_counter() - t0

    n = len(train) + len(test)
    result = {
        "dataset": str(args.dataset), "backbone": args.backbone, "alpha": args.alpha,
        "weights": str(weights), "image_size": list(feats.image_size_),
        "flip_average": not args.no_flip,
        "features": feats.n_features_out_, "train": len(train), "test": len(test),
        "accuracy": round(accuracy, 4), "target": TARGET_ACCURACY,
        "load_s": round(load_s, 2), "build_s": round(build_s, 2),
        "extract_s": round(extract_s, 2), "images_per_s": round(n / extract_s, 1),
        "logreg_s": round(fit_s, 2),
    }
    print(
        f"{args.backbone} (alpha {args.alpha}) features {feats.n_features_out_} at "
        f"{feats.image_size_[0]}x{feats.image_size_[1]}{'' if args.no_flip else ' (flip-averaged)'} "
        f"on {data.source}: "
        f"{len(train)} train / {len(test)} test"
    )
    print(f"  extraction: {extract_s:.1f} s for {n} images ({n / extract_s:.1f} images/s); "
          f"model built in {build_s:.1f} s, data loaded in {load_s:.1f} s")
    print(f"  logistic regression (C={args.C}): accuracy {accuracy:.4f} "
          f"(target >= {TARGET_ACCURACY:.2f}: {'met' if accuracy >= TARGET_ACCURACY else 'NOT met'}), "
          f"fitted in {fit_s:.1f} s")
    if args.json:
        from cvtoolkit.io import write_json_atomic

        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
