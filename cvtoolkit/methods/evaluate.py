"""Score one saved model on a labelled dataset: the workflow of ``cvtoolkit evaluate``.

:func:`run_evaluate` loads a pipeline folder (``cvtoolkit fit``/``train``)
or a ``.keras`` file (wrapped on the fly), maps the dataset's classes onto
the model's by name, predicts, and writes a report folder: ``report.json``,
``errors.json``, a confusion-matrix PNG, a top-losses grid, Grad-CAM maps
for CNNs and ``report.html``. It returns what it found; the command prints.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from cvtoolkit.methods import make_method
>>> from cvtoolkit.methods.artifact import save_pipeline
>>> from cvtoolkit.data import Dataset
>>> rng = np.random.default_rng(0)
>>> X = rng.integers(0, 255, (12, 8, 8, 3), dtype=np.uint8); y = np.arange(12) % 2
>>> root = tempfile.mkdtemp()
>>> _ = save_pipeline(make_method("raw+knn").fit(X, y), os.path.join(root, "knn"), method="raw+knn",
...                   class_names=["a", "b"], image_size=8, channels=3)
>>> result = run_evaluate(os.path.join(root, "knn"), Dataset(X, y, ["a", "b"]), out=os.path.join(root, "rep"))
>>> sorted(p.name for p in result.out.iterdir())[:2], 0 <= result.report.metrics["accuracy"] <= 1
(['confusion_raw+knn.png', 'errors.json'], True)
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cvtoolkit.errors import DatasetError

logger = logging.getLogger(__name__)


@dataclass
class EvaluateResult:
    """What :func:`run_evaluate` found and wrote."""

    report: Any
    """The :class:`cvtoolkit.evaluate.ClassificationReport`."""
    most_confused: list = field(default_factory=list)
    """``(true, predicted, count)`` pairs, most frequent first."""
    out: Path = Path(".")
    """The report folder."""
    method: str = ""


def default_report_dir(model: str | os.PathLike) -> Path:
    """``runs/evaluate-<model name>`` (a ``.keras`` file: its stem).

    Examples
    --------
    >>> default_report_dir("models/pets-hog").as_posix(), default_report_dir("m/vgg.keras").as_posix()
    ('runs/evaluate-pets-hog', 'runs/evaluate-vgg')
    """
    path = Path(model)
    return Path("runs") / f"evaluate-{path.stem if path.suffix == '.keras' else path.name}"


def run_evaluate(
    model: str | os.PathLike,
    dataset: Any,
    *,
    out: str | os.PathLike | None = None,
    label_pattern: str | None = None,
    top_losses: int = 16,
    grad_cam: int = 8,
    overwrite: bool = False,
    trust: bool = False,
    progress: bool = True,
    on_dataset: Callable[[Any], None] | None = None,
) -> EvaluateResult:
    """Score the saved model ``model`` on ``dataset`` and write a report folder.

    Parameters
    ----------
    model : path-like
        A pipeline folder or a ``.keras`` file.
    dataset : str or Dataset
        A dataset spec (folder, .h5, .npz, CSV, name; loaded at the model's
        image size) or a loaded :class:`cvtoolkit.data.Dataset`.
    out : path-like, optional
        The report folder (default :func:`default_report_dir`).
    label_pattern : str, optional
        Labels from file names (first regex group).
    top_losses, grad_cam : int
        Images in the top-losses grid; Grad-CAM maps for CNNs (0: none).
    overwrite : bool
        Replace ``out`` even if it is not an evaluate report.
    trust : bool
        Load model types outside the trusted list (runs code from the file).
    progress : bool
        Progress bars while loading.
    on_dataset : callable, optional
        Called with the loaded dataset (the command prints its summary).

    Raises
    ------
    DatasetError
        The dataset has classes the model does not know.
    ModelError
        Not a saved model.
    """
    from cvtoolkit.data import check_classification_data, load_dataset
    from cvtoolkit.evaluate import ClassificationReport, Leaderboard, most_confused, per_class_errors, plot_top_losses
    from cvtoolkit.evaluate.html_report import write_html_report
    from cvtoolkit.io import write_json_atomic
    from cvtoolkit.io.outputs import check_output_location, folder_has
    from cvtoolkit.methods.artifact import load_pipeline
    from cvtoolkit.methods.compare import safe_filename

    out = Path(out) if out else default_report_dir(model)
    check_output_location(out, kind="folder", overwrite=overwrite, ours=folder_has("errors.json"),
                          what="an evaluate report")
    pipeline = load_pipeline(model, trust=trust)
    out.mkdir(parents=True, exist_ok=True)
    where = str(dataset) if isinstance(dataset, (str, os.PathLike)) else (dataset.source or "the dataset")
    if isinstance(dataset, (str, os.PathLike)):
        dataset = load_dataset(dataset, image_size=pipeline.image_size if pipeline.kind != "stored" else None,
                               label_pattern=label_pattern, progress=progress)
    if on_dataset is not None:
        on_dataset(dataset)
    check_classification_data(dataset, min_per_class=1)
    missing = [c for c in dataset.class_names if c not in pipeline.class_names]
    if missing:
        raise DatasetError(
            f"{where}: classes {missing} are unknown to the model {model} "
            f"(it knows {pipeline.class_names}). Evaluate on data with the model's classes."
        )
    remap = np.array([pipeline.class_names.index(c) for c in dataset.class_names])
    y = remap[dataset.labels]
    t0 = time.perf_counter()
    proba = pipeline.predict_proba(dataset.images)
    seconds = time.perf_counter() - t0
    report = ClassificationReport.from_predictions(y, proba, pipeline.class_names, method=pipeline.method)
    pred = proba.argmax(axis=1)
    pairs = most_confused(y, pred, pipeline.class_names)
    name = safe_filename(pipeline.method)
    report.to_json(out / "report.json")
    cm_png = out / f"confusion_{name}.png"
    report.save_confusion_matrix(cm_png, title=pipeline.method)
    losses_png = None
    if dataset.kind == "images" and dataset.images.dtype != object and top_losses > 0:
        losses_png = out / f"top_losses_{name}.png"
        plot_top_losses(dataset.images, y, proba, pipeline.class_names, k=min(top_losses, len(y)),
                        path=losses_png, title=f"{pipeline.method}: top losses")
    cam_pngs = {}
    if pipeline.kind == "cnn" and grad_cam > 0:
        cam_pngs = _grad_cam(pipeline, dataset, y, proba, grad_cam, out, name)
    write_json_atomic(out / "errors.json", {
        "per_class": per_class_errors(y, pred, pipeline.class_names),
        "most_confused": [list(p) for p in pairs],
    })
    row = {"method": pipeline.method, **{k: v for k, v in report.metrics.items() if v is not None},
           "fit_seconds": pipeline.manifest.get("fit_seconds"),
           "predict_ms_per_image": round(1000 * seconds / max(1, len(y)), 4)}
    settings = {"model": str(model), "dataset": dataset.source, "samples": len(dataset),
                "image_size": pipeline.image_size, "trained_on": pipeline.manifest.get("source"),
                "cvtoolkit_version": pipeline.manifest.get("cvtoolkit_version")}
    write_html_report(out / "report.html", title=f"cvtoolkit evaluate: {pipeline.method}", settings=settings,
                      leaderboard=Leaderboard([row]), confusion_pngs={pipeline.method: str(cm_png)},
                      top_losses_pngs={pipeline.method: str(losses_png)} if losses_png else {},
                      grad_cam_pngs=cam_pngs)
    logger.info("wrote the evaluate report of %s to %s", pipeline.method, out)
    return EvaluateResult(report=report, most_confused=pairs, out=out, method=pipeline.method)


def _grad_cam(pipeline, dataset, y, proba, n, out, name) -> dict:
    """Grad-CAM maps of the ``n`` worst-classified images (TensorFlow backend)."""
    from cvtoolkit.evaluate import grad_cam, save_grad_cam_grid, top_losses

    model = getattr(pipeline.estimator, "model_", None)
    if model is None:
        return {}
    idx, _ = top_losses(y, proba, k=min(n, len(y)))
    images = pipeline.prepare(dataset.images[idx])
    try:
        from cvtoolkit.train.estimator import scale_images

        heatmaps = grad_cam(model, scale_images(images))
    except NotImplementedError as err:  # another backend
        logger.warning("Grad-CAM skipped: %s", err)
        return {}
    titles = [f"true {pipeline.class_names[y[i]]} / pred {pipeline.class_names[int(proba[i].argmax())]}" for i in idx]
    png = out / f"grad_cam_{name}.png"
    save_grad_cam_grid(dataset.images[idx], heatmaps, png, titles=titles)
    return {pipeline.method: str(png)}
