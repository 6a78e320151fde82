"""Hyper-parameter spaces for the named classifiers, and a search helper.

:func:`search_space` gives, for each name in
:data:`~cvtoolkit.classifiers.CLASSIFIERS`, a grid in the parameter names of
the pipeline :func:`~cvtoolkit.classifiers.make_classifier` builds
(``clf__n_neighbors``, ``clf__estimator__C``, ...), or distributions for a
randomised search. :func:`fit_with_search` runs
:class:`~sklearn.model_selection.GridSearchCV` or
:class:`~sklearn.model_selection.RandomizedSearchCV` over it on the training
split it is given and returns the refitted best model, its parameters and a
JSON-ready summary of every candidate.

Examples
--------
>>> from sklearn.datasets import make_classification
>>> from cvtoolkit.classifiers import make_classifier, fit_with_search
>>> X, y = make_classification(n_samples=90, n_features=6, random_state=0)
>>> model, best, summary = fit_with_search(make_classifier("knn"), X, y, name="knn")
>>> sorted(best)
['clf__n_neighbors', 'clf__weights']
>>> summary["n_candidates"]
10
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy.stats import loguniform, randint, uniform
from sklearn.base import BaseEstimator

from .registry import _spec

__all__ = ["search_space", "fit_with_search"]

logger = logging.getLogger(__name__)

# Grids are small on purpose: a search runs cv folds per candidate, and the
# calibrated SVMs fit 1 + 3 models per fold.
_GRIDS: dict[str, dict[str, list]] = {
    "knn": {
        "clf__n_neighbors": [1, 3, 5, 7, 9],
        "clf__weights": ["uniform", "distance"],
    },
    "linear_svm": {
        "clf__estimator__C": [0.0001, 0.001, 0.01, 0.1],
    },
    "rbf_svm": {
        "clf__estimator__C": [0.1, 1.0, 10.0, 100.0],
        "clf__estimator__gamma": ["scale", 1e-4, 1e-3, 1e-2],
    },
    "logreg": {
        "clf__C": [0.001, 0.01, 0.1, 1.0, 10.0],
    },
    "ridge": {
        "clf__estimator__alpha": [0.01, 0.1, 1.0],
    },
    "chi2_svm": {
        "clf__estimator__C": [0.1, 1.0, 10.0],
    },
    "random_forest": {
        "clf__n_estimators": [100, 300],
        "clf__max_features": ["sqrt", "log2"],
        "clf__max_depth": [None, 16],
    },
    "gradient_boosting": {
        "clf__learning_rate": [0.05, 0.1, 0.2],
        "clf__max_leaf_nodes": [15, 31, 63],
    },
}


def _distributions(name: str) -> dict[str, Any]:
    if name == "knn":
        return {"clf__n_neighbors": randint(1, 16),
                "clf__weights": ["uniform", "distance"]}
    if name == "linear_svm":
        return {"clf__estimator__C": loguniform(1e-5, 1.0)}
    if name == "rbf_svm":
        return {"clf__estimator__C": loguniform(1e-2, 1e3),
                "clf__estimator__gamma": loguniform(1e-5, 1e-1)}
    if name == "logreg":
        return {"clf__C": loguniform(1e-4, 1e2)}
    if name == "ridge":
        return {"clf__estimator__alpha": loguniform(1e-3, 1e1)}
    if name == "chi2_svm":
        return {"clf__estimator__C": loguniform(1e-2, 1e2)}
    if name == "random_forest":
        return {"clf__n_estimators": randint(100, 501),
                "clf__max_features": ["sqrt", "log2", 0.1, 0.2],
                "clf__max_depth": [None, 8, 16, 32],
                "clf__min_samples_leaf": randint(1, 6)}
    return {  # gradient_boosting
        "clf__learning_rate": loguniform(0.01, 0.3),
        "clf__max_leaf_nodes": randint(8, 64),
        "clf__min_samples_leaf": randint(5, 50),
        "clf__l2_regularization": uniform(0.0, 1.0),
    }


def search_space(name: str, kind: str = "grid") -> dict[str, Any]:
    """Return the hyper-parameter space searched for a named classifier.

    Parameters
    ----------
    name : str
        A name from :data:`~cvtoolkit.classifiers.CLASSIFIERS`.
    kind : {"grid", "random"}, default="grid"
        ``"grid"`` gives lists of values (for ``GridSearchCV``); ``"random"``
        gives SciPy distributions or lists (for ``RandomizedSearchCV``).

    Returns
    -------
    dict
        Parameter names of the pipeline that
        :func:`~cvtoolkit.classifiers.make_classifier` builds, mapped to
        values. A fresh dict on every call: change it freely.

    Raises
    ------
    ValueError
        For an unknown name or kind.

    Examples
    --------
    >>> search_space("linear_svm")
    {'clf__estimator__C': [0.0001, 0.001, 0.01, 0.1]}
    """
    _spec(name)  # validates the name
    if kind == "grid":
        return {key: list(values) for key, values in _GRIDS[name].items()}
    if kind == "random":
        return _distributions(name)
    raise ValueError(f"unknown search space kind {kind!r}; expected 'grid' or 'random'.")


def _plain(value: Any) -> Any:
    """NumPy scalars to Python ones, so summaries serialise as JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _resolve_prefix(estimator: BaseEstimator, keys: list[str],
                     param_prefix: str | None) -> str:
    valid = estimator.get_params(deep=True)
    if param_prefix is not None:
        prefixes = [param_prefix]
    else:
        # The classifier may sit inside a bigger pipeline
        # (features -> classifier): find the step whose parameters match.
        prefixes = [""] + sorted({k.rsplit("__", 1)[0] + "__" for k in valid
                                  if "__" in k} | {k + "__" for k in valid})
    for prefix in prefixes:
        if all(prefix + key in valid for key in keys):
            return prefix
    missing = [key for key in keys if (prefixes[0] + key) not in valid]
    where = "" if param_prefix is not None else " and under every step"
    raise ValueError(
        f"the estimator has no parameter(s) {', '.join(missing)} "
        f"(looked for them with prefix {prefixes[0]!r}{where}); "
        "pass the estimator make_classifier(name) built for this name, or "
        "param_prefix='<step>__' when it sits inside a larger pipeline."
    )


