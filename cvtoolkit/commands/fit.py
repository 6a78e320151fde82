"""Fit one method and save it as a pipeline folder that `predict` loads with nothing else to pass.

A validation split (--val-size, stratified, seeded) is held out and scored, so
you know how good the saved model is before you submit anything. The workflow
is cvtoolkit.methods.fitting.run_fit.

examples:
  cvtoolkit fit --dataset datasets/pets --method hog+linear_svm --out models/pets-hog
  cvtoolkit fit --dataset ../shared/data/dogs_vs_cats/train --label-pattern '^(cat|dog)\\.' \\
      --method mobilenet+logreg --alpha 0.25 \\
      --weights ../shared/data/weights/mobilenet_2_5_224_tf_no_top.h5 --out models/dvc
  cvtoolkit fit --dataset datasets/pets --method minivggnet --epochs 40 --out models/pets-vgg
"""

from __future__ import annotations

import argparse
import time

from cvtoolkit.commands._common import (
    add_dataset_arguments,
    default_image_size,
    max_pixels_from_args,
    print_dataset_summary,
    seed_arg,
)


def add_backbone_arguments(parser: argparse.ArgumentParser) -> None:
    """``--alpha``, ``--weights``, ``--batch-size``: the backbone flags of ``extract``."""
    parser.add_argument("--alpha", type=float, default=None, help="width multiplier of MobileNet-style backbones")
    parser.add_argument("--weights", default=None,
                        help="backbone weights: 'imagenet' (Keras downloads and caches), a local .h5 path, or 'none'")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser)
    parser.add_argument("--method", required=True,
                        help="a row name: <features>+<classifier> (hog+linear_svm, mobilenet+logreg) or a CNN (minivggnet)")
    add_backbone_arguments(parser)
    parser.add_argument("--epochs", type=int, default=None, help="epochs for CNN methods")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size for CNN methods / backbone extraction")
    parser.add_argument("--augment", action="store_true", help="on-the-fly augmentation for CNN methods")
    parser.add_argument("--search", choices=["grid", "random"], default=None,
                        help="cross-validated search of the classifier's hyper-parameters on the training part")
    parser.add_argument("--val-size", type=float, default=0.2,
                        help="validation fraction held out and scored (default 0.2; 0 fits on everything)")
    parser.add_argument("--seed", type=seed_arg, default=42, help="seed of the split and the model (default 42)")
    parser.add_argument("--n-jobs", type=int, default=None, help="processes for descriptors/classifiers")
    parser.add_argument("--out", required=True, metavar="DIR", help="the pipeline folder to write, e.g. models/NAME")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out even if it is not a saved pipeline (default: refuse)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    from cvtoolkit.tracking import TRACK_HELP, track_arg

    parser.add_argument("--track", type=track_arg, default=None, metavar="mlflow[:URI]", help=TRACK_HELP)
    parser.add_argument("--dedupe", action="store_true",
                        help="drop validation images with an exact or near duplicate in train (and exact "
                             "duplicates within train) before fitting; see 'cvtoolkit audit'")


def feature_options_from_args(args: argparse.Namespace) -> dict:
    """Descriptor/backbone options given on the command line (unset ones left out)."""
    weights = args.weights
    if isinstance(weights, str) and weights.lower() == "none":
        weights = None
    opts = {"alpha": args.alpha, "batch_size": getattr(args, "batch_size", None)}
    opts = {k: v for k, v in opts.items() if v is not None}
    if args.weights is not None:
        opts["weights"] = weights
    return opts


def run(args: argparse.Namespace) -> int:
    from cvtoolkit.io.outputs import is_pipeline_folder, locked_output

    # before any work: a second run on the same --out stops here
    with locked_output(args.out, kind="folder", overwrite=args.overwrite, ours=is_pipeline_folder,
                       what="a saved pipeline"):
        return _run_locked(args)


def _run_locked(args: argparse.Namespace) -> int:
    from cvtoolkit.methods.fitting import run_fit

    started = time.perf_counter()
    cnn_options = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size}.items() if v is not None}
    if args.augment:
        cnn_options["augment"] = True
    cnn_options["verbose"] = 0 if args.quiet else 2
    result = run_fit(args.dataset, args.method, out=args.out,
                     size_for=lambda features: default_image_size(args.dataset, args.image_size, features=features),
                     label_pattern=args.label_pattern, max_pixels=max_pixels_from_args(args),
                     feature_options=feature_options_from_args(args), cnn_options=cnn_options, search=args.search,
                     val_size=args.val_size, seed=args.seed, n_jobs=args.n_jobs, overwrite=args.overwrite,
                     dedupe=args.dedupe,
                     progress=not args.quiet, track=args.track, echo=print, on_dataset=print_dataset_summary)
    print(f"saved {result.method} pipeline to {args.out} "
          f"(fit {result.fit_seconds:.1f}s, total {time.perf_counter() - started:.1f}s)")
    if result.tracked:
        print(result.tracked)
    return 0
