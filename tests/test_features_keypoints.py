"""Tests for keypoint descriptors and the bag of visual words."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from threadpoolctl import threadpool_limits
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from cvtoolkit.features.bovw import (
    BagOfVisualWords,
    make_orb_bovw,
    make_rootsift_bovw,
    make_sift_bovw,
)
from cvtoolkit.features.keypoints import ORB, SIFT, RootSIFT, dense_keypoints, to_grey


@pytest.fixture(autouse=True, scope="module")
def _one_native_thread():
    """One OpenMP/BLAS thread: on a shared, busy machine their spinning
    thread pools make tiny fits (gradient boosting, k-means) 10-50x slower."""
    with threadpool_limits(limits=1):
        yield


def _noise(seed: int, shape=(48, 48, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _textures(n_per_class: int = 6, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Two classes SIFT can tell apart: horizontal stripes and blobs, plus noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    images, labels = [], []
    for i in range(2 * n_per_class):
        label = i % 2
        phase = rng.uniform(0, 2 * np.pi)
        if label == 0:
            base = 127 + 100 * np.sin(yy / 2.0 + phase)
        else:
            base = 127 + 100 * np.sin(yy / 5.0 + phase) * np.sin(xx / 5.0 + phase)
        grey = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)
        images.append(np.repeat(grey[:, :, None], 3, axis=2))
        labels.append(label)
    return np.stack(images), np.array(labels)


# -- descriptors -----------------------------------------------------------

def test_rootsift_is_l1_then_sqrt_of_sift():
    image = _noise(1)
    sift = SIFT(dense=True, step=12).describe(image)
    root = RootSIFT(dense=True, step=12).describe(image)
    assert root.shape == sift.shape == (16, 128)
    assert root.dtype == np.float32
    expected = np.sqrt(sift / sift.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(root, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(root, axis=1), 1.0, rtol=1e-4)


def test_dense_grid_and_detected_keypoints():
    assert len(dense_keypoints((32, 48), step=8, size=8)) == 4 * 6
    image = _noise(2)
    detected = SIFT().describe(image)
    assert detected.ndim == 2 and detected.shape[1] == 128 and len(detected) > 0
    limited = SIFT(max_keypoints=5).describe(image)
    assert 0 < len(limited) <= 6  # OpenCV may keep ties at the cut
    # A flat image has no detected keypoints: an empty (0, d) array.
    flat = np.full((48, 48, 3), 128, np.uint8)
    assert SIFT().describe(flat).shape == (0, 128)
    assert ORB().describe(flat).shape == (0, 256)


def test_orb_bits_match_packed_bytes():
    image = _noise(3, (64, 64, 3))
    orb = ORB(dense=True, step=8)
    keypoints, packed = orb.compute(image)
    bits = orb.describe(image)
    assert packed.dtype == np.uint8 and packed.shape == (len(keypoints), 32)
    assert bits.shape == (len(keypoints), 256) and bits.dtype == np.float32
    assert set(np.unique(bits)) <= {0.0, 1.0}
    np.testing.assert_array_equal(np.packbits(bits.astype(np.uint8), axis=1), packed)
    # Too small for a dense ORB patch: no descriptors, no crash.
    assert orb.describe(_noise(3, (32, 32, 3))).shape == (0, 256)


def test_to_grey_accepts_rgb_grey_and_channel_last():
    rgb = _noise(4, (10, 12, 3))
    grey = to_grey(rgb)
    assert grey.shape == (10, 12) and grey.dtype == np.uint8
    np.testing.assert_array_equal(to_grey(grey), grey)
    np.testing.assert_array_equal(to_grey(grey[:, :, None]), grey)
    np.testing.assert_array_equal(to_grey(grey / 255.0), grey)
    with pytest.raises(ValueError, match="shape"):
        to_grey(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="step"):
        SIFT(dense=True, step=0).describe(rgb)


# -- bag of visual words -----------------------------------------------------

@pytest.mark.parametrize("descriptor", ["sift", "rootsift", "orb"])
def test_bovw_fixed_width_l1_histograms(descriptor):
    images = [_noise(i, (48 + 8 * i, 56, 3)) for i in range(4)]  # varying sizes
    bovw = BagOfVisualWords(descriptor, n_words=6, dense=True, step=8)
    features = bovw.fit(images).transform(images)
    assert features.shape == (4, 6) and features.dtype == np.float32
    np.testing.assert_allclose(features.sum(axis=1), 1.0, rtol=1e-5)
    assert bovw.codebook_.cluster_centers_.shape == (6, 256 if descriptor == "orb" else 128)
    assert bovw.get_feature_names_out().tolist() == [f"{descriptor}_word{i}"
                                                     for i in range(6)]


def test_bovw_l2_tfidf_and_fit_transform_agree():
    images = np.stack([_noise(i) for i in range(5)])
    bovw = BagOfVisualWords("sift", n_words=5, dense=True, step=12, tfidf=True,
                            normalize="l2")
    first = bovw.fit_transform(images)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    assert bovw.idf_.shape == (5,) and bovw.idf_.dtype == np.float32
    assert np.all(bovw.idf_ >= 1.0)
    np.testing.assert_allclose(bovw.transform(images), first, rtol=1e-6)
    # Without tf-idf the counts are not re-weighted: the l2 rows differ.
    plain = clone(bovw).set_params(tfidf=False).fit_transform(images)
    assert not hasattr(clone(bovw), "idf_")
    assert plain.shape == first.shape


def test_image_without_keypoints_gives_zero_row():
    images = [_noise(1), np.full((48, 48, 3), 90, np.uint8), _noise(2)]
    bovw = BagOfVisualWords("sift", n_words=4).fit(images)  # detected keypoints
    features = bovw.transform(images)
    assert np.all(features[1] == 0)
    np.testing.assert_allclose(features[[0, 2]].sum(axis=1), 1.0, rtol=1e-5)


def test_too_few_descriptors_is_a_clear_error():
    flat = np.full((3, 40, 40, 3), 200, np.uint8)
    with pytest.raises(ValueError, match="dense=True"):
        BagOfVisualWords("sift", n_words=4).fit(flat)


def test_sample_descriptors_bounds_the_codebook_sample():
    images = np.stack([_noise(i) for i in range(4)])
    bovw = BagOfVisualWords("sift", n_words=4, dense=True, step=4,
                            sample_descriptors=50).fit(images)
    assert bovw.n_descriptors_fit_ == 50  # 4 images x 144 descriptors, cut to 50


def test_bad_parameters_and_inputs():
    images = np.stack([_noise(i) for i in range(2)])
    with pytest.raises(ValueError, match="descriptor"):
        BagOfVisualWords("surf").fit(images)
    with pytest.raises(ValueError, match="normalize"):
        BagOfVisualWords(normalize="l3").fit(images)
    with pytest.raises(ValueError, match="n_words"):
        BagOfVisualWords(n_words=0).fit(images)
    with pytest.raises(ValueError, match="not images"):
        BagOfVisualWords().fit(np.zeros((4, 10), np.float32))
    with pytest.raises(NotFittedError):
        BagOfVisualWords().transform(images)


def test_deterministic_with_random_state_and_threads():
    images = np.stack([_noise(i) for i in range(4)])
    params = dict(n_words=5, dense=True, step=6, sample_descriptors=100, random_state=3)
    a = BagOfVisualWords("rootsift", **params).fit(images)
    b = BagOfVisualWords("rootsift", n_jobs=2, **params).fit(images)
    np.testing.assert_array_equal(a.codebook_.cluster_centers_,
                                  b.codebook_.cluster_centers_)
    np.testing.assert_array_equal(a.transform(images), b.transform(images))


def test_pipeline_clone_pickle_and_grid_search():
    X, y = _textures()
    pipeline = Pipeline([
        ("bovw", BagOfVisualWords("sift", n_words=4, dense=True, step=8)),
        ("clf", LogisticRegression()),
    ])
    search = GridSearchCV(pipeline, {"bovw__n_words": [2, 6]}, cv=2,
                          error_score="raise").fit(X, y)
    assert search.best_params_["bovw__n_words"] in (2, 6)
    assert search.predict(X).shape == (12,)
    assert search.score(X, y) > 0.5
    fitted = search.best_estimator_.named_steps["bovw"]
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))
    copy = clone(fitted)
    assert not hasattr(copy, "codebook_") and copy.get_params() == fitted.get_params()


# The full check_estimator suite feeds 2-D numeric arrays, which are not images,
# so only the protocol checks that do not need data apply.
@pytest.mark.parametrize("check", [
    check_parameters_default_constructible,
    check_no_attributes_set_in_init,
    check_get_params_invariance,
    check_set_params,
])
def test_sklearn_protocol_checks(check):
    check("BagOfVisualWords", BagOfVisualWords())


def test_factories_pass_known_options_and_ignore_others():
    from cvtoolkit.features import make_features

    # Presets are partials of the class; command-level options (alpha, weights) go through
    # make_features(common=...), which passes on only those the class takes.
    bovw = make_features("sift_bovw", n_words=32, step=4, random_state=1,
                         common=dict(n_jobs=2, alpha=0.25, weights="imagenet"))
    assert (bovw.descriptor, bovw.n_words, bovw.step, bovw.n_jobs,
            bovw.random_state, bovw.dense) == ("sift", 32, 4, 2, 1, True)
    assert make_rootsift_bovw(dense=False).descriptor == "rootsift"
    assert make_rootsift_bovw(dense=False).dense is False
    assert make_orb_bovw(tfidf=True).descriptor == "orb"
    assert make_sift_bovw(n_words=32).get_params() == BagOfVisualWords("sift", 32, dense=True).get_params()
    with pytest.raises(TypeError, match="alpha"):
        make_sift_bovw(alpha=0.25)


def test_words_are_the_codebooks_nearest_centres():
    images = np.stack([_noise(i) for i in range(3)])
    bovw = BagOfVisualWords("sift", n_words=6, dense=True, step=8,
                            normalize="l1").fit(images)
    descriptors = SIFT(dense=True, step=8).describe(images[0])
    expected = np.bincount(bovw.codebook_.predict(descriptors), minlength=6)
    np.testing.assert_allclose(bovw.transform(images[:1])[0], expected / expected.sum(),
                               rtol=1e-5)
