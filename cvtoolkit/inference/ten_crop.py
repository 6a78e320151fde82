"""10-crop over-sampling: average the predictions on ten crops of each image.

The crops are the four corners and the centre at ``crop_size``, and their
horizontal mirrors (:func:`cvtoolkit.data.preprocessing.ten_crops`), as in
Krizhevsky et al. (2012) and the AlexNet chapter of *Deep Learning for
Computer Vision*: train on random ``crop_size`` patches of larger images
(``RandomPatch``), then predict on ten fixed crops. It typically adds one to
two points of rank-1 accuracy for the price of ten forward passes.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import numpy as np

from cvtoolkit.data.preprocessing import ten_crops
from cvtoolkit.inference._predict import Predictor, apply, chunks, predict_scores

logger = logging.getLogger(__name__)

__all__ = ["ten_crop_predict", "ten_crops"]


def ten_crop_predict(
    model: Predictor,
    images: np.ndarray | Sequence[np.ndarray],
    crop_size: int | Sequence[int],
    *,
    batch_size: int = 32,
    preprocess: Callable[[np.ndarray], Any] | None = None,
) -> np.ndarray:
    """Class probabilities averaged over ten crops of each image.

    Parameters
    ----------
    model : keras.Model, estimator or callable
        Anything with ``predict_proba``, a Keras model (``predict``), or a
        function ``batch -> (n, classes)`` probabilities. Its input size must
        be ``crop_size``.
    images : array (N, H, W, C) or list of (H, W, C) arrays
        Images at least ``crop_size`` large; a list may mix sizes.
    crop_size : int or (height, width)
        Size of each crop.
    batch_size : int, default 32
        Images per step (each step predicts ``10 * batch_size`` crops).
    preprocess : callable, optional
        Applied to each ``(n, h, w, C)`` batch of crops before predicting
        (e.g. ``lambda x: x / 255.0`` when the model expects scaled input).

    Returns
    -------
    ndarray of float32, shape (N, classes)
        Mean of the ten crops' probabilities for each image.

    Examples
    --------
    >>> import numpy as np
    >>> images = np.random.default_rng(0).integers(0, 256, (3, 10, 10, 3), dtype=np.uint8)
    >>> mean_red = lambda batch: np.stack([batch[..., 0].mean((1, 2)), batch[..., 1].mean((1, 2))], 1)
    >>> ten_crop_predict(mean_red, images, 8).shape
    (3, 2)
    """
    if isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise ValueError(
                f"ten_crop_predict needs images shaped (N, height, width, channels) or a list of "
                f"(height, width, channels) arrays; got shape {images.shape}."
            )
    n = len(images)
    if n == 0:
        raise ValueError("ten_crop_predict got no images")
    parts = []
    for part in chunks(n, batch_size):
        group = [np.asarray(images[i]) for i in range(part.start, part.stop)]
        for image in group:
            if image.ndim != 3:
                raise ValueError(
                    f"each image must be (height, width, channels); got shape {image.shape}."
                )
        crops = np.concatenate([ten_crops(image, crop_size) for image in group])
        scores = predict_scores(model, apply(preprocess, crops), batch_size=10 * len(group))
        parts.append(scores.reshape(len(group), 10, -1).mean(axis=1))
    logger.debug("ten-crop predictions for %d images at crop size %s", n, crop_size)
    return np.concatenate(parts).astype(np.float32)
