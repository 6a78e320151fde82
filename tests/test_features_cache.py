"""The feature cache: keyed by data, extractor and parameters; never computes twice."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from cvtoolkit.data import Dataset
from cvtoolkit.features import HOG, LBP, ColorHistogram, make_features
from cvtoolkit.features.cache import cached_features, default_cache_dir, feature_key, is_stateless


def _dataset(seed=0, n=6):
    rng = np.random.default_rng(seed)
    return Dataset(rng.integers(0, 256, (n, 20, 20, 3), dtype=np.uint8), np.arange(n) % 2, ["a", "b"])


class CountingLBP(LBP):
    """An LBP that counts its transform calls (a class attribute, so clones share it)."""

    calls = 0

    def transform(self, X):
        type(self).calls += 1
        return super().transform(X)


class MeanCentre(TransformerMixin, BaseEstimator):
    """A stateful transformer: learns the mean colour of the images it is fitted on."""

    def fit(self, X, y=None):
        self.mean_ = np.asarray(X, np.float64).reshape(len(X), -1, 3).mean(axis=(0, 1))
        return self

    def transform(self, X):
        return (np.asarray(X, np.float64).reshape(len(X), -1, 3).mean(axis=1) - self.mean_).astype(np.float32)


def test_second_call_is_a_hit_and_equal(tmp_path):
    ds = _dataset()
    CountingLBP.calls = 0
    info = {}
    first = cached_features(CountingLBP(P=8, R=1), ds, cache_dir=tmp_path, info=info)
    assert info["hit"] is False and CountingLBP.calls == 1
    assert first.shape == (6, 10) and first.dtype == np.float32
    second = cached_features(CountingLBP(P=8, R=1, n_jobs=2, progress=False), ds, cache_dir=tmp_path, info=info)
    assert info["hit"] is True and CountingLBP.calls == 1  # n_jobs/progress do not change the key
    np.testing.assert_array_equal(first, second)
    assert info["seconds"] >= 0 and info["path"].endswith(".npy")
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_key_changes_with_data_parameters_and_class(tmp_path):
    ds = _dataset()
    base = feature_key(HOG(size=16, cells_per_block=2), ds)[0]
    assert feature_key(HOG(size=16, cells_per_block=2, orientations=8), ds)[0] != base
    assert feature_key(HOG(size=16, cells_per_block=2, method="opencv"), ds)[0] != base
    assert feature_key(HOG(size=16, cells_per_block=2), _dataset(seed=1))[0] != base
    assert feature_key(LBP(), ds)[0] != feature_key(ColorHistogram(), ds)[0]
    mask = np.zeros((4, 4), bool)
    other = mask.copy()
    other[0, 0] = True
    assert feature_key(ColorHistogram(mask=mask), ds)[0] != feature_key(ColorHistogram(mask=other), ds)[0]
    union = make_features("combined")
    assert feature_key(union, ds)[0] != feature_key(make_features("combined", lbp_P=8), ds)[0]
    assert feature_key(union, ds)[0] == feature_key(make_features("combined", n_jobs=4), ds)[0]


def test_fit_indices_matter_only_for_stateful_transformers(tmp_path):
    ds = _dataset()
    assert is_stateless(LBP()) and is_stateless(make_features("combined"))
    assert not is_stateless(MeanCentre())
    assert feature_key(LBP(), ds, [0, 1])[0] == feature_key(LBP(), ds, [2, 3])[0]
    assert feature_key(MeanCentre(), ds, [0, 1])[0] != feature_key(MeanCentre(), ds, [2, 3])[0]
    info = {}
    a = cached_features(MeanCentre(), ds, cache_dir=tmp_path, fit_indices=[0, 1], info=info)
    expected = MeanCentre().fit(ds.images[[0, 1]]).transform(ds.images)
    np.testing.assert_allclose(a, expected, rtol=1e-6)
    cached_features(MeanCentre(), ds, cache_dir=tmp_path, fit_indices=[2, 3], info=info)
    assert info["hit"] is False
    cached_features(MeanCentre(), ds, cache_dir=tmp_path, fit_indices=[0, 1], info=info)
    assert info["hit"] is True


def test_damaged_entry_is_recomputed(tmp_path, caplog):
    ds = _dataset()
    info = {}
    X = cached_features(LBP(P=8, R=1), ds, cache_dir=tmp_path, info=info)
    with open(info["path"], "wb") as fh:
        fh.write(b"not a numpy file")
    again = cached_features(LBP(P=8, R=1), ds, cache_dir=tmp_path, info=info)
    assert info["hit"] is False
    np.testing.assert_array_equal(X, again)
    assert "unreadable" in caplog.text


def test_default_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CVTOOLKIT_CACHE_DIR", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    cached_features(LBP(P=8, R=1), _dataset(), info=(info := {}))
    assert info["path"].startswith(str(tmp_path / "cache"))


def test_images_of_varying_sizes(tmp_path):
    rng = np.random.default_rng(3)
    images = np.empty(3, dtype=object)
    for i, (h, w) in enumerate([(10, 12), (15, 9), (20, 20)]):
        images[i] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    ds = Dataset(images, [0, 1, 0], ["a", "b"])
    X = cached_features(LBP(P=8, R=1), ds, cache_dir=tmp_path)
    assert X.shape == (3, 10)
    changed = images.copy()
    changed[2] = images[2].copy()
    changed[2][0, 0, 0] ^= 1
    assert feature_key(LBP(), Dataset(changed, [0, 1, 0], ["a", "b"]))[0] != feature_key(LBP(), ds)[0]


def test_feature_datasets_are_refused(tmp_path):
    ds = Dataset(np.zeros((3, 4), np.float32), [0, 1, 0], ["a", "b"], kind="features")
    with pytest.raises(ValueError, match="feature vectors"):
        cached_features(LBP(), ds, cache_dir=tmp_path)