def fit_with_search(
    estimator: BaseEstimator,
    X: Any,
    y: Any,
    *,
    name: str,
    search: str = "grid",
    cv: int = 3,
    n_iter: int = 10,
    n_jobs: int | None = None,
    random_state: int | None = 42,
    scoring: str = "accuracy",
    param_grid: dict[str, Any] | None = None,
    param_prefix: str | None = None,
) -> tuple[BaseEstimator, dict[str, Any], dict[str, Any]]:
    """Tune a classifier by cross-validated search on a training split.

    Parameters
    ----------
    estimator : estimator
        Unfitted, usually ``make_classifier(name)``; it may also be a larger
        pipeline that contains it (see ``param_prefix``).
    X : array-like of shape (n_samples, n_features)
        Training features (only the training split: the search must not see
        the test set).
    y : array-like of shape (n_samples,)
        Training labels.
    name : str
        Classifier name whose :func:`search_space` is searched.
    search : {"grid", "random"}, default="grid"
        ``GridSearchCV`` over the grid, or ``RandomizedSearchCV`` drawing
        ``n_iter`` candidates from the distributions.
    cv : int, default=3
        Stratified folds; every class needs at least ``cv`` samples.
    n_iter : int, default=10
        Candidates drawn by a random search.
    n_jobs : int or None, default=None
        Candidates and folds fitted in parallel.
    random_state : int or None, default=42
        Seed of the random search and of the fold shuffling.
    scoring : str, default="accuracy"
        Scikit-learn scorer name.
    param_grid : dict, optional
        Search this space instead of ``search_space(name, search)``.
    param_prefix : str, optional
        Prefix put before every parameter name (``"classifier__"`` when the
        classifier is a step of a bigger pipeline). By default found
        automatically.

    Returns
    -------
    best_estimator : estimator
        A clone of ``estimator`` with the best parameters, refitted on all of
        ``X``.
    best_params : dict
        The best parameters, in the estimator's own parameter names.
    summary : dict
        ``search``, ``cv``, ``scoring``, ``best_score``, ``n_candidates`` and
        ``candidates``: one dict per candidate (``rank``, ``params``,
        ``mean_score``, ``std_score``, ``mean_fit_time``), best first.

    Raises
    ------
    ValueError
        For an unknown name or search, a class with fewer than ``cv``
        samples, or parameters the estimator does not have.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from cvtoolkit.classifiers import make_classifier
    >>> X, y = make_classification(n_samples=90, n_features=6, random_state=0)
    >>> model, best, summary = fit_with_search(
    ...     make_classifier("logreg"), X, y, name="logreg")
    >>> best["clf__C"] in search_space("logreg")["clf__C"]
    True
    """
    from sklearn.model_selection import (GridSearchCV, RandomizedSearchCV,
                                         StratifiedKFold)

    if search not in ("grid", "random"):
        raise ValueError(f"unknown search {search!r}; expected 'grid' or 'random'.")
    space = search_space(name, search) if param_grid is None else dict(param_grid)
    y_arr = np.asarray(y)
    _, counts = np.unique(y_arr, return_counts=True)
    if len(counts) < 2:
        raise ValueError("a search needs at least 2 classes in y; got "
                         f"{len(counts)}.")
    if counts.min() < cv:
        raise ValueError(
            f"the smallest class has {int(counts.min())} training sample(s), "
            f"fewer than cv={cv} folds; use a smaller cv or more samples per class."
        )
    prefix = _resolve_prefix(estimator, list(space), param_prefix)
    space = {prefix + key: value for key, value in space.items()}

    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    if search == "grid":
        searcher = GridSearchCV(estimator, space, scoring=scoring, cv=folds,
                                n_jobs=n_jobs, refit=True, error_score="raise")
    else:
        searcher = RandomizedSearchCV(estimator, space, n_iter=n_iter,
                                      scoring=scoring, cv=folds, n_jobs=n_jobs,
                                      refit=True, random_state=random_state,
                                      error_score="raise")
    logger.info("searching %s: %s over %s", name, search, sorted(space))
    searcher.fit(X, y_arr)

    results = searcher.cv_results_
    order = np.argsort(results["rank_test_score"], kind="stable")
    candidates = [
        {
            "rank": int(results["rank_test_score"][i]),
            "params": {k: _plain(v) for k, v in results["params"][i].items()},
            "mean_score": float(results["mean_test_score"][i]),
            "std_score": float(results["std_test_score"][i]),
            "mean_fit_time": float(results["mean_fit_time"][i]),
        }
        for i in order
    ]
    best_params = {k: _plain(v) for k, v in searcher.best_params_.items()}
    summary = {
        "search": search,
        "cv": cv,
        "scoring": scoring,
        "best_score": float(searcher.best_score_),
        "n_candidates": len(candidates),
        "candidates": candidates,
    }
    logger.info("best %s: %s (cv %s %.4f)", name, best_params, scoring,
                summary["best_score"])
    return searcher.best_estimator_, best_params, summary


