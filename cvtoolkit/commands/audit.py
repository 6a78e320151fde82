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
import sys
from pathlib import Path

from cvtoolkit.commands._common import (
    add_dataset_arguments,
    add_test_size_argument,
    default_image_size,
    fold_count,
    max_pixels_from_args,
    print_dataset_summary,
    seed_arg,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser)
    add_test_size_argument(parser, what="compare")
    parser.add_argument("--seed", type=seed_arg, default=42, help="seed of the split (as compare's; default 42)")
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
    parser.add_argument("--folds", type=fold_count, default=5, help="cross-validation folds of the label-issue model")
    parser.add_argument("--n-jobs", type=int, default=None, help="threads/processes (default: all cores)")
    parser.add_argument("--cache-dir", default=None,
                        help="feature cache, also for hashes (default: $CVTOOLKIT_CACHE_DIR or ~/.cache/cvtoolkit/features)")
    parser.add_argument("--no-cache", action="store_true", help="compute hashes and features without the cache")
    parser.add_argument("--out", default=None, metavar="DIR", help="output folder (default: runs/audit-<dataset>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out even if cvtoolkit did not write it (default: refuse)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from cvtoolkit.audit.job import audit_dataset
    from cvtoolkit.io.outputs import folder_has, locked_output

    name = Path(str(args.dataset).rstrip("/\\")).stem or "dataset"
    out = Path(args.out) if args.out else Path("runs") / f"audit-{name}"
    # checked and locked before any work: a second run on the same --out stops here
    with locked_output(out, kind="folder", overwrite=args.overwrite, ours=folder_has("audit.json"),
                       what="an audit report"):
        job = audit_dataset(
            args.dataset, out=out,
            size_for=lambda features: default_image_size(args.dataset, args.image_size, features=features),
            label_pattern=args.label_pattern, max_pixels=max_pixels_from_args(args), test_size=args.test_size,
            seed=args.seed, threshold=args.threshold, label_issues=not args.no_label_issues,
            label_features=args.label_features, weights=args.weights, alpha=args.alpha, folds=args.folds,
            cache_dir=None if args.no_cache else (args.cache_dir or "default"), n_jobs=args.n_jobs,
            overwrite=args.overwrite, progress=not args.quiet and sys.stderr.isatty(), on_dataset=print_dataset_summary,
        )
    _print_summary(job.result, job.data)
    for path in job.files.values():
        print(f"wrote {path}")
    print(f"total wall time {job.seconds:.1f}s")
    return 0


def _print_summary(result, data: dict) -> None:
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
        if "verdict" in m:  # reliable: "N suspected (model ...)"; else why the list is withheld
            print(f"label issues: {m['verdict']} [{m['seconds']:.1f}s]")
        else:
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
