"""Issue 11 case 3: loading a saved pipeline never runs code from it (skops + trusted types)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from cvtoolkit.cli import main
from cvtoolkit.errors import ModelError
from cvtoolkit.methods import make_method
from cvtoolkit.methods.artifact import MANIFEST, PIPELINE_FILE, load_pipeline, read_manifest, save_pipeline
from cvtoolkit.methods.trusted import is_trusted_type, untrusted_types


class Evil:
    """A pickle payload: unpickling it creates a marker file (stands in for os.system)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def fitted(method: str = "raw+knn"):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (12, 8, 8, 3), dtype=np.uint8)
    y = np.arange(12) % 2
    return make_method(method).fit(X, y), X


@pytest.fixture()
def legacy_model(tmp_path) -> tuple[Path, Path]:
    """A folder as older cvtoolkit versions wrote it, whose pipeline.joblib is a hostile pickle."""
    est, X = fitted()
    model = tmp_path / "model"
    save_pipeline(est, model, method="raw+knn", class_names=["a", "b"], image_size=8, channels=3)
    manifest = read_manifest(model)
    (model / PIPELINE_FILE).unlink()
    marker = tmp_path / "PWNED"
    (model / "pipeline.joblib").write_bytes(pickle.dumps(Evil(str(marker))))
    manifest["files"] = ["pipeline.joblib"]
    (model / MANIFEST).write_text(json.dumps(manifest))
    return model, marker


def test_a_pickle_bearing_model_is_refused_without_running_its_code(legacy_model, tmp_path, capsys):
    model, marker = legacy_model
    with pytest.raises(ModelError, match="--trust-model"):
        load_pipeline(model)
    assert not marker.exists()
    image = tmp_path / "x.png"
    import cv2

    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    for argv in (["predict", "--model", str(model), "--images", str(image)],
                 ["evaluate", "--model", str(model), "--dataset", "digits", "--out", str(tmp_path / "ev")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "pipeline.joblib" in err and "--trust-model" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        assert not marker.exists()


def test_trust_model_opts_out(legacy_model):
    model, marker = legacy_model
    with pytest.raises(Exception):  # the payload is not a pipeline, but its code ran
        load_pipeline(model, trust=True).predict_proba(np.zeros((1, 8, 8, 3), np.uint8))
    assert marker.exists()


def test_untrusted_types_in_a_skops_file_are_named_and_refused(tmp_path):
    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    est, X = fitted()
    model = tmp_path / "m"
    save_pipeline(est, model, method="raw+knn", class_names=["a", "b"], image_size=8, channels=3)
    hostile = make_pipeline(FunctionTransformer(os.system), est)
    sio.dump(hostile, model / PIPELINE_FILE)
    with pytest.raises(ModelError) as info:
        load_pipeline(model)
    assert "system" in str(info.value) and "--trust-model" in str(info.value)
    assert load_pipeline(model, trust=True).estimator.steps[0][1].func is os.system


def test_saved_pipelines_are_skops_files_not_pickles(tmp_path):
    est, X = fitted()
    model = save_pipeline(est, tmp_path / "m", method="raw+knn", class_names=["a", "b"], image_size=8, channels=3)
    assert sorted(os.listdir(model)) == [MANIFEST, PIPELINE_FILE]
    assert read_manifest(model)["files"] == [PIPELINE_FILE]
    np.testing.assert_allclose(load_pipeline(model).predict_proba(X), est.predict_proba(X))


def test_trust_rule():
    assert is_trusted_type("sklearn.svm._classes.LinearSVC")
    assert is_trusted_type("cvtoolkit.features.texture.LBP")
    assert is_trusted_type("sklearn.tree._tree.Tree")
    assert untrusted_types(["posix.system", "builtins.eval", "cvtoolkit.errors.ModelError", "sklearn.nope.X",
                            "subprocess.Popen", "cvtoolkit.features.hog.HOG"]) == [
        "builtins.eval", "cvtoolkit.errors.ModelError", "posix.system", "sklearn.nope.X", "subprocess.Popen"]


def _methods() -> list[str]:
    from cvtoolkit.classifiers import CLASSIFIERS
    from cvtoolkit.features import FEATURES
    from cvtoolkit.transfer.backbones import BACKBONES

    classical = [f for f in FEATURES if f not in BACKBONES]
    return [f"{f}+logreg" for f in classical] + [f"raw+{c}" for c in CLASSIFIERS]


@pytest.mark.slow
def test_every_registered_classical_pipeline_round_trips_with_trusted_types_only(tmp_path):
    import cv2
    import skops.io as sio

    from conftest import make_class_images

    X, y, names = make_class_images(14, size=48)
    X = np.stack([cv2.GaussianBlur(im, (3, 3), 0) for im in X])
    for method in _methods():
        options = {"n_words": 8} if method.split("+")[0].endswith("_bovw") else {}
        est = make_method(method, feature_options=options, random_state=0, n_jobs=1).fit(X, y)
        model = save_pipeline(est, tmp_path / method.replace("+", "_"), method=method, class_names=names,
                              image_size=48, channels=3)
        found = sio.get_untrusted_types(file=model / PIPELINE_FILE)
        assert untrusted_types(found) == [], method
        np.testing.assert_allclose(load_pipeline(model).predict_proba(X), est.predict_proba(X), err_msg=method)


@pytest.mark.slow
def test_a_backbone_pipeline_round_trips_with_trusted_types_only(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
    y = np.arange(6) % 2
    est = make_method("mobilenet+logreg", feature_options={"weights": None, "alpha": 0.25}, image_size=32).fit(X, y)
    model = save_pipeline(est, tmp_path / "mb", method="mobilenet+logreg", class_names=["a", "b"], image_size=32,
                          channels=3)
    np.testing.assert_allclose(load_pipeline(model).predict_proba(X), est.predict_proba(X), rtol=1e-5, atol=1e-6)
