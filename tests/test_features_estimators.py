"""Every descriptor follows the scikit-learn transformer protocol on image input.

scikit-learn's ``check_estimator`` feeds 2-D tabular data, which descriptors
reject by design (an image batch is 3-D or 4-D), so this file runs the
checks that do not depend on data as they are, and image versions of the
data checks (fit returns self, idempotence, pickling, subset and order
invariance, read-only input, pipelines, grid search).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils import estimator_checks as ec

from cvtoolkit.features import HOG, LBP, ColorHistogram, ColorStats, Haralick, HuMoments, RawPixels

ESTIMATORS = [
    RawPixels(size=8),
    ColorStats(color_space="lab"),
    ColorHistogram(bins=(4, 3, 2), mask="center"),
    ColorHistogram(bins=3, joint=False, color_space="rgb", norm="l2"),
    HOG(size=16, pixels_per_cell=4, cells_per_block=2),
    HOG(size=16, pixels_per_cell=4, cells_per_block=2, method="opencv"),
    HOG(size=(16, 12), pixels_per_cell=4, cells_per_block=2, method="skimage", color=True),
    LBP(P=8, R=1, grid=2),
    LBP(P=16, R=2, method="nri_uniform"),
    Haralick(distances=(1, 2), levels=8),
    HuMoments(source="silhouette"),
]
IDS = [f"{type(e).__name__}-{i}" for i, e in enumerate(ESTIMATORS)]

DATA_FREE_CHECKS = [
    "check_estimator_cloneable",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_estimator_repr",
    "check_no_attributes_set_in_init",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_mixin_order",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_n_features_in_after_fitting",
    "check_estimators_unfitted",
]


def _images(n=6, h=21, w=19, seed=0, channels=3):
    rng = np.random.default_rng(seed)
    shape = (n, h, w, channels) if channels else (n, h, w)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("check", DATA_FREE_CHECKS)
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_sklearn_checks_that_do_not_need_tabular_data(estimator, check):
    getattr(ec, check)(type(estimator).__name__, clone(estimator))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_fit_returns_self_and_transform_is_float32_of_fixed_width(estimator):
    X = _images()
    est = clone(estimator)
    assert est.fit(X) is est
    out = est.transform(X)
    names = est.get_feature_names_out()
    assert out.dtype == np.float32 and out.ndim == 2
    assert out.shape == (len(X), len(names)) == (len(X), est.n_features_out)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(est.fit_transform(X), out)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_params_untouched_pickle_and_clone_give_same_output(estimator):
    X = _images(seed=1)
    est = clone(estimator)
    before = est.get_params()
    out = est.fit(X).transform(X)
    assert est.get_params() == before  # fit does not overwrite hyper-parameters
    again = pickle.loads(pickle.dumps(est)).transform(X)
    np.testing.assert_array_equal(out, again)
    np.testing.assert_array_equal(clone(est).fit(X).transform(X), out)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_subset_and_order_invariance(estimator):
    X = _images(n=7, seed=2)
    est = clone(estimator).fit(X)
    full = est.transform(X)
    perm = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_array_equal(est.transform(X[perm]), full[perm])
    np.testing.assert_array_equal(np.vstack([est.transform(X[i : i + 2]) for i in range(0, 7, 2)]), full)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_odd_sizes_grey_colour_and_lists_give_the_same_width(estimator):
    est = clone(estimator)
    d = est.n_features_out
    colour = _images(n=3, h=23, w=17)
    grey = _images(n=3, h=25, w=31, channels=0)
    grey1 = grey[..., None]
    mixed = [colour[0], grey[1], _images(n=1, h=40, w=29)[0], grey1[2]]
    for batch in (colour, grey, grey1, mixed):
        out = est.transform(batch)
        assert out.shape == (len(batch), d)
    # grey given as (N, H, W) or (N, H, W, 1) is the same input
    np.testing.assert_array_equal(est.transform(grey), est.transform(grey1))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_read_only_and_memmapped_input(estimator, tmp_path):
    X = _images(seed=3)
    expected = clone(estimator).transform(X)
    ro = X.copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(clone(estimator).transform(ro), expected)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    np.testing.assert_array_equal(clone(estimator).transform(mm), expected)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_empty_batch_and_bad_input(estimator):
    est = clone(estimator)
    assert est.transform(np.zeros((0, 8, 8, 3), np.uint8)).shape == (0, est.n_features_out)
    with pytest.raises(ValueError, match="batch of images"):
        est.transform(np.zeros((5, 4)))  # a feature table, not images
    with pytest.raises(ValueError, match="NaN"):
        est.transform(np.full((2, 8, 8), np.nan))
    with pytest.raises(ValueError, match="channels"):
        est.transform(np.zeros((2, 8, 8, 2), np.uint8))


def test_float_images_are_read_as_unit_range():
    X = _images(seed=4)
    est = ColorHistogram(bins=4)
    np.testing.assert_allclose(est.transform(X / 255.0), est.transform(X), atol=1e-6)


def test_n_jobs_gives_identical_results():
    X = _images(n=40, h=20, w=20, seed=5)
    for est in (HOG(size=16, pixels_per_cell=4, cells_per_block=2), LBP(P=8, R=1, grid=2), ColorHistogram(bins=4)):
        one = est.set_params(n_jobs=1).transform(X)
        two = clone(est).set_params(n_jobs=2).transform(X)
        np.testing.assert_array_equal(one, two)


def test_bad_parameters_raise_value_error_on_fit():
    for est in (HOG(block_norm="L3"), HOG(method="cuda"), HOG(method="opencv", block_norm="L1"), HOG(size=None),
                LBP(method="ror"), LBP(P=24, method="default"), LBP(R=0), ColorHistogram(bins=0),
                ColorHistogram(color_space="xyz"), ColorStats(color_space="luv"), Haralick(levels=1),
                Haralick(properties=("contrast", "wiggle")), HuMoments(source="edges"), RawPixels(size=0),
                RawPixels(n_jobs=0)):
        with pytest.raises(ValueError):
            est.fit(_images(n=2))


def test_compose_in_pipeline_feature_union_and_grid_search():
    X = _images(n=24, h=24, w=24, seed=6)
    y = np.arange(24) % 2
    X[y == 1, 8:16, :, :] = 255  # a learnable difference
    union = FeatureUnion([("hist", ColorHistogram(bins=4)), ("hog", HOG(size=16, pixels_per_cell=4,
                                                                         cells_per_block=2))])
    model = Pipeline([("features", union), ("svm", LinearSVC())])
    grid = GridSearchCV(model, {"features__hog__orientations": [6, 9]}, cv=2).fit(X, y)
    assert grid.best_params_["features__hog__orientations"] in (6, 9)
    assert grid.predict(X[:4]).shape == (4,)
    names = union.fit(X).get_feature_names_out()
    assert len(names) == 64 + HOG(size=16, pixels_per_cell=4, cells_per_block=2).n_features_out
    assert names[0].startswith("hist__")
