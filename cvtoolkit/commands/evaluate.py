"""Score a saved model on a labelled dataset and write a report (text, JSON, PNGs, report.html).

The report has the metrics (accuracy, macro F1, rank-1/5, log loss, ROC-AUC),
per-class errors, the most-confused class pairs, a confusion matrix, a grid
of the top losses and, for CNN pipelines, Grad-CAM heat maps. --model takes
a pipeline folder (cvtoolkit fit or train) or a .keras file (wrapped with its
sidecar's class names and input size). The workflow is
cvtoolkit.methods.evaluate.run_evaluate.

examples:
  cvtoolkit evaluate --model models/pets-hog --dataset datasets/pets-test --out runs/eval-pets
  cvtoolkit evaluate --model models/dvc --dataset ../shared/data/dogs_vs_cats/train \\
      --label-pattern '^(cat|dog)\\.' --out runs/eval-dvc
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="a pipeline folder written by 'cvtoolkit fit' or 'cvtoolkit train', or a .keras file")
    parser.add_argument("--dataset", required=True, help="a labelled dataset (folder, .h5, .npz, CSV, or a name)")
    parser.add_argument("--label-pattern", default=None, metavar="REGEX", help="labels from file names, e.g. '^(cat|dog)\\.'")
    parser.add_argument("--out", default=None, metavar="DIR", help="report folder (default: runs/evaluate-<model>)")
    parser.add_argument("--top-losses", type=int, default=16, help="images in the top-losses grid (default 16)")
    parser.add_argument("--grad-cam", type=int, default=8, help="CNN pipelines: Grad-CAM maps of this many images (0: none)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out even if cvtoolkit did not write it (default: refuse)")
    parser.add_argument("--trust-model", action="store_true",
                        help="load a model with types outside the trusted list, or an old pickle "
                             "(pipeline.joblib): this runs code from the file; only for models you trust")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from cvtoolkit.io.outputs import folder_has, locked_output
    from cvtoolkit.methods.evaluate import default_report_dir, run_evaluate

    out = args.out or default_report_dir(args.model)
    with locked_output(out, kind="folder", overwrite=args.overwrite, ours=folder_has("errors.json"),
                       what="an evaluate report"):  # before any work: a second run on the same --out stops here
        result = run_evaluate(args.model, args.dataset, out=out, label_pattern=args.label_pattern,
                              top_losses=args.top_losses, grad_cam=args.grad_cam, overwrite=args.overwrite,
                              trust=args.trust_model, progress=not args.quiet and sys.stderr.isatty())
    print(result.report.to_text())
    if result.most_confused:
        print("most confused (true -> predicted: count):")
        for true, predicted, count in result.most_confused[:10]:
            print(f"  {true} -> {predicted}: {count}")
    print(f"wrote {result.out / 'report.html'}, report.json, errors.json and PNGs in {result.out}")
    return 0
