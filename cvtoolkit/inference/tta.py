"""Test-time augmentation: average the predictions over augmented copies.

Each of ``n`` passes augments the whole batch afresh (new random flips,
shifts, rotations...) and predicts; the class probabilities are averaged.
With ``include_original=True`` (the default) the plain, unaugmented pass is
averaged in as well, so the result is the mean of ``n + 1`` predictions.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable

import numpy as np

from cvtoolkit.inference._predict import Predictor, apply, check_batch, chunks, predict_scores

logger = logging.getLogger(__name__)

__all__ = ["tta_predict"]


def _takes_rng(fn: Callable) -> bool:
    """True when ``fn`` accepts a second positional argument (the generator)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


def _augmenter(augment: Any, seed: int | None) -> Callable[[np.ndarray], Any]:
    """A function ``batch -> augmented batch`` for a Keras layer or a callable."""
    try:
        import keras

        is_layer = isinstance(augment, keras.Layer)
    except ImportError:  # pragma: no cover - keras is a dependency
        is_layer = False
    if is_layer:
        # Random preprocessing layers only act in training mode.
        return lambda batch: augment(batch.astype(np.float32, copy=False), training=True)
    if not callable(augment):
        raise TypeError(
            f"augment must be a Keras layer (e.g. make_augmentation()) or a function batch -> batch; "
            f"got {type(augment).__name__}."
        )
    if _takes_rng(augment):
        rng = np.random.default_rng(seed)
        return lambda batch: augment(batch, rng)
    return augment


def tta_predict(
    model: Predictor,
    images: np.ndarray,
    augment: Any,
    n: int = 8,
    *,
    seed: int | None = None,
    include_original: bool = True,
    batch_size: int = 32,
    preprocess: Callable[[np.ndarray], Any] | None = None,
) -> np.ndarray:
    """Class probabilities averaged over ``n`` augmented passes.

    Parameters
    ----------
    model : keras.Model, estimator or callable
        Anything with ``predict_proba``, a Keras model (``predict``), or a
        function ``batch -> (n, classes)`` probabilities.
    images : array (N, H, W, C)
        The batch to predict.
    augment : keras.Layer or callable
        A Keras layer/``Sequential`` of random preprocessing layers (called
        with ``training=True``; its own ``seed=`` makes it repeatable, e.g.
        ``cvtoolkit.train.augmentation.make_augmentation(seed=0)``), or a
        function ``f(batch)`` or ``f(batch, rng)`` returning a batch of the
        same shape; ``rng`` is a ``numpy.random.Generator`` seeded with
        ``seed``.
    n : int, default 8
        Number of augmented passes.
    seed : int, optional
        Seed of the generator handed to a two-argument ``augment`` function.
    include_original : bool, default True
        Average the unaugmented pass in too (``n + 1`` predictions in all);
        ``False`` averages the ``n`` augmented passes only.
    batch_size : int, default 32
        Images per prediction step.
    preprocess : callable, optional
        Applied after augmentation, before predicting (e.g. scaling).

    Returns
    -------
    ndarray of float32, shape (N, classes)

    Examples
    --------
    >>> import numpy as np
    >>> images = np.random.default_rng(0).random((4, 8, 8, 3)).astype("float32")
    >>> predict = lambda x: np.stack([x.mean((1, 2, 3)), 1 - x.mean((1, 2, 3))], axis=1)
    >>> flip = lambda x: x[:, :, ::-1]
    >>> bool(np.allclose(tta_predict(predict, images, flip, n=4), predict(images)))
    True
    """
    images = check_batch(images, "tta_predict")
    n = int(n)
    if n < 0 or (n == 0 and not include_original):
        raise ValueError(f"n must be at least 1 (or 0 with include_original=True); got {n}.")
    if len(images) == 0:
        raise ValueError("tta_predict got no images")
    augmenter = _augmenter(augment, seed)
    total: np.ndarray | None = None
    passes = 0

    def add(pass_images_fn: Callable[[np.ndarray], Any]) -> None:
        nonlocal total, passes
        parts = [
            predict_scores(model, apply(preprocess, np.asarray(apply(pass_images_fn, images[part]))), batch_size)
            for part in chunks(len(images), batch_size)
        ]
        scores = np.concatenate(parts)
        total = scores if total is None else total + scores
        passes += 1

    if include_original:
        add(None)
    for _ in range(n):
        add(augmenter)
    logger.debug("TTA: averaged %d passes over %d images", passes, len(images))
    return (total / passes).astype(np.float32)
