"""What a leaderboard row costs: the size of its saved pipeline, and the accuracy-speed Pareto front.

:func:`pipeline_size_bytes` saves a fitted method exactly as ``cvtoolkit
fit`` would (:func:`cvtoolkit.methods.artifact.save_pipeline`) into a
temporary folder and adds up the file sizes, so the ``size_bytes`` column of
``compare`` is the disk footprint a user would deploy.
:func:`~cvtoolkit.evaluate.plots.pareto_front` and
:func:`~cvtoolkit.evaluate.plots.plot_pareto` (re-exported here) put the
sort metric against prediction time per image.

Examples
--------
>>> rows = [{"method": "a", "accuracy": 0.9, "predict_ms_per_image": 1.0},
...         {"method": "b", "accuracy": 0.8, "predict_ms_per_image": 0.1},
...         {"method": "c", "accuracy": 0.7, "predict_ms_per_image": 2.0}]
>>> pareto_front(rows, "accuracy")
['a', 'b']
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

from cvtoolkit.evaluate.plots import LOWER_IS_BETTER, pareto_front, plot_pareto  # noqa: F401  (moved to evaluate)

__all__ = ["folder_size_bytes", "pareto_front", "pipeline_size_bytes", "plot_pareto", "row_size_bytes"]


def folder_size_bytes(path: str | os.PathLike) -> int:
    """Total size in bytes of the files under ``path``.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); _ = open(os.path.join(d, "x"), "wb").write(b"12345")
    >>> folder_size_bytes(d)
    5
    """
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def pipeline_size_bytes(
    estimator: Any,
    *,
    method: str,
    class_names: Sequence[str],
    image_size: Any = None,
    channels: int | None = None,
    kind: str | None = None,
    path: str | os.PathLike | None = None,
    extra: dict | None = None,
) -> int:
    """Bytes the fitted ``estimator`` takes on disk when saved as ``cvtoolkit fit`` saves it.

    Parameters
    ----------
    estimator
        A fitted method (``Pipeline`` of features and classifier, a
        classifier on stored features, or a Keras estimator).
    method, class_names, image_size, channels, kind, extra
        As :func:`cvtoolkit.methods.artifact.save_pipeline`.
    path : path, optional
        Save the pipeline there and keep it (``compare --keep``); by default
        it goes to a temporary folder, deleted afterwards (and not logged).

    Examples
    --------
    >>> import numpy as np
    >>> from cvtoolkit.methods import make_method
    >>> est = make_method("raw+knn").fit(np.zeros((4, 8, 8, 3), np.uint8), [0, 1, 0, 1])
    >>> pipeline_size_bytes(est, method="raw+knn", class_names=["a", "b"]) > 4 * 8 * 8 * 3
    True
    """
    from cvtoolkit.methods.artifact import save_pipeline

    if path is not None:
        # not logged either: compare --keep best prunes the others, and its summary names what it kept
        out = save_pipeline(estimator, path, method=method, class_names=class_names, image_size=image_size,
                            channels=channels, kind=kind, extra=extra)
        return folder_size_bytes(out)
    tmp = Path(tempfile.mkdtemp(prefix="cvtoolkit-size-"))
    try:
        out = save_pipeline(estimator, tmp / "pipeline", method=method, class_names=class_names,
                            image_size=image_size, channels=channels, kind=kind, extra=extra)
        return folder_size_bytes(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def row_size_bytes(spec: Any, fitted: Any, *, transformer: Any = None, train: Any = None,
                   class_names: Sequence[str] = (), path: str | os.PathLike | None = None,
                   extra: dict | None = None) -> int:
    """``size_bytes`` of one ``compare`` row: its method as ``cvtoolkit fit`` would save it.

    ``fitted`` is the row's fitted classifier (classical and stored rows) or
    network estimator (CNN rows); for a classical row ``transformer`` is its
    descriptor, fitted here on ``train`` when the features came from the
    cache (most descriptors fit in no time; a bag of words refits its
    vocabulary), so the size is that of the whole pipeline. With ``path``
    the pipeline is kept there (``compare --keep``), ``extra`` in its manifest.
    """
    images = getattr(train, "images", None)
    same_size = images is not None and getattr(images, "dtype", object) != object and images.ndim >= 3
    size = [int(images.shape[1]), int(images.shape[2])] if same_size else None
    channels = int(images.shape[-1]) if same_size and images.ndim == 4 else None
    estimator = fitted
    if spec.kind == "classical":
        from sklearn.exceptions import NotFittedError
        from sklearn.pipeline import Pipeline
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(transformer)
        except NotFittedError:
            transformer.fit(train.images, train.labels)
        estimator = Pipeline([("features", transformer), ("classifier", fitted)])
    return pipeline_size_bytes(estimator, method=spec.name, class_names=class_names, image_size=size,
                               channels=channels, kind=spec.kind, path=path, extra=extra)
