"""Thread policy of compare's classical rows, fit_seconds, progress lines, and the extraction path's speed-ups."""

from __future__ import annotations

import logging
import time

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from cvtoolkit.data import Dataset
from conftest import make_class_images


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_classical_fit_threads_limits_blas_and_restores():
    from threadpoolctl import threadpool_limits

    from cvtoolkit.parallel import classical_fit_threads

    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with classical_fit_threads(n_jobs=2):
            assert _blas_threads() and all(n == 1 for n in _blas_threads())
        assert _blas_threads() == before


def test_cheap_descriptors_run_in_process(monkeypatch):
    import cvtoolkit.methods.compare as compare_mod

    seen = {}
    real = compare_mod.make_features_step

    def spy(spec, options, **kwargs):
        seen[spec.features] = options.get("n_jobs")
        return real(spec, options, **kwargs)

    monkeypatch.setattr(compare_mod, "make_features_step", spy)
    images, labels, names = make_class_images(8, size=16)
    ds = Dataset(images, labels, names)
    compare_mod.run_compare(ds, ["raw+knn", "hu+knn", "lbp+knn"], test_size=0.25, out_dir=None, progress=False,
                            n_jobs=2)
    assert seen == {"raw": 1, "hu": 1, "lbp": 2}


class _SlowFeatures(TransformerMixin, BaseEstimator):
    """Raw pixels that take 0.3 s per call (a stand-in for an expensive descriptor)."""

    def __init__(self, n_jobs=None):
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        time.sleep(0.3)
        return np.asarray(X, np.float32).reshape(len(X), -1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


def test_fit_seconds_is_the_classifier_fit_alone():
    from cvtoolkit.features import register_features, unregister_features
    from cvtoolkit.methods.compare import run_compare

    register_features("slow_test_feats", lambda **kw: _SlowFeatures(), "slow features (test)")
    try:
        images, labels, names = make_class_images(8, size=8)
        result = run_compare(Dataset(images, labels, names), ["slow_test_feats+knn"], test_size=0.25, out_dir=None,
                             progress=False, n_jobs=1)
    finally:
        unregister_features("slow_test_feats")
    row = result.rows[0]
    assert not row.get("error"), row
    assert row["fit_seconds"] < 0.3  # the 0.3 s transform is not in it
    n = len(labels)
    # a stateless descriptor describes all images once (train and test rows are sliced from it): 0.3 s here
    assert row["feature_ms_per_image"] * n / 1000.0 >= 0.28
    assert row["predict_ms_per_image"] >= row["feature_ms_per_image"]


def test_still_running_logs_long_steps_only(caplog):
    from cvtoolkit.methods.progress import still_running

    with caplog.at_level(logging.INFO, logger="cvtoolkit.methods.compare"):
        with still_running("quick", first=5.0):
            pass
        with still_running("slow", first=0.05, every=0.05) as slow:
            time.sleep(0.3)
    text = caplog.text
    assert "quick" not in text
    assert slow.lines >= 2 and "slow: still running" in text and "slow: done in" in text


class _CountingBackbone(TransformerMixin, BaseEstimator):
    """A pretend pretrained backbone: fit needs no images, transform counts calls and threads."""

    fit_needs_data = False

    def __init__(self, width: int = 3):
        self.width = width

    def fit(self, X=None, y=None):
        self.fit_calls_ = getattr(self, "fit_calls_", 0) + 1
        self.fit_arg_ = X
        return self

    def transform(self, X):
        return np.stack([np.asarray(x, np.float32).mean(axis=(0, 1))[: self.width] for x in X])


def test_backbone_extraction_decodes_no_fitting_sample_and_builds_once(image_folder, tmp_path, monkeypatch):
    import cvtoolkit.features.extraction as extraction

    decoded = []
    real = extraction.decode_chunk

    def spy(kind, data, *args, **kwargs):
        decoded.append(len(data))
        return real(kind, data, *args, **kwargs)

    monkeypatch.setattr(extraction, "decode_chunk", spy)
    backbone = _CountingBackbone()
    summary = extraction.extract_to_store(backbone, str(image_folder), tmp_path / "f.h5", batch_size=5,
                                          progress=False)
    assert summary.n_rows == 24
    assert backbone.fit_calls_ == 1 and backbone.fit_arg_ is None
    assert sum(decoded) == 24  # every image decoded once: no fitting sample
    assert extraction.single_process(backbone) is backbone  # no copy (a copy rebuilds a Keras model)


def test_prefetched_extraction_matches_chunk_by_chunk(image_folder, tmp_path):
    from cvtoolkit.features import LBP
    from cvtoolkit.features.extraction import extract_to_store
    from cvtoolkit.io import read_store

    (image_folder / "circle" / "broken.png").write_bytes(b"not an image")
    one = extract_to_store(LBP(P=8, R=1), str(image_folder), tmp_path / "a.h5", batch_size=4, progress=False)
    whole = extract_to_store(LBP(P=8, R=1), str(image_folder), tmp_path / "b.h5", batch_size=1000, progress=False)
    a, b = read_store(one.path), read_store(whole.path)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert len(one.skipped) == len(whole.skipped) == 1


def test_extract_flip_average_flag_reaches_the_backbone(monkeypatch, tmp_path, image_folder):
    import cvtoolkit.commands.extract as extract_cmd
    from cvtoolkit.cli import main

    built = {}
    def spy(names, options):
        built.update(options)
        raise extract_cmd.ExtractArgumentError("stop here")

    import cvtoolkit.features.options as feature_options

    monkeypatch.setattr(feature_options, "build_extractor", spy)  # the command builds through features.options
    for flag, expected in (("--no-flip-average", False), ("--flip-average", True)):
        built.clear()
        code = main(["extract", "--dataset", str(image_folder), "--features", "mobilenet", "--out",
                     str(tmp_path / "x.h5"), flag, "--quiet"])
        assert code == 2 and built["flip_average"] is expected
    built.clear()
    main(["extract", "--dataset", str(image_folder), "--features", "mobilenet", "--out", str(tmp_path / "x.h5"),
          "--quiet"])
    assert "flip_average" not in built


def test_many_classes_switch_linear_svm_to_sgd():
    from sklearn.datasets import make_classification
    from sklearn.svm import LinearSVC

    from cvtoolkit.classifiers import make_classifier
    from cvtoolkit.classifiers.linear import SGD_FROM_CLASSES, SGDLinearSVC

    few = make_classifier("linear_svm", n_classes=SGD_FROM_CLASSES - 1)
    many = make_classifier("linear_svm", n_classes=SGD_FROM_CLASSES)
    assert isinstance(make_classifier("linear_svm").named_steps["clf"].estimator, LinearSVC)
    assert isinstance(few.named_steps["clf"].estimator, LinearSVC)
    assert isinstance(many.named_steps["clf"].estimator, SGDLinearSVC)
    assert many.get_params()["clf__estimator__C"] == few.get_params()["clf__estimator__C"]  # same search space
    X, y = make_classification(n_samples=1500, n_features=20, n_informative=15, n_classes=25, n_clusters_per_class=1,
                               class_sep=3.0, random_state=0)
    model = make_classifier("linear_svm", n_classes=25, n_jobs=1).fit(X[:1200], y[:1200])
    assert model.predict_proba(X[1200:]).shape == (300, 25)
    assert (model.predict(X[1200:]) == y[1200:]).mean() > 0.85  # chance is 0.04; liblinear 0.967


def test_compare_tells_the_classifier_the_number_of_classes(monkeypatch):
    import cvtoolkit.methods.compare as compare_mod

    seen = []
    real = compare_mod.make_classifier_step

    def spy(spec, **kwargs):
        seen.append(kwargs.get("n_classes"))
        return real(spec, **kwargs)

    monkeypatch.setattr(compare_mod, "make_classifier_step", spy)
    images, labels, names = make_class_images(6, size=8)
    compare_mod.run_compare(Dataset(images, labels, names), ["raw+knn"], test_size=0.25, out_dir=None,
                            progress=False, n_jobs=1)
    assert seen == [3]
