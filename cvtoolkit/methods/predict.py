"""Predict with a saved model: the workflow of ``cvtoolkit predict``.

:func:`run_predict` loads a pipeline folder (``cvtoolkit fit``/``train``) or
a ``.keras`` file (wrapped on the fly), reads an unlabelled folder, one
image, a pixel CSV or an images store (:func:`load_inputs`), predicts, and
writes the per-image CSV and a Kaggle submission if asked. Unreadable images
get no prediction (their reason is kept); a submission needs every id unless
``allow_skipped`` (then they get uniform probabilities).

Examples
--------
>>> import numpy as np, tempfile, os, cv2
>>> from cvtoolkit.methods import make_method
>>> from cvtoolkit.methods.artifact import save_pipeline
>>> rng = np.random.default_rng(0)
>>> X = rng.integers(0, 255, (12, 8, 8, 3), dtype=np.uint8); y = np.arange(12) % 2
>>> root = tempfile.mkdtemp(); os.mkdir(os.path.join(root, "test"))
>>> _ = save_pipeline(make_method("raw+knn").fit(X, y), os.path.join(root, "knn"), method="raw+knn",
...                   class_names=["a", "b"], image_size=8, channels=3)
>>> _ = [cv2.imwrite(os.path.join(root, "test", f"{i}.png"), X[i]) for i in (1, 2)]
>>> result = run_predict(os.path.join(root, "knn"), os.path.join(root, "test"), progress=False)
>>> result.ids, result.proba.shape
([1, 2], (2, 2))
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS
from cvtoolkit.errors import DatasetError

logger = logging.getLogger(__name__)


@dataclass
class PredictResult:
    """What :func:`run_predict` predicted and wrote."""

    pipeline: Any
    """The :class:`cvtoolkit.methods.artifact.SavedPipeline` used."""
    ids: list
    proba: np.ndarray
    """``(len(ids), n_classes)``; skipped rows are uniform."""
    reasons: list[str] = field(default_factory=list)
    """Per id: '' when predicted, else why it was skipped."""
    skipped: list = field(default_factory=list)
    submission_rows: int | None = None


def load_inputs(spec: str, *, progress: bool = True, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                image_size: Any = None):
    """Images (or a feature matrix), their ids, and skipped files, from an --images spec.

    ``max_pixels``: the decompression-bomb limit per image (None: no limit).
    ``image_size``: decode image files straight to this size (int or
    ``[height, width]``), as the dataset loaders did when the model was
    fitted (JPEGs decoded at reduced scale, then resized), so a saved
    pipeline sees the very pixels it was scored on.
    """
    import numpy as np

    from cvtoolkit.data import list_unlabelled, load_images, read_image
    from cvtoolkit.data.dataset import SkippedFile
    from cvtoolkit.data.image_io import UnreadableImageError, is_image_file

    path = Path(spec)
    size = tuple(int(v) for v in image_size) if isinstance(image_size, (list, tuple)) else image_size
    if path.is_dir():
        paths, ids = list_unlabelled(path)
        images, kept, skipped = load_images(paths, progress=progress, desc="reading images", max_pixels=max_pixels,
                                            image_size=size)
        return images, ids, kept, skipped
    if path.is_file() and path.suffix.lower() == ".csv":
        from cvtoolkit.data import load_pixel_csv

        ds = load_pixel_csv(path)
        ids = ds.attrs.get("ids") or list(range(1, len(ds) + 1))
        return ds.images, ids, np.arange(len(ds)), []
    if path.is_file() and path.suffix.lower() in (".h5", ".hdf5"):
        from cvtoolkit.io import read_store

        ds = read_store(path)
        ids = [Path(p).stem for p in ds.paths] if ds.paths else list(range(1, len(ds) + 1))
        return ds.images, ids, np.arange(len(ds)), []
    if path.is_file() and is_image_file(path):
        try:
            return [read_image(path, max_pixels=max_pixels, size=size)], [path.stem], np.array([0]), []
        except UnreadableImageError as err:
            return [], [path.stem], np.array([], int), [SkippedFile(str(path), str(err))]
    raise DatasetError(f"{spec}: not an image folder, image file, pixel CSV or .h5 store.")


def skipped_reasons(n: int, kept, skipped) -> list[str]:
    """Per input row: '' when it was predicted, else why it was skipped (rows not in ``kept``, in order).

    Examples
    --------
    >>> from cvtoolkit.data.dataset import SkippedFile
    >>> skipped_reasons(3, [0, 2], [SkippedFile("b.jpg", "cannot be decoded")])
    ['', 'cannot be decoded', '']
    """
    reasons = ["skipped"] * n
    for i in kept:
        reasons[int(i)] = ""
    missing = [i for i in range(n) if reasons[i]]
    for i, item in zip(missing, skipped):
        reasons[i] = str(getattr(item, "reason", "") or item)
    return reasons


def run_predict(
    model: str | os.PathLike,
    images: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    submission: str | os.PathLike | None = None,
    fmt: str = "label",
    positive: str | None = None,
    clip: float | None = None,
    allow_skipped: bool = False,
    overwrite: bool = False,
    trust: bool = False,
    progress: bool = True,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    echo: Callable[[str], None] = logger.info,
) -> PredictResult:
    """Predict every image of ``images`` with the saved model ``model``; write ``out``/``submission``.

    Parameters
    ----------
    model : path-like
        A pipeline folder or a ``.keras`` file.
    images : path-like
        An unlabelled folder, one image, a pixel CSV or an .h5 store.
    out : path-like, optional
        CSV of every prediction (id, class, probabilities, skipped reason).
    submission : path-like, optional
        A Kaggle submission CSV in format ``fmt``
        (:data:`cvtoolkit.kaggle.SUBMISSION_FORMATS`; ``positive``, ``clip``).
    allow_skipped : bool
        Write a submission even if some images could not be read.
    overwrite : bool
        Replace ``out``/``submission`` even if cvtoolkit did not write them.
    trust : bool
        Load model types outside the trusted list (runs code from the file).
    max_pixels : int or None
        Decompression-bomb limit per image.
    echo : callable
        Receives the progress lines (the command passes ``print``).

    Raises
    ------
    DatasetError
        Unreadable images and a submission without ``allow_skipped``.
    ModelError
        Not a saved model.
    """
    from cvtoolkit.io import write_text_atomic
    from cvtoolkit.io.outputs import check_output_location, csv_starts_with
    from cvtoolkit.kaggle import write_submission
    from cvtoolkit.methods.artifact import load_pipeline

    for option, where, ours in (("--out", out, csv_starts_with("id,predicted")),
                                ("--submission", submission, csv_starts_with("id,", "ImageId,"))):
        if where:
            check_output_location(where, kind="file", overwrite=overwrite, ours=ours, option=option,
                                  what="a CSV cvtoolkit writes")
    pipeline = load_pipeline(model, trust=trust)
    echo(f"model {model}: {pipeline.method}, classes {', '.join(pipeline.class_names)}")
    batch, ids, kept, skipped = load_inputs(images, progress=progress, max_pixels=max_pixels,
                                            image_size=pipeline.image_size if pipeline.kind != "stored" else None)
    for s in skipped:
        echo(f"  skipped {s}")
    if skipped and submission and not allow_skipped:
        raise DatasetError(
            f"{len(skipped)} image(s) could not be read (listed above); a submission needs a row for every id. "
            "Fix or remove them, or pass --allow-skipped to give them uniform probabilities."
        )
    n_classes = len(pipeline.class_names)
    proba = np.full((len(ids), n_classes), 1.0 / n_classes)
    if len(kept):
        proba[kept] = pipeline.predict_proba(batch)
    reasons = skipped_reasons(len(ids), kept, skipped)
    result = PredictResult(pipeline, list(ids), proba, reasons, list(skipped))
    if out:
        from cvtoolkit.io.csv_safe import csv_text

        mark = "skipped_reason" if "skipped" in pipeline.class_names else "skipped"
        rows = [["id", "predicted", *pipeline.class_names, mark]]
        for i, row, reason in zip(ids, proba, reasons):
            if reason:  # no prediction: not a uniform guess that looks like one
                rows.append([i, "", *([""] * n_classes), reason])
            else:
                rows.append([i, pipeline.class_names[int(row.argmax())], *(f"{p:.6g}" for p in row), ""])
        write_text_atomic(out, csv_text(rows))
    if submission:
        result.submission_rows = write_submission(submission, ids, proba, pipeline.class_names, fmt=fmt,
                                                  positive=positive, clip=clip)
    return result
