"""Issue 18: dense SIFT, spatial pyramids, Fisher vectors, late fusion and per-class protocols."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from cvtoolkit.data import Dataset
from cvtoolkit.features import make_features
from cvtoolkit.features.dense import DenseSIFT, grid_keypoints, root_sift
from cvtoolkit.features.encoding import FisherVectors, SpatialPyramidBoW, fisher_vector, pyramid_cells
from tests.conftest import make_class_images, write_image_folder


# --------------------------------------------------------------------------- dense descriptors


def test_dense_sift_patch_width_is_six_keypoint_sizes_and_matches_a_plain_opencv_loop():
    image = np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    dense = DenseSIFT(patch_sizes=(16, 32), step=8, max_side=None, smoothing=0)
    desc, xy = dense.describe(image)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    kps = [cv2.KeyPoint(float(x), float(y), p / 6.0)
           for p in (16, 32) for y in np.arange(p / 2, 70 - p / 2 + 1e-9, 8) for x in np.arange(p / 2, 90 - p / 2 + 1e-9, 8)]
    _, expected = cv2.SIFT_create().compute(grey, kps)
    assert desc.dtype == np.uint8 and desc.shape == expected.shape
    np.testing.assert_array_equal(desc, expected.astype(np.uint8))  # OpenCV's values are integers 0..255
    assert xy.shape == (len(kps), 2) and (xy >= 0).all() and (xy < 1).all()


def test_dense_sift_shrinks_to_max_side_and_colour_triples_the_width():
    image = np.random.default_rng(1).integers(0, 256, (200, 400, 3), dtype=np.uint8)
    grey = DenseSIFT(patch_sizes=(16,), step=8, max_side=100)
    assert grey.prepare(image).shape == (50, 100, 3)
    desc, _ = grey.describe(image)
    assert len(desc) == len(grid_keypoints(50, 100, patch_sizes=(16,), step=8))
    opp, _ = DenseSIFT(patch_sizes=(16,), step=8, max_side=100, color="opponent").describe(image)
    assert opp.shape == (len(desc), 384)
    tiny, xy = grey.describe(np.zeros((10, 10, 3), np.uint8))  # smaller than a patch: no descriptors
    assert tiny.shape == (0, 128) and xy.shape == (0, 2)


def test_root_sift_blocks_are_hellinger_normalised():
    d = np.random.default_rng(2).integers(0, 256, (5, 384)).astype(np.uint8)
    r = root_sift(d, channels=3).reshape(5, 3, 128)
    np.testing.assert_allclose((r ** 2).sum(axis=2), 1.0, rtol=1e-5)


# --------------------------------------------------------------------------- the pyramid


def _two_textures(n_per_class: int, seed: int = 0):
    """Class 0: stripes left, checks right; class 1: the reverse. Same words overall, different layout."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    yy, xx = np.mgrid[0:64, 0:32]
    for label in (0, 1):
        for _ in range(n_per_class):
            phase = rng.integers(0, 8)
            stripes = (((xx + phase) // 4) % 2) * 200 + 30
            checks = ((((xx + phase) // 6) + (yy // 6)) % 2) * 200 + 30
            left, right = (stripes, checks) if label == 0 else (checks, stripes)
            grey = np.concatenate([left, right], axis=1).astype(np.float64)
            grey += rng.normal(0, 10, grey.shape)
            image = np.clip(grey, 0, 255).astype(np.uint8)
            images.append(np.repeat(image[:, :, None], 3, axis=2))
            labels.append(label)
    return np.stack(images), np.asarray(labels)


def test_the_spatial_pyramid_sees_layout_that_a_global_histogram_cannot():
    X, y = _two_textures(16)
    scores = {}
    for pyramid in ((1,), (1, 2)):
        # 16-px patches every 16 px: no patch straddles the two halves, so both classes have the same words
        spm = SpatialPyramidBoW(8, pyramid=pyramid, patch_sizes=(16,), step=16, max_side=None, random_state=0)
        model = make_pipeline(spm, LogisticRegression(C=100, max_iter=2000))
        scores[pyramid] = cross_val_score(model, X, y, cv=4).mean()
    assert scores[(1, 2)] >= 0.9, scores
    assert scores[(1,)] <= 0.75, scores
    assert scores[(1, 2)] - scores[(1,)] >= 0.2, scores


def test_pyramid_cells_and_lazebnik_weights_sum_to_one():
    cells = pyramid_cells(np.array([[0.0, 0.0], [0.99, 0.99], [0.6, 0.2]]), (1, 2, 4))
    assert cells.tolist() == [[0, 1, 5], [0, 4, 20], [0, 2, 7]]
    images = np.random.default_rng(3).integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    rows = SpatialPyramidBoW(4, pyramid=(1, 2, 4), patch_sizes=(16,), step=8).fit_transform(images)
    assert rows.shape == (3, 21 * 4)
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, rtol=1e-5)
    # the whole-image level carries weight 1/4 of the total, as in the paper
    np.testing.assert_allclose(rows[:, :4].sum(axis=1), 0.25, rtol=1e-5)


# --------------------------------------------------------------------------- Fisher vectors


def _hand_fisher(x, w, mu, var):
    """The Fisher vector written out descriptor by descriptor, component by component (no vectorisation)."""
    n, k, d = len(x), len(mu), len(mu[0])
    g_mu = [[0.0] * d for _ in range(k)]
    g_sigma = [[0.0] * d for _ in range(k)]
    for i in range(n):
        dens = []
        for c in range(k):
            p = w[c]
            for j in range(d):
                p *= math.exp(-(x[i][j] - mu[c][j]) ** 2 / (2 * var[c][j])) / math.sqrt(2 * math.pi * var[c][j])
            dens.append(p)
        total = sum(dens)
        for c in range(k):
            gamma = dens[c] / total
            for j in range(d):
                u = (x[i][j] - mu[c][j]) / math.sqrt(var[c][j])
                g_mu[c][j] += gamma * u / (n * math.sqrt(w[c]))
                g_sigma[c][j] += gamma * (u * u - 1) / (n * math.sqrt(2 * w[c]))
    return np.array([v for row in g_mu for v in row] + [v for row in g_sigma for v in row])


def test_fisher_vector_of_a_tiny_fixed_example_equals_the_hand_computation():
    x = np.array([[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8]])
    w = np.array([0.3, 0.7])
    mu = np.array([[0.0, 0.0], [1.0, 0.5]])
    var = np.array([[1.0, 0.5], [0.25, 2.0]])
    expected = _hand_fisher(x.tolist(), w.tolist(), mu.tolist(), var.tolist())
    np.testing.assert_allclose(fisher_vector(x, w, mu, var, improved=False), expected, rtol=1e-5, atol=1e-7)
    improved = np.sign(expected) * np.sqrt(np.abs(expected))
    improved /= np.linalg.norm(improved)
    np.testing.assert_allclose(fisher_vector(x, w, mu, var), improved, rtol=1e-5, atol=1e-7)
    assert not fisher_vector(np.zeros((0, 2)), w, mu, var).any()


def test_fisher_vectors_transformer_width_and_norm():
    images = np.random.default_rng(4).integers(0, 256, (5, 56, 56, 3), dtype=np.uint8)
    fv = FisherVectors(3, 8, pyramid=(1, 2), patch_sizes=(16, 24), step=8, color="opponent").fit(images)
    rows = fv.transform(images)
    assert rows.shape == (5, 5 * 2 * 3 * 8)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-5)
    assert clone(fv).get_params() == fv.get_params()


# --------------------------------------------------------------------------- no leak from the test split


@pytest.mark.parametrize("name", ["dsift_spm", "dsift_fisher"])
def test_the_vocabulary_depends_on_the_training_split_only(name, tmp_path):
    from cvtoolkit.methods.compare import _compute_features
    from cvtoolkit.methods.spec import parse_method

    rng = np.random.default_rng(5)
    train_images = rng.integers(0, 256, (12, 48, 48, 3), dtype=np.uint8)
    test_a = rng.integers(0, 256, (6, 48, 48, 3), dtype=np.uint8)
    test_b = 255 - test_a  # other test images
    other_train = np.ascontiguousarray(train_images[:, ::-1])
    labels = np.arange(12) % 2
    spec = parse_method(f"{name}+ridge")
    options = {"n_words": 6} if name == "dsift_spm" else {"n_components": 2, "n_dims": 8}

    def features(train, test, cache):
        tr = Dataset(train, labels, ["a", "b"])
        te = Dataset(test, np.arange(6) % 2, ["a", "b"])
        return _compute_features(spec, tr, te, None, options, cache, None)

    for cache in (None, str(tmp_path / "cache")):
        a, b = features(train_images, test_a, cache), features(train_images, test_b, cache)
        np.testing.assert_array_equal(a.train, b.train)  # changing the test images changes nothing learned
        assert not np.array_equal(a.test, b.test)
        c = features(other_train, test_a, cache)
        assert not np.allclose(a.test, c.test)  # the vocabulary comes from the training images


# --------------------------------------------------------------------------- late fusion


def test_fusion_weights_never_see_the_test_split():
    from cvtoolkit.methods.compare import run_compare

    images, labels, names = make_class_images(12, size=32, seed=3)
    labels = labels.copy()
    idx = np.arange(len(labels))
    test_idx = idx[idx % 4 == 0]
    train_idx = idx[idx % 4 != 0]
    rows = ["hsv_hist+logreg", "hog+logreg", "lbp+logreg", "classical_ensemble"]
    weights = []
    for flip in (False, True):
        y = labels.copy()
        if flip:  # other test labels (a rotation of the classes): only the scores may change
            y[test_idx] = (y[test_idx] + 1) % 3
        ds = Dataset(images, y, names)
        result = run_compare(ds, rows, split=(train_idx, test_idx), out_dir=None, progress=False,
                             check_leakage=False, n_resamples=0)
        row = next(r for r in result.rows if r["method"] == "classical_ensemble")
        assert "error" not in row, row.get("error")
        weights.append(row["members"])
        scores = {r["method"]: r["accuracy"] for r in result.rows}
    assert weights[0] == weights[1]
    assert abs(sum(weights[0].values()) - 1.0) < 1e-3
    assert set(weights[0]) <= {"hsv_hist+logreg", "hog+logreg", "lbp+logreg"}
    assert scores["classical_ensemble"] < 0.5  # with rotated test labels every row is wrong: the scores did change


def test_fusion_weights_prefer_the_informative_member():
    from cvtoolkit.methods.ensemble import fusion_weights

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    good = np.full((300, 3), 0.1)
    good[np.arange(300), y] = 0.8
    noise = rng.dirichlet(np.ones(3), 300)
    w = fusion_weights([noise, good], y)
    assert w[1] > 0.9 and abs(w.sum() - 1) < 1e-9


def test_ensemble_rows_cannot_be_fitted_alone():
    from cvtoolkit.errors import MethodError
    from cvtoolkit.methods import make_method

    with pytest.raises(MethodError, match="fuses the other rows"):
        make_method("classical_ensemble")


# --------------------------------------------------------------------------- natural size, defaults, protocols


def test_dense_rows_read_the_files_at_their_natural_size(tmp_path):
    from cvtoolkit.data import load_dataset
    from cvtoolkit.data.split import split_dataset
    from cvtoolkit.data.views import natural_size_images

    root = write_image_folder(tmp_path / "big", n_per_class=4, size=128)
    ds = load_dataset(str(root), image_size=32, progress=False)
    train, test = split_dataset(ds, test_size=0.25, seed=0)
    natural = natural_size_images(train, test, max_side=100, progress=False)
    assert natural is not None
    assert {im.shape for im in natural[0].images} == {(100, 100, 3)}
    assert len(natural[1].images) == len(test)
    np.testing.assert_array_equal(natural[0].labels, train.labels)


def test_default_rows_gain_the_strongest_classical_system_only_for_large_images(tmp_path):
    from cvtoolkit.data import load_dataset
    from cvtoolkit.methods.spec import DEFAULT_DENSE_ROWS, default_dense_rows

    big = load_dataset(str(write_image_folder(tmp_path / "big", n_per_class=3, size=128)), image_size=32,
                       progress=False)
    rows, line = default_dense_rows(big)
    assert rows == list(DEFAULT_DENSE_ROWS) and "128 px" in line
    small = load_dataset(str(write_image_folder(tmp_path / "small", n_per_class=3, size=32)), image_size=32,
                         progress=False)
    rows, line = default_dense_rows(small)
    assert rows == [] and "under 96" in line and "--methods" in line
    from cvtoolkit.methods.spec import FUSION_MAX_IMAGES

    class Many:  # what default_dense_rows reads of a dataset: its files and its size
        paths = list(big.paths)
        kind = "images"
        images = big.images

        def __len__(self):
            return FUSION_MAX_IMAGES + 1

    rows, line = default_dense_rows(Many())
    assert rows == ["osift_fisher+ridge"] and "classical_ensemble left out" in line


def test_the_verdict_says_when_the_strongest_classical_family_did_not_run():
    from cvtoolkit.methods.verdict import split_verdict

    y = np.array([0, 1] * 10)
    right = np.eye(2)[y]
    rows = [{"method": "hog+logreg", "deep": False, "accuracy": 1.0},
            {"method": "shallownet", "deep": True, "accuracy": 1.0}]
    preds = {"hog+logreg": right, "shallownet": right}
    text, detail = split_verdict(rows, preds, y, sort_metric="accuracy", n_resamples=100)
    assert "without dense SIFT encodings" in text and detail["classical_rows"] == ["hog+logreg"]
    rows[0]["method"] = "osift_fisher+ridge"
    text, detail = split_verdict(rows, {"osift_fisher+ridge": right, "shallownet": right}, y,
                                 sort_metric="accuracy", n_resamples=100)
    assert "without dense SIFT" not in text and detail["strongest_classical_ran"]


def test_train_per_class_protocol_in_compare(tmp_path):
    from cvtoolkit.errors import UsageError
    from cvtoolkit.methods.compare_job import CompareJob, run_compare_job

    root = write_image_folder(tmp_path / "data", n_per_class=10, size=32)
    job = CompareJob(dataset=str(root), methods="hsv_hist+logreg", train_per_class=4, test_per_class=5,
                     out=str(tmp_path / "out"), quiet=True, no_cache=True)
    said: list[str] = []
    outcome = run_compare_job(job, say=said.append)
    settings = outcome.result.settings
    assert settings["train_samples"] == 12 and settings["test_samples"] == 15
    assert settings["test_size"] == "per class: 4 train, 5 test"
    assert any("mean per-class accuracy" in line for line in said)
    row = outcome.result.rows[0]
    assert row["balanced_accuracy_ci_low"] <= row["balanced_accuracy"] <= row["balanced_accuracy_ci_high"]
    with pytest.raises(UsageError, match="--folds"):
        run_compare_job(CompareJob(dataset=str(root), methods="hsv_hist+logreg", train_per_class=4, folds=3,
                                   out=str(tmp_path / "o2"), quiet=True, no_cache=True))
    from cvtoolkit.errors import DatasetError

    with pytest.raises(DatasetError, match="too few in"):
        run_compare_job(CompareJob(dataset=str(root), methods="hsv_hist+logreg", train_per_class=10,
                                   out=str(tmp_path / "o3"), quiet=True, no_cache=True))


def test_dense_rows_are_registered_and_listed():
    from cvtoolkit.classifiers import CLASSIFIERS
    from cvtoolkit.features import FEATURES

    assert {"dsift_spm", "dsift_fisher", "osift_fisher"} <= set(FEATURES)
    assert {"chi2_svm", "ridge"} <= set(CLASSIFIERS)
    assert make_features("osift_fisher", n_jobs=2).color == "opponent"


def test_list_methods_names_the_new_rows(capsys):
    from cvtoolkit.cli import main

    assert main(["compare", "--list-methods"]) == 0
    out = capsys.readouterr().out
    for name in ("dsift_spm", "osift_fisher", "chi2_svm", "ridge", "classical_ensemble", "deep_ensemble"):
        assert name in out


def test_keep_best_on_a_fused_best_row_keeps_the_best_single_row(tmp_path):
    from types import SimpleNamespace

    from cvtoolkit.methods.compare_job import CompareJob, _keep_models

    models = tmp_path / "models"
    for name in ("hog+logreg", "lbp+logreg"):
        (models / name).mkdir(parents=True)
    result = SimpleNamespace(
        rows=[{"method": "classical_ensemble"}, {"method": "hog+logreg"}, {"method": "lbp+logreg"}],
        files={"model:hog+logreg": str(models / "hog+logreg"), "model:lbp+logreg": str(models / "lbp+logreg")})
    kept, note = _keep_models(CompareJob(keep="best"), result, models)
    assert list(kept) == ["hog+logreg"] and "classical_ensemble" in note and "hog+logreg" in note
    assert not (models / "lbp+logreg").exists()
