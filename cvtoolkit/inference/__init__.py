"""Prediction extras: 10-crop over-sampling, test-time augmentation, ensembles, rank-k.

Each function takes a Keras model, an estimator with ``predict_proba`` or a
plain function ``batch -> (n, classes)`` probabilities, and returns the
averaged ``(N, classes)`` float32 probabilities.

- :func:`ten_crop_predict`: four corners + centre + their mirrors.
- :func:`tta_predict`: mean over ``n`` augmented passes (plus the plain one).
- :func:`ensemble_predict`: mean over several saved ``.keras`` models.
- :func:`rank_k` / :func:`rank1_rank5`: top-k accuracy of the result.

Examples
--------
>>> import numpy as np
>>> from cvtoolkit.inference import ensemble_predict, rank_k
>>> x = np.zeros((2, 4, 4, 3))
>>> proba = ensemble_predict([lambda b: np.tile([0.2, 0.8], (len(b), 1))] * 2, x)
>>> rank_k([1, 0], proba, 1)
0.5
"""

from cvtoolkit.inference.ensemble import ensemble_predict, load_models
from cvtoolkit.inference.rank import rank1_rank5, rank_k, rank_k_accuracy
from cvtoolkit.inference.ten_crop import ten_crop_predict, ten_crops
from cvtoolkit.inference.tta import tta_predict

__all__ = [
    "ensemble_predict",
    "load_models",
    "rank1_rank5",
    "rank_k",
    "rank_k_accuracy",
    "ten_crop_predict",
    "ten_crops",
    "tta_predict",
]
