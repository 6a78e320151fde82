"""Score a saved pipeline on a labelled dataset and write a report (text, JSON, PNGs, report.html).

The report has the metrics (accuracy, macro F1, rank-1/5, log loss, ROC-AUC),
per-class errors, the most-confused class pairs, a confusion matrix, a grid
of the top losses and, for CNN pipelines, Grad-CAM heat maps.

examples:
  cvtoolkit evaluate --model models/pets-hog --dataset datasets/pets-test --out runs/eval-pets
  cvtoolkit evaluate --model models/dvc --dataset ../shared/data/dogs_vs_cats/train \\
      --label-pattern '^(cat|dog)\\.' --out runs/eval-dvc
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a pipeline folder written by 'cvtoolkit fit'")
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
    import numpy as np

    from cvtoolkit.data import check_classification_data, load_dataset
    from cvtoolkit.errors import DatasetError
    from cvtoolkit.evaluate import (
        ClassificationReport,
        Leaderboard,
        most_confused,
        per_class_errors,
        plot_top_losses,
    )
    from cvtoolkit.evaluate.html_report import write_html_report
    from cvtoolkit.io import write_json_atomic
    from cvtoolkit.methods.artifact import load_pipeline
    from cvtoolkit.methods.compare import safe_filename

    from cvtoolkit.io.outputs import check_output_location, folder_has

    out = Path(args.out) if args.out else Path("runs") / f"evaluate-{Path(args.model).name}"
    check_output_location(out, kind="folder", overwrite=args.overwrite, ours=folder_has("errors.json"),
                          what="an evaluate report")
    pipeline = load_pipeline(args.model, trust=args.trust_model)
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset(args.dataset, image_size=pipeline.image_size if pipeline.kind != "stored" else None,
                           label_pattern=args.label_pattern, progress=not args.quiet)
    check_classification_data(dataset, min_per_class=1)
    # Map the dataset's class names onto the model's, by name.
    missing = [c for c in dataset.class_names if c not in pipeline.class_names]
    if missing:
        raise DatasetError(
            f"{args.dataset}: classes {missing} are unknown to the model {args.model} "
            f"(it knows {pipeline.class_names}). Evaluate on data with the model's classes."
        )
    remap = np.array([pipeline.class_names.index(c) for c in dataset.class_names])
    y = remap[dataset.labels]
    t0 = time.perf_counter()
    proba = pipeline.predict_proba(dataset.images)
    seconds = time.perf_counter() - t0
    report = ClassificationReport.from_predictions(y, proba, pipeline.class_names, method=pipeline.method)
    print(report.to_text())
    pred = proba.argmax(axis=1)
    pairs = most_confused(y, pred, pipeline.class_names)
    if pairs:
        print("most confused (true -> predicted: count):")
        for true, predicted, count in pairs[:10]:
            print(f"  {true} -> {predicted}: {count}")
    name = safe_filename(pipeline.method)
    report.to_json(out / "report.json")
    cm_png = out / f"confusion_{name}.png"
    report.save_confusion_matrix(cm_png, title=pipeline.method)
    losses_png = None
    if dataset.kind == "images" and dataset.images.dtype != object and args.top_losses > 0:
        losses_png = out / f"top_losses_{name}.png"
        plot_top_losses(dataset.images, y, proba, pipeline.class_names, k=min(args.top_losses, len(y)),
                        path=losses_png, title=f"{pipeline.method}: top losses")
    cam_pngs = {}
    if pipeline.kind == "cnn" and args.grad_cam > 0:
        cam_pngs = _grad_cam(pipeline, dataset, y, proba, args.grad_cam, out, name)
    write_json_atomic(out / "errors.json", {
        "per_class": per_class_errors(y, pred, pipeline.class_names),
        "most_confused": [list(p) for p in pairs],
    })
    row = {"method": pipeline.method, **{k: v for k, v in report.metrics.items() if v is not None},
           "fit_seconds": pipeline.manifest.get("fit_seconds"),
           "predict_ms_per_image": round(1000 * seconds / max(1, len(y)), 4)}
    board = Leaderboard([row])
    settings = {"model": str(args.model), "dataset": dataset.source, "samples": len(dataset),
                "image_size": pipeline.image_size, "trained_on": pipeline.manifest.get("source"),
                "cvtoolkit_version": pipeline.manifest.get("cvtoolkit_version")}
    write_html_report(out / "report.html", title=f"cvtoolkit evaluate: {pipeline.method}", settings=settings,
                      leaderboard=board, confusion_pngs={pipeline.method: str(cm_png)},
                      top_losses_pngs={pipeline.method: str(losses_png)} if losses_png else {},
                      grad_cam_pngs=cam_pngs)
    print(f"wrote {out / 'report.html'}, report.json, errors.json and PNGs in {out}")
    return 0


def _grad_cam(pipeline, dataset, y, proba, n, out, name) -> dict:
    """Grad-CAM maps of the ``n`` worst-classified images (TensorFlow backend)."""
    import logging

    from cvtoolkit.evaluate import grad_cam, save_grad_cam_grid, top_losses

    est = pipeline.estimator
    model = getattr(est, "model_", None)
    if model is None:
        return {}
    idx, _ = top_losses(y, proba, k=min(n, len(y)))
    images = pipeline.prepare(dataset.images[idx])
    try:
        from cvtoolkit.train.estimator import scale_images

        heatmaps = grad_cam(model, scale_images(images))
    except NotImplementedError as err:  # another backend
        logging.getLogger(__name__).warning("Grad-CAM skipped: %s", err)
        return {}
    titles = [f"true {pipeline.class_names[y[i]]} / pred {pipeline.class_names[int(proba[i].argmax())]}" for i in idx]
    png = out / f"grad_cam_{name}.png"
    save_grad_cam_grid(dataset.images[idx], heatmaps, png, titles=titles)
    return {pipeline.method: str(png)}
