"""Ensembles of saved models: average the class probabilities of several nets.

Train the same architecture a few times (different seeds) or different
architectures on the same classes, save each as ``.keras``, then average.
The models must agree on the number of classes and on the input shape; the
check happens before any prediction.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Sequence

import numpy as np

from cvtoolkit.errors import ModelError
from cvtoolkit.inference._predict import apply, predict_scores

logger = logging.getLogger(__name__)

__all__ = ["ensemble_predict", "load_models"]

PathOrModel = Any
"""A ``.keras`` path (str or ``os.PathLike``), a ``keras.Model``, an estimator or a function."""


def _load(path: str | os.PathLike) -> Any:
    import keras

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelError(f"model file {path} does not exist; expected a .keras file saved by model.save().")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as err:
        raise ModelError(
            f"cannot load {path} as a Keras model: {err}. Expected a .keras file saved by model.save() "
            "(Keras 3); a legacy .h5 model must be re-saved as .keras."
        ) from err


def _signature(model: Any) -> tuple[tuple | None, int | None]:
    """``(input shape without batch, number of classes)`` of a Keras model, else ``(None, None)``."""
    try:
        in_shape = tuple(model.input_shape[1:])
        out_shape = model.output_shape
    except (AttributeError, ValueError):
        return None, None
    if isinstance(out_shape, list) or not isinstance(out_shape, tuple):
        raise ModelError(f"model {getattr(model, 'name', model)!r} has several outputs; an ensemble needs one.")
    return in_shape, out_shape[-1]


def load_models(models: Sequence[PathOrModel]) -> list[Any]:
    """Load the paths among ``models`` and check that all agree.

    Parameters
    ----------
    models : sequence of path or model
        ``.keras`` files and/or built models (estimators or functions pass
        through; they are checked on their predictions instead).

    Returns
    -------
    list
        The models, in order.

    Raises
    ------
    ModelError
        A file is missing or unreadable, or two models differ in input shape
        or number of classes (the message lists every model's shapes).

    Examples
    --------
    >>> import keras
    >>> a = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> b = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> load_models([a, b])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cvtoolkit.errors.ModelError: the models do not agree ...
    """
    if isinstance(models, (str, os.PathLike)) or not len(models):
        raise ValueError("an ensemble needs a non-empty list of models or .keras paths")
    loaded, labels = [], []
    for item in models:
        if isinstance(item, (str, os.PathLike)):
            loaded.append(_load(item))
            labels.append(os.fspath(item))
        else:
            loaded.append(item)
            labels.append(getattr(item, "name", type(item).__name__))
    sigs = [_signature(m) for m in loaded]
    known = [(label, sig) for label, sig in zip(labels, sigs) if sig[0] is not None]
    if len({sig for _, sig in known}) > 1:
        listing = "; ".join(f"{label}: input {sig[0]}, {sig[1]} classes" for label, sig in known)
        raise ModelError(
            f"the models do not agree on input shape and number of classes ({listing}). An ensemble "
            "averages probabilities over the same classes: use models trained on the same classes and "
            "image size."
        )
    return loaded


def ensemble_predict(
    models: Sequence[PathOrModel],
    images: np.ndarray,
    *,
    batch_size: int = 32,
    preprocess: Callable[[np.ndarray], Any] | None = None,
) -> np.ndarray:
    """Mean of the class probabilities of several models.

    Parameters
    ----------
    models : sequence of path or model
        ``.keras`` files (loaded with ``keras.saving.load_model``, no custom
        objects needed for cvtoolkit models), Keras models, estimators with
        ``predict_proba``, or functions ``batch -> probabilities``.
    images : array (N, H, W, C)
        The batch to predict (already at the models' input size).
    batch_size : int, default 32
        Prediction batch size.
    preprocess : callable, optional
        Applied to ``images`` once, before every model.

    Returns
    -------
    ndarray of float32, shape (N, classes)

    Raises
    ------
    ModelError
        See :func:`load_models`; also when predictions differ in width.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((2, 4, 4, 3))
    >>> half = lambda b: np.tile([0.5, 0.5], (len(b), 1))
    >>> first = lambda b: np.tile([1.0, 0.0], (len(b), 1))
    >>> ensemble_predict([half, first], x).tolist()
    [[0.75, 0.25], [0.75, 0.25]]
    """
    loaded = load_models(models)
    batch = apply(preprocess, np.asarray(images))
    total = None
    for i, model in enumerate(loaded):
        scores = predict_scores(model, batch, batch_size)
        if total is not None and scores.shape != total.shape:
            raise ModelError(
                f"model {i} predicts {scores.shape[1]} classes but model 0 predicts {total.shape[1]}; "
                "an ensemble needs models over the same classes."
            )
        if scores.size and (scores.min() < -1e-6 or not np.allclose(scores.sum(axis=1), 1.0, atol=1e-3)):
            logger.warning(
                "model %d does not output probabilities (rows do not sum to 1); averaging raw scores. "
                "Build models with classifier_activation='softmax' for a probability ensemble.", i
            )
        total = scores if total is None else total + scores
    return (total / len(loaded)).astype(np.float32)
