"""One way to get class probabilities from a Keras model, an estimator or a function."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Predictor = Any
"""A ``keras.Model`` (``predict``), an estimator with ``predict_proba``, or a
function ``batch -> (n, classes)`` scores."""


def predict_scores(model: Predictor, batch: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """``(n, classes)`` float32 scores of ``model`` on ``batch``.

    ``predict_proba`` is preferred (scikit-learn estimators, cvtoolkit
    methods), then Keras' ``predict`` (without a progress bar), then a plain
    call.
    """
    if hasattr(model, "predict_proba"):
        out = model.predict_proba(batch)
    elif hasattr(model, "predict") and hasattr(model, "layers"):
        out = model.predict(batch, batch_size=batch_size, verbose=0)
    elif callable(model):
        out = model(batch)
    else:
        raise TypeError(
            f"cannot predict with {type(model).__name__}: expected a keras.Model, an estimator with "
            "predict_proba, or a function batch -> (n, classes) probabilities."
        )
    if isinstance(out, (list, tuple, dict)):
        raise ValueError(
            "the model returned several outputs; ten-crop, TTA and ensembles need one "
            "(n, classes) output. Wrap it in a function that returns the class probabilities."
        )
    out = np.asarray(_to_numpy(out), dtype=np.float32)
    if out.ndim != 2 or len(out) != len(batch):
        raise ValueError(
            f"expected predictions shaped ({len(batch)}, classes); got {out.shape}. The model must "
            "end with a Dense(classes) layer (include_top=True)."
        )
    return out


def _to_numpy(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x
    import keras  # only needed for backend tensors

    return keras.ops.convert_to_numpy(x)


def apply(fn: Callable[[np.ndarray], Any] | None, batch: np.ndarray) -> np.ndarray:
    """``fn(batch)`` as a NumPy array, or ``batch`` when ``fn`` is None."""
    return batch if fn is None else np.asarray(_to_numpy(fn(batch)))


def check_batch(images: Any, what: str) -> np.ndarray:
    """A 4-D ``(N, H, W, C)`` array, or a clear error."""
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise ValueError(
            f"{what} needs a batch of images shaped (N, height, width, channels); got shape {arr.shape}. "
            "Add the batch axis (images[None]) for one image, or the channel axis for grey images."
        )
    return arr


def chunks(n: int, size: int):
    """``slice`` objects covering ``range(n)`` in steps of ``size``."""
    size = max(1, int(size))
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))
