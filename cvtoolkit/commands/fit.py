"""Fit one method and save it as a pipeline folder that `predict` loads with nothing else to pass.

A validation split (--val-size, stratified, seeded) is held out and scored, so
you know how good the saved model is before you submit anything.

examples:
  cvtoolkit fit --dataset datasets/pets --method hog+linear_svm --out models/pets-hog
  cvtoolkit fit --dataset ../shared/data/dogs_vs_cats/train --label-pattern '^(cat|dog)\\.' \\
      --method mobilenet+logreg --alpha 0.25 \\
      --weights ../shared/data/weights/mobilenet_2_5_224_tf_no_top.h5 --out models/dvc
  cvtoolkit fit --dataset datasets/pets --method minivggnet --epochs 40 --out models/pets-vgg
"""

from __future__ import annotations

import argparse
import os
import time

from cvtoolkit.commands._common import (
    add_dataset_arguments,
    default_image_size,
    max_pixels_from_args,
    print_dataset_summary,
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
    parser.add_argument("--seed", type=int, default=42, help="seed of the split and the model (default 42)")
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
    from cvtoolkit.data import check_classification_data, describe_spec, load_dataset, split_dataset
    from cvtoolkit.evaluate import ClassificationReport
    from cvtoolkit.methods import make_method, parse_method, validate_methods
    from cvtoolkit.methods.artifact import save_pipeline
    from cvtoolkit.methods.build import full_proba

    from cvtoolkit.io.outputs import check_output_location, is_pipeline_folder

    started = time.perf_counter()
    check_output_location(args.out, kind="folder", overwrite=args.overwrite, ours=is_pipeline_folder,
                          what="a saved pipeline")
    from cvtoolkit.tracking import make_tracker

    tracker = make_tracker(args.track)  # MLflow missing: one line now, not after fitting
    spec = parse_method(args.method)
    if describe_spec(args.dataset) != "hdf5":
        # Fail on a misspelt method before loading; a store may hold features whose
        # extractor name (<extractor>+<classifier>) is checked once it is open.
        spec = validate_methods([args.method])[0]
    size = default_image_size(args.dataset, args.image_size, features=spec.features)
    dataset = load_dataset(args.dataset, image_size=size, label_pattern=args.label_pattern,
                           max_pixels=max_pixels_from_args(args), progress=not args.quiet)
    print_dataset_summary(dataset)
    check_classification_data(dataset, min_per_class=2 if args.val_size else 1)
    stored = (dataset.attrs.get("extractor") or "features") if dataset.kind == "features" else None
    spec = validate_methods([args.method], stored_features=stored, source=dataset.source or None)[0]
    saved_size = size
    if size is None and dataset.kind == "images" and dataset.images.dtype != object:
        h, w = (int(s) for s in dataset.images.shape[1:3])
        saved_size = h if h == w else [h, w]  # predict brings new images to the size fitted on
    if args.val_size:
        train, val = split_dataset(dataset, test_size=args.val_size, seed=args.seed)
    else:
        train, val = dataset, None
    leakage = None
    if dataset.kind == "images" and (val is not None or args.dedupe):
        import numpy as np

        from cvtoolkit.audit import leakage_line, preflight_leakage
        from cvtoolkit.features.cache import default_cache_dir

        if val is None:  # no validation part: only exact duplicates within train can be dropped
            train.attrs["split_indices"] = np.arange(len(train))
            empty = dataset.subset([])
            empty.attrs["split_indices"] = np.zeros(0, np.int64)
            train, _, leakage = preflight_leakage(dataset, train, empty, dedupe=True, seed=args.seed,
                                                  cache_dir=default_cache_dir(), progress=not args.quiet)
            print(f"dedupe: dropped {leakage['dropped_train']} exact-duplicate training images")
        else:
            train, val, leakage = preflight_leakage(dataset, train, val, dedupe=args.dedupe, test_size=args.val_size,
                                                    seed=args.seed, cache_dir=default_cache_dir(),
                                                    progress=not args.quiet)
            print(leakage_line(leakage).replace("test images", "validation images"))
    cnn_options = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size}.items() if v is not None}
    if args.augment:
        cnn_options["augment"] = True
    cnn_options["verbose"] = 0 if args.quiet else 2
    n_jobs = args.n_jobs or os.cpu_count() or 1
    channels = None if dataset.kind == "features" or dataset.images.dtype == object else int(dataset.images.shape[-1])
    estimator = make_method(spec, feature_options=feature_options_from_args(args), cnn_options=cnn_options,
                            random_state=args.seed, n_jobs=n_jobs, image_size=size, channels=channels)
    print(f"fitting {spec.name} on {len(train)} samples" + (f", validating on {len(val)}" if val is not None else ""))
    t0 = time.perf_counter()
    best_params = None
    if args.search and spec.kind != "cnn":
        from cvtoolkit.classifiers import fit_with_search

        if spec.kind == "classical":
            feats = estimator.named_steps["features"].fit(train.images, train.labels)
            Xtr = feats.transform(train.images)
            clf, best_params, _ = fit_with_search(estimator.named_steps["classifier"], Xtr, train.labels,
                                                  name=spec.classifier, search=args.search, n_jobs=n_jobs,
                                                  random_state=args.seed)
            estimator.steps[-1] = ("classifier", clf)
        else:
            estimator, best_params, _ = fit_with_search(estimator, train.images, train.labels, name=spec.classifier,
                                                        search=args.search, n_jobs=n_jobs, random_state=args.seed)
        print(f"  search chose {best_params}")
    else:
        estimator.fit(train.images, train.labels)
    fit_s = time.perf_counter() - t0
    extra = {"source": dataset.source, "label_pattern": args.label_pattern, "train_samples": len(train),
             "fit_seconds": round(fit_s, 2), "seed": args.seed}
    if best_params:
        extra["best_params"] = best_params
    if leakage is not None:
        extra["leakage"] = {k: v for k, v in leakage.items() if k != "pairs"} | {"pairs": leakage["pairs"][:100]}
    if val is not None:
        proba = full_proba(estimator.predict_proba(val.images), getattr(estimator, "classes_", None),
                           dataset.n_classes)
        report = ClassificationReport.from_predictions(val.labels, proba, dataset.class_names, method=spec.name)
        print(report.to_text())
        extra["validation"] = {k: v for k, v in report.metrics.items() if v is not None}
        extra["validation_samples"] = len(val)
    save_pipeline(estimator, args.out, method=spec.name, class_names=dataset.class_names,
                  image_size=saved_size if dataset.kind == "images" else None, channels=channels,
                  kind=spec.kind, extra=extra, overwrite=args.overwrite)
    print(f"saved {spec.name} pipeline to {args.out} (fit {fit_s:.1f}s, total {time.perf_counter() - started:.1f}s)")
    if tracker is not None:
        print(tracker.log_fit(args.out, history=getattr(estimator, "history_", None)))
    return 0
