"""Issue 19, deliverable 3: frozen backbones through ONNX Runtime, converted once per weights file and cached.

Nothing is downloaded: the weights file is a random-weight MobileNet 0.25 at 32x32 that the tests save
themselves. onnxruntime and tf2onnx are part of the test install (requirements.txt): they are imported
here without a skip, so a missing one fails the module.
"""

from __future__ import annotations

import logging
import pickle
import sys

import numpy as np
import onnxruntime  # noqa: F401  (the test install has it: fail, do not skip, without it)
import pytest
import tf2onnx  # noqa: F401

from cvtoolkit._quiet import quiet_tensorflow_import

quiet_tensorflow_import()

from cvtoolkit.errors import ModelError  # noqa: E402
from cvtoolkit.transfer import onnx_runtime  # noqa: E402
from cvtoolkit.transfer.features import BackboneFeatures  # noqa: E402

from conftest import make_class_images, write_image_folder  # noqa: E402

TOL = 1e-4


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    from cvtoolkit.transfer.backbones import build_backbone

    path = tmp_path_factory.mktemp("weights") / "mobilenet_random.weights.h5"
    _lively_backbone(build_backbone, 0).save_weights(path)
    return path


def _lively_backbone(build_backbone, seed):
    """A random MobileNet 0.25 whose features are not vanishingly small (He-normal kernels, positive BN shifts).

    Keras's default initialisation gives features of about 1e-17 at the end of MobileNet, which would
    make any comparison of runtimes pass.
    """
    model = build_backbone("mobilenet", alpha=0.25, weights=None, input_shape=(32, 32, 3), pooling="avg")
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape, name = tuple(w.shape), w.path.split("/")[-1]
        if name == "kernel":
            fan_in = int(np.prod(shape[:2])) * (1 if "_dw_" in w.path else shape[2])  # depthwise: one channel
            w.assign(rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype(np.float32))
        elif name == "beta":
            w.assign(rng.uniform(0.0, 0.2, shape).astype(np.float32))
        elif name == "moving_mean":
            w.assign(rng.normal(0, 0.05, shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory, weights_file):
    """A feature cache with the weights file converted once (the conversion is the slow part)."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CVTOOLKIT_CACHE_DIR", str(cache))
        mp.setenv(onnx_runtime.RUNTIME_ENV, "auto")
        feats = BackboneFeatures("mobilenet", alpha=0.25, weights=str(weights_file), image_size=32).fit()
        assert feats._runtime == "onnx"
    return cache


@pytest.fixture
def use_onnx(monkeypatch, onnx_cache):
    monkeypatch.setenv("CVTOOLKIT_CACHE_DIR", str(onnx_cache))
    monkeypatch.setenv(onnx_runtime.RUNTIME_ENV, "auto")
    return onnx_cache


def _images(n, shape=(40, 36, 3), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def _keras_features(weights_file, monkeypatch, **kw):
    monkeypatch.setenv(onnx_runtime.RUNTIME_ENV, "keras")
    feats = BackboneFeatures("mobilenet", alpha=0.25, weights=str(weights_file), image_size=32, **kw).fit()
    monkeypatch.setenv(onnx_runtime.RUNTIME_ENV, "auto")
    assert "model_" in vars(feats)
    return feats


@pytest.mark.slow
@pytest.mark.parametrize("flip", [False, True])
def test_onnx_features_equal_keras_features(use_onnx, weights_file, monkeypatch, flip):
    X = make_class_images(4, size=40)[0][:11]  # 11 in batches of 4: Keras pads the last one, ONNX Runtime not
    feats = BackboneFeatures("mobilenet", alpha=0.25, weights=str(weights_file), image_size=32,
                             flip_average=flip, batch_size=4).fit()
    assert feats._runtime == "onnx" and "model_" not in vars(feats)
    keras_feats = _keras_features(weights_file, monkeypatch, flip_average=flip, batch_size=4)
    got, want = feats.transform(X), keras_feats.transform(X)
    assert got.shape == want.shape == (11, 256) and got.dtype == np.float32
    # not a degenerate comparison: the features of different images differ by far more than the tolerance
    assert np.abs(want - want[0]).max() > 20 * TOL * np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL * np.abs(want).max())


@pytest.mark.slow
def test_second_fit_opens_the_cache_without_keras_or_conversion(use_onnx, weights_file, monkeypatch):
    calls = []
    monkeypatch.setattr(onnx_runtime, "_convert", lambda *a: calls.append(a))
    monkeypatch.setattr(BackboneFeatures, "_build_model", lambda *a, **k: calls.append("keras"))
    feats = BackboneFeatures("mobilenet", alpha=0.25, weights=str(weights_file), image_size=32).fit()
    assert calls == [] and feats._runtime == "onnx" and feats.n_features_out_ == 256
    onnx_files = sorted((use_onnx / "onnx").glob("*.onnx"))
    assert [p.stem for p in onnx_files] == [feats.weights_hash_]
    assert (use_onnx / "onnx" / f"{feats.weights_hash_}.json").is_file()
    assert not list((use_onnx / "onnx").glob(".*tmp*"))  # written atomically: no temporary left behind


@pytest.mark.slow
def test_cache_key_follows_the_weights_file_content(use_onnx, weights_file, tmp_path, monkeypatch):
    feats = BackboneFeatures("mobilenet", alpha=0.25, weights=str(weights_file), image_size=32)
    feats.image_size_ = (32, 32)
    same = tmp_path / weights_file.name
    same.write_bytes(weights_file.read_bytes())
    other = tmp_path / "other" / weights_file.name
    other.parent.mkdir()
    from cvtoolkit.transfer.backbones import build_backbone

    _lively_backbone(build_backbone, 1).save_weights(other)
    keys = []
    for path in (weights_file, same, other):
        feats.weights = str(path)
        keys.append(onnx_runtime.model_key(feats._onnx_config(), feats._weights_digest()))
    assert keys[0] == keys[1] != keys[2]


@pytest.mark.slow
def test_pickled_onnx_features_predict_the_same(use_onnx, weights_file):
    X = _images(5, seed=2)
    feats = BackboneFeatures("mobilenet", alpha=0.25, weights=str(weights_file), image_size=32).fit()
    before = feats.transform(X)
    state = feats.__getstate__()
    assert "_onnx" not in state and "model_" not in state and state["_pickled_weights"]  # weights travel
    restored = pickle.loads(pickle.dumps(feats))
    np.testing.assert_array_equal(restored.transform(X), before)
    assert restored._runtime == "onnx"
    from cvtoolkit import hashing

    assert hashing.fitted_fingerprint(restored) == hashing.fitted_fingerprint(feats)


@pytest.mark.slow
def test_extract_runs_onnx_and_decodes_at_the_backbone_size(use_onnx, weights_file, tmp_path, monkeypatch):
    from cvtoolkit.features.extraction import extract_to_store
    from cvtoolkit.io import read_store

    folder = write_image_folder(tmp_path / "shapes", n_per_class=4, size=48, ext=".jpg")
    seen = []
    transform = BackboneFeatures.transform

    def spy(self, X):
        seen.append((type(X).__name__, getattr(X, "shape", None), getattr(X, "dtype", None)))
        return transform(self, X)

    monkeypatch.setattr(BackboneFeatures, "transform", spy)
    out = extract_to_store(BackboneFeatures("mobilenet", alpha=0.25, weights=str(weights_file), image_size=32),
                           folder, tmp_path / "f.h5", batch_size=5, progress=False)
    # decoded and resized to 32x32 by the decoding thread: one uint8 array per chunk reaches the network
    assert seen and all(kind == "ndarray" and shape[1:] == (32, 32, 3) and dtype == np.uint8
                        for kind, shape, dtype in seen)
    stored = read_store(out.path)
    assert stored.attrs["decode_size"] == [32, 32] and stored.images.shape == (12, 256)
    keras_feats = _keras_features(weights_file, monkeypatch)
    from cvtoolkit.data import load_images

    images, kept, _ = load_images(list(stored.paths), image_size=32, progress=False)
    want = keras_feats.transform(images)
    np.testing.assert_allclose(stored.images, want, rtol=0, atol=TOL * np.abs(want).max())


@pytest.mark.slow
def test_without_onnxruntime_keras_runs_and_one_line_says_so(use_onnx, weights_file, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError, as uninstalled
    monkeypatch.setattr(onnx_runtime, "_said", set())
    X = _images(3, seed=3)
    with caplog.at_level(logging.WARNING, logger="cvtoolkit.transfer.onnx_runtime"):
        first = BackboneFeatures("mobilenet", alpha=0.25, weights=str(weights_file), image_size=32).fit()
        second = BackboneFeatures("mobilenet", alpha=0.25, weights=str(weights_file), image_size=32).fit()
    lines = [r.getMessage() for r in caplog.records if r.name == "cvtoolkit.transfer.onnx_runtime"]
    assert len(lines) == 1 and "run in Keras" in lines[0] and "onnxruntime is not installed" in lines[0]
    assert "model_" in vars(first) and first.__dict__.get("_runtime") is None  # the Keras model runs
    np.testing.assert_array_equal(second.transform(X), first.transform(X))


def test_onnx_required_but_missing_is_a_model_error(weights_file, tmp_path, monkeypatch):
    monkeypatch.setenv("CVTOOLKIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(onnx_runtime.RUNTIME_ENV, "onnx")
    monkeypatch.setattr(onnx_runtime, "runtime_missing", lambda converter: "onnxruntime is not installed (test)")
    with pytest.raises(ModelError, match="onnxruntime is not installed"):
        BackboneFeatures("mobilenet", alpha=0.25, weights=str(weights_file), image_size=32).fit()
    monkeypatch.setenv(onnx_runtime.RUNTIME_ENV, "tensorrt")
    with pytest.raises(ModelError, match="auto, onnx or keras"):
        BackboneFeatures("mobilenet", alpha=0.25, weights=str(weights_file), image_size=32).fit()


def test_random_weights_stay_in_keras(tmp_path, monkeypatch):
    monkeypatch.setenv("CVTOOLKIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(onnx_runtime.RUNTIME_ENV, "auto")
    feats = BackboneFeatures("mobilenet", alpha=0.25, weights=None, image_size=32).fit()
    assert "model_" in vars(feats) and not (tmp_path / "onnx").exists()


@pytest.mark.slow
def test_a_saved_backbone_pipeline_predicts_through_onnx_with_trusted_types(use_onnx, weights_file, tmp_path):
    from cvtoolkit.methods import make_method
    from cvtoolkit.methods.artifact import load_pipeline, save_pipeline

    X, y, names = make_class_images(4, size=32)
    est = make_method("mobilenet+logreg", feature_options={"weights": str(weights_file), "alpha": 0.25},
                      image_size=32).fit(X, y)
    assert est.named_steps["features"]._runtime == "onnx"
    folder = save_pipeline(est, tmp_path / "mb", method="mobilenet+logreg", class_names=names, image_size=32,
                           channels=3)
    loaded = load_pipeline(folder)  # skops with trusted types only: the new state must be among them
    features = loaded.estimator.named_steps["features"]
    np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert features._runtime == "onnx" and features.__dict__.get("_onnx") is not None