def fit_pipeline_with_search(
    pipeline: BaseEstimator,
    X: Any,
    y: Any,
    *,
    name: str,
    search: str = "grid",
    n_jobs: int | None = None,
    random_state: int | None = 42,
    **options: Any,
) -> tuple[BaseEstimator, dict[str, Any], dict[str, Any]]:
    """Fit a ``features -> classifier`` pipeline, searching only the classifier's parameters.

    A scikit-learn ``Pipeline`` with a ``"features"`` and a ``"classifier"``
    step (what :func:`cvtoolkit.methods.make_method` builds for a classical
    row) has its descriptor fitted once on ``X``, and the search runs on the
    described features, so the descriptor is not refitted per candidate; the
    best classifier replaces the pipeline's last step. Any other estimator
    (a stored-feature classifier) is searched as a whole.

    Parameters
    ----------
    pipeline : estimator
        Unfitted; a ``Pipeline([("features", ...), ("classifier", ...)])``
        or a classifier.
    X, y
        Training images (or feature rows) and labels.
    name : str
        Classifier name whose :func:`search_space` is searched.
    search, n_jobs, random_state, **options
        As for :func:`fit_with_search`.

    Returns
    -------
    fitted : estimator
        ``pipeline`` itself (fitted, best classifier in place) or the best
        clone of a plain classifier.
    best_params, summary : dict
        As for :func:`fit_with_search`.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from cvtoolkit.classifiers import make_classifier
    >>> X, y = make_classification(n_samples=60, n_features=5, random_state=0)
    >>> pipe = Pipeline([("features", StandardScaler()), ("classifier", make_classifier("logreg"))])
    >>> fitted, best, _ = fit_pipeline_with_search(pipe, X, y, name="logreg")
    >>> fitted is pipe and fitted.predict(X).shape == (60,)
    True
    """
    steps = dict(getattr(pipeline, "named_steps", {}))
    if "features" not in steps or "classifier" not in steps:
        return fit_with_search(pipeline, X, y, name=name, search=search, n_jobs=n_jobs,
                               random_state=random_state, **options)
    features = steps["features"].fit(X, y)
    clf, best_params, summary = fit_with_search(steps["classifier"], features.transform(X), y, name=name,
                                                search=search, n_jobs=n_jobs, random_state=random_state, **options)
    pipeline.steps[-1] = ("classifier", clf)
    return pipeline, best_params, summary
