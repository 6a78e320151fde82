"""Rank-1 / rank-5 accuracy, re-exported from :mod:`cvtoolkit.evaluate.metrics`.

``rank_k`` is :func:`cvtoolkit.evaluate.metrics.rank_k_accuracy` under a
short name; :func:`rank1_rank5` gives both numbers the ImageNet-style
reports quote.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cvtoolkit.evaluate.metrics import rank_k_accuracy

rank_k = rank_k_accuracy

__all__ = ["rank_k", "rank_k_accuracy", "rank1_rank5"]


def rank1_rank5(y_true: Sequence[int] | np.ndarray, proba: np.ndarray) -> tuple[float, float]:
    """``(rank-1, rank-5)`` accuracy of ``proba`` against ``y_true``.

    Examples
    --------
    >>> import numpy as np
    >>> proba = np.eye(6)[[1, 2]] * 0.5 + np.arange(6) / 100
    >>> rank1_rank5([1, 0], proba)
    (0.5, 0.5)
    """
    return rank_k_accuracy(y_true, proba, 1), rank_k_accuracy(y_true, proba, 5)
