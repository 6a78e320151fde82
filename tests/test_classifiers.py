"""Tests for cvtoolkit.classifiers: the registry and the search helper."""

from __future__ import annotations

import json

import numpy as np
import pytest
from threadpoolctl import threadpool_limits
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from cvtoolkit.classifiers import (
    CLASSIFIERS,
    describe_classifier,
    fit_with_search,
    make_classifier,
    model_param_prefix,
    search_space,
)


@pytest.fixture(autouse=True, scope="module")
def _one_native_thread():
    """One OpenMP/BLAS thread: on a shared, busy machine their spinning
    thread pools make tiny fits (gradient boosting, k-means) 10-50x slower."""
    with threadpool_limits(limits=1):
        yield


# Fewer trees / boosting rounds than the defaults keep the tests fast.
_SMALL = {"random_forest": {"n_estimators": 20}, "gradient_boosting": {"max_iter": 20}}


def _small(name: str, **kwargs):
    return make_classifier(name, **_SMALL.get(name, {}), **kwargs)


@pytest.fixture(scope="module")
def problem():
    X, y = make_classification(
        n_samples=120, n_features=10, n_informative=6, n_classes=3,
        n_clusters_per_class=1, random_state=0,
    )
    # String labels in an order that is not sorted, to check classes_.
    names = np.array(["zebra", "cat", "mouse"])
    return X.astype(np.float32), names[y]


def test_chi2_svm_refuses_negative_features(problem):
    X, y = problem
    with pytest.raises(ValueError, match="Negative values"):
        make_classifier("chi2_svm").fit(X, y)


def test_names_are_the_documented_ones():
    assert set(CLASSIFIERS) >= {"knn", "linear_svm", "rbf_svm", "logreg",
                                "random_forest", "gradient_boosting"}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_fit_predict_proba(name, problem):
    X, y = problem
    if name == "chi2_svm":  # a chi-squared kernel is for histograms: non-negative inputs
        X = X - X.min()
    model = _small(name)
    assert [step for step, _ in model.steps] == ["scale", "clf"]
    model.fit(X[:90], y[:90])
    assert model.classes_.tolist() == ["cat", "mouse", "zebra"]
    proba = model.predict_proba(X[90:])
    assert proba.shape == (30, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(proba >= 0)
    predicted = model.predict(X[90:])
    assert set(predicted) <= set(model.classes_)
    # Better than chance on an easy synthetic problem.
    assert np.mean(predicted == y[90:]) > 0.5


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_clone_keeps_parameters(name):
    model = make_classifier(name, random_state=7)
    copy = clone(model)
    assert copy is not model
    assert set(copy.get_params()) == set(model.get_params())
    for key, value in model.get_params(deep=False).items():
        if key != "steps":
            assert copy.get_params(deep=False)[key] == value


@pytest.mark.parametrize("name", ["rbf_svm", "random_forest", "gradient_boosting",
                                  "linear_svm"])
def test_repeatable_with_random_state(name, problem):
    X, y = problem
    a = _small(name, random_state=3).fit(X[:90], y[:90]).predict_proba(X[90:])
    b = _small(name, random_state=3).fit(X[:90], y[:90]).predict_proba(X[90:])
    np.testing.assert_array_equal(a, b)


def test_random_state_is_set_on_the_model():
    params = make_classifier("rbf_svm", random_state=5).get_params()
    assert params["clf__estimator__random_state"] == 5
    assert make_classifier("random_forest", random_state=5).get_params()[
        "clf__random_state"] == 5


def test_knn_defaults_to_one_neighbour_unscaled():
    model = make_classifier("knn", n_jobs=2)
    params = model.get_params()
    assert params["clf__n_neighbors"] == 1
    assert params["clf__n_jobs"] == 2
    assert params["scale"] == "passthrough"


def test_params_are_routed_to_the_model():
    assert make_classifier("rbf_svm", C=10).get_params()["clf__estimator__C"] == 10
    assert make_classifier("knn", n_neighbors=3).get_params()["clf__n_neighbors"] == 3
    model = make_classifier("linear_svm", clf__method="isotonic")
    assert model.get_params()["clf__method"] == "isotonic"


def test_unknown_parameter_names_the_valid_ones():
    with pytest.raises(ValueError, match="no parameter.*bogus.*n_neighbors"):
        make_classifier("knn", bogus=1)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        make_classifier("svm_rbf")
    message = str(info.value)
    assert "svm_rbf" in message
    for name in CLASSIFIERS:
        assert name in message
    with pytest.raises(ValueError, match="knn"):
        search_space("nope")
    with pytest.raises(ValueError, match="knn"):
        describe_classifier("nope")


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_search_space_names_are_parameters(name):
    params = make_classifier(name).get_params()
    for kind in ("grid", "random"):
        space = search_space(name, kind)
        assert space
        for key in space:
            assert key in params, (name, kind, key)
            assert key.startswith(model_param_prefix(name))
    assert isinstance(describe_classifier(name), str) and describe_classifier(name)


def test_search_space_is_a_fresh_copy():
    space = search_space("logreg")
    space["clf__C"].append(123.0)
    assert 123.0 not in search_space("logreg")["clf__C"]


@pytest.mark.parametrize("name", ["knn", "logreg"])
def test_grid_search_returns_params_from_the_grid(name, problem):
    X, y = problem
    model, best, summary = fit_with_search(make_classifier(name), X, y, name=name)
    grid = search_space(name)
    assert set(best) == set(grid)
    for key, value in best.items():
        assert value in grid[key]
    assert model.get_params()[next(iter(best))] == best[next(iter(best))]
    assert model.predict_proba(X).shape == (len(X), 3)  # refitted
    n_candidates = int(np.prod([len(v) for v in grid.values()]))
    assert summary["n_candidates"] == len(summary["candidates"]) == n_candidates
    assert summary["candidates"][0]["params"] == best
    assert summary["best_score"] == summary["candidates"][0]["mean_score"]
    json.dumps(summary)  # serialisable as a report


def test_random_search_draws_n_iter_candidates(problem):
    X, y = problem
    model, best, summary = fit_with_search(
        make_classifier("logreg"), X, y, name="logreg", search="random",
        n_iter=3, random_state=0,
    )
    assert summary["n_candidates"] == 3
    assert summary["search"] == "random"
    assert isinstance(best["clf__C"], float)
    assert 1e-4 <= best["clf__C"] <= 1e2
    assert len({c["params"]["clf__C"] for c in summary["candidates"]}) == 3
    again = fit_with_search(make_classifier("logreg"), X, y, name="logreg",
                            search="random", n_iter=3, random_state=0)[1]
    assert again == best


def test_search_inside_a_larger_pipeline(problem):
    X, y = problem
    pipeline = Pipeline([("features", FunctionTransformer()),
                         ("classifier", make_classifier("knn"))])
    _, best, _ = fit_with_search(pipeline, X, y, name="knn",
                                 param_grid={"clf__n_neighbors": [1, 3]})
    assert set(best) == {"classifier__clf__n_neighbors"}
    with pytest.raises(ValueError, match="no parameter"):
        fit_with_search(pipeline, X, y, name="knn", param_prefix="")


def test_search_rejects_too_few_samples_per_class(problem):
    X, y = problem
    with pytest.raises(ValueError, match="smallest class has 2"):
        fit_with_search(make_classifier("knn"), X[:8], np.array([0, 0, 1, 1, 1, 1, 1, 1]),
                        name="knn", cv=3)
    with pytest.raises(ValueError, match="unknown search"):
        fit_with_search(make_classifier("knn"), X, y, name="knn", search="bayes")
