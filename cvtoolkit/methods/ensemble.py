"""Late fusion: one row that combines the probabilities of the other rows of its side.

The classical literature's strongest systems combined several descriptors
(Nilsback & Zisserman's multiple kernels on Flowers-17: 88.3%, against 71.8%
for one bag of words). ``classical_ensemble`` does the same with the rows a
compare has already fitted: a weighted mean of the classical rows'
probabilities; ``deep_ensemble`` likewise for the deep rows that are a
classifier on backbone features. So the verdict compares the best classical
*system* with the best deep *system*.

The weights never see the test split. Each member's classifier is refitted on
inner stratified folds of the *training* split (its features as the row
computed them), its out-of-fold probabilities of the training images are
collected, and the weights on the simplex that minimise the out-of-fold log
loss are chosen (a linear opinion pool). The test probabilities are then the
weighted mean of the members' test probabilities, each from its classifier
fitted on the whole training split, exactly as its own row scored it.

CNN and fine-tuning rows are not members: out-of-fold probabilities would
mean training each network again per fold.

Examples
--------
>>> import numpy as np
>>> y = np.array([0, 1, 0, 1])
>>> good = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.1, 0.9]])
>>> bad = np.full((4, 2), 0.5)
>>> fusion_weights([good, bad], y).round(2).tolist()
[1.0, 0.0]
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["ENSEMBLE_ROWS", "INNER_FOLDS", "EnsembleFit", "fusion_weights", "out_of_fold_proba", "fit_late_fusion"]

ENSEMBLE_ROWS = {"classical_ensemble": False, "deep_ensemble": True}
"""Ensemble row names and whether each is a deep row."""

INNER_FOLDS = 3
"""Stratified folds of the training split giving the members' out-of-fold probabilities."""

_EPS = 1e-12


def fusion_weights(probas: Sequence[np.ndarray], y: np.ndarray, *, max_iter: int = 500) -> np.ndarray:
    """Weights on the simplex minimising the log loss of ``sum_m w_m probas[m]``.

    Parameters
    ----------
    probas : sequence of ndarray of shape (N, C)
        Each member's (out-of-fold) class probabilities for the same ``N`` samples.
    y : ndarray of shape (N,)
        True labels (column indices).

    Returns
    -------
    ndarray of shape (M,)
        Non-negative weights summing to 1 (weights under 1e-3 are set to 0).
    """
    from scipy.optimize import minimize

    y = np.asarray(y, dtype=np.int64)
    # Each member's probability of the true class: the objective only needs these.
    p_true = np.stack([np.asarray(p, np.float64)[np.arange(len(y)), y] for p in probas], axis=1)  # (N, M)
    m = p_true.shape[1]
    if m == 1:
        return np.ones(1)

    def loss(z: np.ndarray) -> tuple[float, np.ndarray]:
        w = np.exp(z - z.max())
        w /= w.sum()
        mix = p_true @ w + _EPS
        value = -np.mean(np.log(mix))
        grad_w = -np.mean(p_true / mix[:, None], axis=0)
        grad_z = w * (grad_w - np.dot(w, grad_w))  # through the softmax
        return float(value), grad_z

    result = minimize(loss, np.zeros(m), jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    w = np.exp(result.x - result.x.max())
    w /= w.sum()
    w[w < 1e-3] = 0.0
    return w / w.sum()


def out_of_fold_proba(estimator: Any, X: np.ndarray, y: np.ndarray, *, n_classes: int, folds: int = INNER_FOLDS,
                      seed: int = 42) -> np.ndarray:
    """Out-of-fold class probabilities of ``estimator`` (cloned, unfitted) on ``(X, y)``: ``(N, n_classes)``.

    Columns follow the labels ``0..n_classes-1`` even when a fold's classifier
    saw fewer classes.
    """
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    from cvtoolkit.methods.build import full_proba

    y = np.asarray(y, dtype=np.int64)
    out = np.zeros((len(y), n_classes))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_idx, held_idx in splitter.split(np.zeros(len(y)), y):
        model = clone(estimator).fit(X[fit_idx], y[fit_idx])
        out[held_idx] = full_proba(model.predict_proba(X[held_idx]), getattr(model, "classes_", None), n_classes)
    return out


@dataclass
class EnsembleFit:
    """A fitted late fusion: its test probabilities, the weight of each member, the seconds it took."""

    proba: np.ndarray
    weights: dict[str, float]
    seconds: float


def fit_late_fusion(members: Mapping[str, tuple[Any, np.ndarray]], test_probas: Mapping[str, np.ndarray],
                    y_train: np.ndarray, *, n_classes: int, seed: int = 42) -> EnsembleFit:
    """Fit the fusion weights on the training split's out-of-fold probabilities; combine the test ones.

    Parameters
    ----------
    members : mapping
        Row name -> ``(classifier, X_train)``: the row's classifier with its
        hyper-parameters (fitted or not: it is cloned) and its training features.
    test_probas : mapping
        Row name -> the row's test probabilities ``(N_test, n_classes)``.
    y_train : ndarray
        Training labels.

    Raises
    ------
    ValueError
        Fewer than two members, or a class with fewer training images than
        :data:`INNER_FOLDS` (the message says which and what to do).
    """
    names = list(members)
    if len(names) < 2:
        raise ValueError(f"late fusion needs at least two member rows of its side; got {len(names)} "
                         f"({', '.join(names) or 'none'}): add rows with --methods")
    y_train = np.asarray(y_train, dtype=np.int64)
    counts = np.bincount(y_train, minlength=n_classes)
    present = counts[counts > 0]
    if present.min() < INNER_FOLDS:
        small = int(np.flatnonzero((counts > 0) & (counts < INNER_FOLDS))[0])
        raise ValueError(f"class {small} has {int(counts[small])} training images; the fusion weights need "
                         f"{INNER_FOLDS} per class for their inner folds: use a smaller test split or more images")
    t0 = time.perf_counter()
    oof = []
    for name in names:
        estimator, X = members[name]
        logger.info("fusion: out-of-fold probabilities of %s", name)
        oof.append(out_of_fold_proba(estimator, X, y_train, n_classes=n_classes, seed=seed))
    weights = fusion_weights(oof, y_train)
    proba = sum(w * np.asarray(test_probas[n], np.float64) for w, n in zip(weights, names))
    return EnsembleFit(np.asarray(proba), {n: round(float(w), 4) for n, w in zip(names, weights)},
                       time.perf_counter() - t0)
