"""Audit a dataset: duplicates, train/test leakage, suspected label errors, class balance, odd images.

Writes audit.json (for scripts) and a self-contained audit.html (thumbnails of
duplicate groups and of suspected label issues, histograms of sizes and
class counts). Leakage is measured on the split compare would use (same
--test-size and --seed). Exact duplicates: identical decoded pixels; near
duplicates: ImageHash phash within --threshold bits (default 6 of 64).

examples:
  cvtoolkit audit --dataset datasets/animals
  cvtoolkit audit --dataset flowers17 --no-label-issues --out runs/audit-flowers
  cvtoolkit audit --dataset pets --weights mobilenet_2_5_224_tf_no_top.h5
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from cvtoolkit.commands._common import (
    add_dataset_arguments,
    add_test_size_argument,
    default_image_size,
    max_pixels_from_args,
    print_dataset_summary,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser)
    add_test_size_argument(parser, what="compare")
    parser.add_argument("--seed", type=int, default=42, help="seed of the split (as compare's; default 42)")
    parser.add_argument("--threshold", type=int, default=None, metavar="BITS",
                        help="largest phash Hamming distance of near duplicates (default 6 of 64)")
    parser.add_argument("--no-label-issues", action="store_true",
                        help="skip the label-issue step (cross-validated model + cleanlab)")
    parser.add_argument("--label-features", default="auto", metavar="NAME",
                        help="features of the label-issue model: 'auto' (a backbone whose weights are on disk, "
                             "else 'combined') or any feature name")
    parser.add_argument("--weights", default=None, metavar="PATH",
                        help="backbone weights file for the label-issue model (e.g. mobilenet_2_5_224_tf_no_top.h5)")
    parser.add_argument("--alpha", type=float, default=None, help="MobileNet width with --label-features mobilenet")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds of the label-issue model")
    parser.add_argument("--n-jobs", type=int, default=None, help="threads/processes (default: all cores)")
    parser.add_argument("--cache-dir", default=None,
                        help="feature cache, also for hashes (default: $CVTOOLKIT_CACHE_DIR or ~/.cache/cvtoolkit/features)")
    parser.add_argument("--no-cache", action="store_true", help="compute hashes and features without the cache")
    parser.add_argument("--out", default=None, metavar="DIR", help="output folder (default: runs/audit-<dataset>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from cvtoolkit.audit import NEAR_THRESHOLD, run_audit, write_audit_html
    from cvtoolkit.data import load_dataset
    from cvtoolkit.errors import DatasetError
    from cvtoolkit.io import write_json_atomic

    started = time.perf_counter()
    progress = not args.quiet
    if args.folds < 2:
        raise DatasetError(f"--folds must be at least 2, got {args.folds}")
    threshold = NEAR_THRESHOLD if args.threshold is None else args.threshold
    if not 0 <= threshold <= 64:
        raise DatasetError(f"--threshold must be between 0 and 64 bits, got {threshold}")
    label_issues = not args.no_label_issues
    features = None
    if label_issues:
        if args.weights is not None and args.label_features == "auto":
            from cvtoolkit.audit.label_issues import backbone_weights_on_disk

            features = backbone_weights_on_disk(args.weights)[0]
        elif args.label_features != "auto":
            features = args.label_features
        else:
            from cvtoolkit.audit.label_issues import backbone_weights_on_disk

            found = backbone_weights_on_disk()
            features = found[0] if found else None
    dataset = load_dataset(args.dataset, image_size=default_image_size(args.dataset, args.image_size, features=features),
                           label_pattern=args.label_pattern, max_pixels=max_pixels_from_args(args), progress=progress)
    print_dataset_summary(dataset)
    cache_dir = None
    if not args.no_cache:
        from cvtoolkit.features.cache import default_cache_dir

        cache_dir = args.cache_dir or str(default_cache_dir())
    result = run_audit(
        dataset, test_size=args.test_size, seed=args.seed, threshold=threshold, label_issues=label_issues,
        label_features=args.label_features, weights=args.weights, alpha=args.alpha, folds=args.folds,
        cache_dir=cache_dir, n_jobs=args.n_jobs or os.cpu_count() or 1, max_pixels=max_pixels_from_args(args),
        progress=progress,
    )
    data = result.to_dict()
    summ = data["duplicate_summary"]
    within = sum(1 for g in result.duplicates if not g["conflicting"])
    print(f"duplicates: {summ['pairs']} pairs (exact or near) in {summ['groups']} groups "
          f"({summ['exact_groups']} exact, {summ['near_groups']} near); {within} groups within one class, "
          f"{summ['conflicting_groups']} across classes")
    leak = result.leakage or {}
    if leak.get("error"):
        print(f"leakage: not measured ({leak['error']})")
    else:
        print(f"leakage (test {leak['test_size']}, seed {leak['seed']}): {leak['duplicate_pairs_across_split']} "
              f"duplicate pairs cross the split; {leak['test_with_duplicate_in_train']} of {leak['n_test']} test "
              "images have a near-duplicate in train")
    if result.label_model and not result.label_model.get("error"):
        m = result.label_model
        print(f"label issues: {len(result.label_issues)} suspected ({m['features']} + logistic regression, "
              f"{m['folds']}-fold out-of-fold accuracy {m['cv_accuracy']:.3f}, {m['seconds']:.1f}s)")
        for item in result.label_issues[:5]:
            print(f"    {item['path']}: given {item['given']}, suggested {item['suggested']} (score {item['score']:.3f})")
    elif result.label_model:
        print(f"label issues: not run ({result.label_model['error']})")
    bal = data["class_balance"]
    print(f"class balance: largest/smallest {bal['max_min_ratio']} ({bal['largest']} / {bal['smallest']})")
    imgs = data["images"]
    if "grey" in imgs:
        print(f"images: {imgs['grey']} grey, {imgs['colour']} colour; {imgs['very_small']['count']} very small, "
              f"{imgs['blank']['count']} near-constant; {len(result.skipped)} unreadable (skipped)")
    name = Path(str(args.dataset).rstrip("/\\")).stem or "dataset"
    out = Path(args.out) if args.out else Path("runs") / f"audit-{name}"
    write_json_atomic(out / "audit.json", data)
    write_audit_html(result, dataset, out / "audit.html")
    print(f"wrote {out / 'audit.json'}")
    print(f"wrote {out / 'audit.html'}")
    print(f"total wall time {time.perf_counter() - started:.1f}s")
    return 0
