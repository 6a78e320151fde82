"""Issue 20 case 3: every row ``fit`` can save loads again with the trusted list (no --trust-model).

The rows are enumerated from the registries (features x classifiers, every
backbone, every CNN), so a new descriptor, classifier, backbone or network is
covered without touching this file, and fails here when a type it holds is
not trusted. Everything is tiny (a few 32x32 images, random backbone weights,
one epoch) so nothing downloads.
"""

from __future__ import annotations

import numpy as np
import pytest

from cvtoolkit.methods import make_method
from cvtoolkit.methods.artifact import PIPELINE_FILE, load_pipeline, save_pipeline
from cvtoolkit.methods.trusted import untrusted_types


def _backbone_features() -> list[str]:
    """Feature names that are ImageNet backbones (their registry entry builds backbone features)."""
    from cvtoolkit.features.registry import REGISTRY

    return [f for f in REGISTRY.names() if "transfer" in str(REGISTRY.entry(f).target)]


def _classical_rows() -> list[str]:
    from cvtoolkit.classifiers import CLASSIFIERS
    from cvtoolkit.features.registry import REGISTRY

    backbones = _backbone_features()
    return [f"{f}+{c}" for f in REGISTRY.names() if f not in backbones for c in CLASSIFIERS]


def _data(n_per_class: int = 10, size: int = 48):
    import cv2

    from conftest import make_class_images

    X, y, names = make_class_images(n_per_class, size=size)
    return np.stack([cv2.GaussianBlur(im, (3, 3), 0) for im in X]), y, names


def _round_trip(est, method: str, X, names, folder, **tol) -> None:
    import skops.io as sio

    model = save_pipeline(est, folder, method=method, class_names=names, image_size=X.shape[1], channels=3)
    if (model / PIPELINE_FILE).exists():
        assert untrusted_types(sio.get_untrusted_types(file=model / PIPELINE_FILE)) == [], method
    loaded = load_pipeline(model)  # trust=False: what predict does without --trust-model
    X = X[::4]  # a few images of each class are enough to compare the predictions
    np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X), err_msg=method, **tol)


def test_the_registries_give_every_features_x_classifier_row():
    rows = _classical_rows()
    assert "hu+knn" in rows and "color_stats+knn" in rows and len(rows) >= 36
    assert "mobilenet" in _backbone_features() and not any(r.startswith("mobilenet+") for r in rows)


@pytest.mark.slow
def test_every_features_x_classifier_row_round_trips_with_trusted_types_only(tmp_path):
    """hu+knn and color_stats+knn hold a KD-tree with a EuclideanDistance64 (refused on 80f7e15)."""
    X, y, names = _data()
    # tiny codebooks and mixtures; each descriptor takes the options it knows (as in compare/fit)
    options = {"n_words": 8, "n_components": 2, "n_dims": 8}
    failures, refused, fitted_features = [], [], {}
    for method in _classical_rows():
        features = method.split("+")[0]
        est = make_method(method, feature_options=options, random_state=0, n_jobs=1)
        if features not in fitted_features:  # one descriptor fit per feature, shared by its rows (time)
            fitted_features[features] = (est.named_steps["features"].fit(X, y),)
            fitted_features[features] += (fitted_features[features][0].transform(X),)
        step, Xf = fitted_features[features]
        est.steps[0] = ("features", step)
        clf = est.named_steps["classifier"]
        # few trees and boosting rounds: the types saved are the same, the fits 10x quicker
        small = {k: 5 for k in clf.get_params() if k.endswith("n_estimators")}
        small.update({k: 5 for k in clf.get_params() if k.endswith("max_iter")
                      and "Boosting" in type(clf.get_params()[k[: -len("__max_iter")]]).__name__})
        clf.set_params(**small)
        try:
            est.named_steps["classifier"].fit(Xf, y)
        except ValueError as err:  # a kernel map for histograms (chi2) refuses signed features: fit saves nothing
            assert "Negative values" in str(err) and Xf.min() < 0, f"{method}: {err}"
            refused.append(method)
            continue
        try:
            _round_trip(est, method, X, names, tmp_path / method.replace("+", "_"))
        except Exception as err:  # collect every row that does not load, then fail once naming them
            failures.append(f"{method}: {type(err).__name__}: {str(err)[:300]}")
    assert failures == []
    assert len(refused) < len(_classical_rows()) // 4, refused  # named rows that cannot be fitted, few


@pytest.mark.slow
def test_every_backbone_row_round_trips_with_trusted_types_only(tmp_path):
    X, y, names = _data(1, size=32)
    for backbone in _backbone_features():
        method = f"{backbone}+logreg"
        options = {"weights": None, "image_size": 32, "flip_average": False}  # small and quick
        est = make_method(method, feature_options=options, image_size=32, n_jobs=1).fit(X, y)
        _round_trip(est, method, X, names, tmp_path / backbone, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_every_cnn_and_a_finetune_row_round_trip(tmp_path):
    from cvtoolkit.nn import MODELS, build_model
    from cvtoolkit.train import KerasImageClassifier

    X, y, names = _data(1, size=32)
    for model in MODELS:  # built, not trained: saving and loading is what is tested here
        net = build_model(model, input_shape=(32, 32, 3), classes=len(names))
        est = KerasImageClassifier.from_model(net, list(range(len(names))), model=model)
        _round_trip(est, model, X, names, tmp_path / model, rtol=1e-4, atol=1e-5)
    est = make_method("mobilenet+finetune", feature_options={"weights": None, "alpha": 0.25},
                      cnn_options={"warmup_epochs": 1, "epochs": 1, "batch_size": 8, "verbose": 0,
                                   "augment": False, "flip_average": False}, image_size=32).fit(X, y)
    _round_trip(est, "mobilenet+finetune", X, names, tmp_path / "finetune", rtol=1e-4, atol=1e-5)
