"""Class weights from label counts, for training on imbalanced data.

Examples
--------
>>> class_weights_from_labels([0, 0, 0, 1])
{0: 0.6666666666666666, 1: 2.0}
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def class_weights_from_labels(
    y: Sequence[int] | np.ndarray, *, classes: Sequence[int] | int | None = None
) -> dict[int, float]:
    """Balanced class weights ``n_samples / (n_classes * count[c])``.

    This is scikit-learn's ``class_weight="balanced"`` formula: every class
    contributes the same total weight to the loss, and the mean weight per
    sample is 1, so the learning rate keeps its meaning. Pass the result to
    ``model.fit(class_weight=...)`` or :func:`cvtoolkit.train.fit`.

    Parameters
    ----------
    y : array-like of int
        Integer labels ``0..K-1`` (``-1``, unlabelled, is ignored).
    classes : int or sequence of int, optional
        All the classes the model has (an int ``K`` means ``range(K)``).
        Default: ``0..max(y)``. A class with no samples gets weight 0.

    Returns
    -------
    dict
        ``{class index: weight}``.

    Raises
    ------
    ValueError
        ``y`` is empty or holds labels that are not non-negative integers.

    Examples
    --------
    >>> w = class_weights_from_labels([0, 1, 1, 1, 2, 2])
    >>> {k: round(v, 3) for k, v in w.items()}
    {0: 2.0, 1: 0.667, 2: 1.0}
    """
    labels = np.asarray(y).reshape(-1)
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError("class weights need integer labels 0..K-1; encode string labels first")
        labels = labels.astype(np.int64)
    labels = labels[labels >= 0]
    if labels.size == 0:
        raise ValueError("cannot compute class weights: no labelled samples (y is empty or all -1)")
    if classes is None:
        class_ids = np.arange(int(labels.max()) + 1)
    elif isinstance(classes, (int, np.integer)):
        class_ids = np.arange(int(classes))
    else:
        class_ids = np.asarray(list(classes), dtype=np.int64)
    counts = np.bincount(labels, minlength=int(max(class_ids.max() + 1, labels.max() + 1)))
    present = counts[class_ids] > 0
    n_classes = int(present.sum())
    weights = {}
    for c, has in zip(class_ids.tolist(), present):
        weights[int(c)] = float(labels.size / (n_classes * counts[c])) if has else 0.0
    return weights
