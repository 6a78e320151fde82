"""Tests of cvtoolkit.transfer: backbones, features, fine-tuning.

Every model here is built with random weights (``weights=None``) or weights a
test saved itself, at 32x32; nothing is downloaded.
"""

from __future__ import annotations

import os
import pickle
import socket
import urllib.error

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import layers, ops  # noqa: E402
from keras.src.utils import file_utils  # noqa: E402  (the module applications download with)
from sklearn.base import clone  # noqa: E402

from cvtoolkit.errors import MissingDownloadError, ModelError  # noqa: E402
from cvtoolkit.transfer import (  # noqa: E402
    BACKBONES,
    BackboneFeatures,
    BackbonePreprocessing,
    build_backbone,
    build_feature_extractor,
    build_finetune_model,
    fine_tune,
    imagenet_weights_file,
    make_backbone_features,
    unfreeze_top_layers,
)
from cvtoolkit.transfer import backbones as bb  # noqa: E402
from cvtoolkit.transfer.backbones import has_imagenet_layout  # noqa: E402


def _images(n, shape=(32, 32, 3), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n,) + shape, dtype=np.uint8)


def _numpy(v):
    return np.asarray(ops.convert_to_numpy(v))


# --------------------------------------------------------------------------- #
# Registry, building, file names
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "name, kwargs, width",
    [
        ("vgg16", {}, 512),
        # > 3 s each here: full-size graphs
        pytest.param("resnet50", {}, 2048, marks=pytest.mark.slow),
        pytest.param("mobilenet", {"alpha": 0.25}, 256, marks=pytest.mark.slow),
        pytest.param("mobilenetv2", {"alpha": 0.35}, 1280, marks=pytest.mark.slow),
        pytest.param("efficientnetb0", {}, 1280, marks=pytest.mark.slow),
    ],
)
def test_every_backbone_builds_small_with_random_weights(name, kwargs, width):
    assert name in BACKBONES
    model = build_feature_extractor(name, image_size=32, weights=None, **kwargs)
    out = np.asarray(model.predict_on_batch(_images(2).astype("float32")))
    assert model.input_shape == (None, 32, 32, 3)
    assert out.shape == (2, width)
    assert np.isfinite(out).all()


def test_imagenet_file_names_match_keras():
    assert imagenet_weights_file("mobilenet", alpha=0.25) == "mobilenet_2_5_224_tf_no_top.h5"
    assert imagenet_weights_file("mobilenet", alpha=0.5, input_shape=(160, 160, 3)) == (
        "mobilenet_5_0_160_tf_no_top.h5"
    )
    # Sizes with no file of their own fall back to 224, as in Keras.
    assert imagenet_weights_file("mobilenet", alpha=1.0, input_shape=100) == (
        "mobilenet_1_0_224_tf_no_top.h5"
    )
    assert imagenet_weights_file("vgg16") == "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert imagenet_weights_file("resnet50", include_top=True) == (
        "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    )
    assert imagenet_weights_file("mobilenetv2") == (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    )
    assert imagenet_weights_file("efficientnetb0") == "efficientnetb0_notop.h5"


def test_unknown_backbone_and_misplaced_alpha_are_model_errors():
    with pytest.raises(ModelError, match="vgg16"):
        build_backbone("alexnet", weights=None)
    with pytest.raises(ModelError, match="alpha"):
        build_backbone("vgg16", alpha=0.25, weights=None, input_shape=32)
    with pytest.raises(ModelError, match="alpha"):
        build_backbone("mobilenet", alpha=0.3, weights="imagenet", input_shape=32)


# --------------------------------------------------------------------------- #
# Preprocessing exactly once
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_preprocessing_layer_is_the_backbones_own(name):
    x = _images(2, (5, 6, 3), seed=1).astype("float32")
    expected = BACKBONES[name].preprocess_input(x.copy())  # Keras's NumPy path
    got = _numpy(BackbonePreprocessing(name)(x))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-4)
    # The caller's array is left alone.
    np.testing.assert_array_equal(x, _images(2, (5, 6, 3), seed=1).astype("float32"))


def test_mobilenet_features_see_pixels_normalised_once():
    model = build_feature_extractor("mobilenet", alpha=0.25, weights=None, image_size=32)
    x = np.zeros((2, 32, 32, 3), np.float32)
    x[1] = 255.0
    first = keras.Model(model.input, model.get_layer("preprocess").output)
    seen = np.asarray(first.predict_on_batch(x))
    assert seen[0].min() == pytest.approx(-1.0) and seen[1].max() == pytest.approx(1.0)

    # The whole model equals Keras's base on preprocess_input applied once ...
    # (random weights give tiny activations: compare relative to their scale)
    pixels = _images(3).astype("float32")
    base = model.layers[-1]
    once = keras.applications.mobilenet.preprocess_input(pixels.copy())
    expected = np.asarray(base.predict_on_batch(once))
    scale = np.abs(expected).max()
    assert scale > 0
    np.testing.assert_allclose(model.predict_on_batch(pixels), expected, rtol=1e-4, atol=1e-5 * scale)
    # ... and not twice (the check above would notice a second pass).
    twice = keras.applications.mobilenet.preprocess_input(once.copy())
    assert np.abs(np.asarray(base.predict_on_batch(twice)) - expected).max() > 1e-2 * scale


def test_efficientnet_gets_no_extra_normalisation():
    model = build_feature_extractor("efficientnetb0", weights=None, image_size=32)
    outer = [type(layer).__name__ for layer in model.layers[:-1]]
    assert outer == ["InputLayer", "BackbonePreprocessing"]
    x = _images(1).astype("float32")
    np.testing.assert_array_equal(_numpy(model.get_layer("preprocess")(x)), x)
    # The network's own stem rescales 0..255 itself.
    stem = [l for l in model.layers[-1].layers if isinstance(l, layers.Rescaling)]
    assert [float(l.scale) for l in stem] == [pytest.approx(1 / 255)]


# --------------------------------------------------------------------------- #
# Weights: local files, missing files, offline ImageNet
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("file_name", ["tiny.weights.h5", "tiny_legacy.h5"])
def test_weights_from_a_local_file(tmp_path, file_name):
    src = build_backbone("mobilenet", alpha=0.25, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / file_name
    if file_name.endswith(".weights.h5"):
        src.save_weights(path)
    else:  # a legacy HDF5 file, the format keras.applications downloads
        src.save(path)
    loaded = build_backbone("mobilenet", alpha=0.25, weights=path, input_shape=(32, 32, 3))
    assert len(loaded.weights) == len(src.weights)
    for a, b in zip(src.weights, loaded.weights):
        np.testing.assert_array_equal(_numpy(a), _numpy(b))

    with pytest.raises(ModelError, match=file_name) as info:  # wrong width multiplier
        build_backbone("mobilenet", alpha=0.5, weights=path, input_shape=(32, 32, 3))
    assert "\n" not in str(info.value)


def test_missing_weights_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "mobilenet.h5"
    with pytest.raises(ModelError, match="not found") as info:
        build_backbone("mobilenet", alpha=0.25, weights=missing, input_shape=32)
    assert str(missing) in str(info.value)
    with pytest.raises(ModelError, match="mobilenet.h5"):
        BackboneFeatures("mobilenet", alpha=0.25, weights=str(missing), image_size=32).fit()


def test_imagenet_without_network_names_file_and_folder(tmp_path, monkeypatch):
    cache = tmp_path / "models"
    monkeypatch.setattr(bb, "keras_cache_dir", lambda: cache)
    monkeypatch.setattr(bb, "_network_available", lambda *a, **k: True)  # let Keras try
    real_get_file = file_utils.get_file
    monkeypatch.setattr(
        file_utils, "get_file",
        lambda *a, **k: real_get_file(*a, **{**k, "cache_dir": str(tmp_path)}),
    )
    calls = []

    def no_network(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    with pytest.raises(MissingDownloadError) as info:
        build_backbone("mobilenet", alpha=0.25, input_shape=(32, 32, 3))
    message = str(info.value)
    assert calls and calls[0].endswith("mobilenet_2_5_224_tf_no_top.h5")
    assert "mobilenet_2_5_224_tf_no_top.h5" in message
    assert str(cache) in message and "--weights" in message
    assert "\n" not in message


def test_imagenet_offline_fails_fast_without_calling_keras(tmp_path, monkeypatch):
    monkeypatch.setattr(bb, "keras_cache_dir", lambda: tmp_path / "models")
    monkeypatch.setattr(bb, "_network_available", lambda *a, **k: False)
    calls = []
    monkeypatch.setattr(file_utils, "get_file", lambda *a, **k: calls.append(a))
    with pytest.raises(MissingDownloadError, match="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"):
        build_backbone("resnet50", input_shape=(32, 32, 3))
    assert calls == []


def test_network_probe_reports_a_closed_port(monkeypatch):
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert bb._network_available("127.0.0.1", port=port, timeout=1.0) is False
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert bb._network_available("127.0.0.1", port=server.getsockname()[1], timeout=1.0)


@pytest.mark.slow  # > 3 s: builds full-size Keras backbones
def test_efficientnet_imagenet_file_gets_the_imagenet_graph(tmp_path):
    src = build_backbone("efficientnetb0", weights=None, input_shape=32)
    assert not has_imagenet_layout(src)
    path = tmp_path / "efficientnetb0_notop.h5"  # Keras's ImageNet file name
    src.save(path)  # legacy HDF5, like the file Keras downloads
    model = build_backbone("efficientnetb0", weights=path, input_shape=32)
    assert has_imagenet_layout(model)
    for a, b in zip(src.weights, model.weights):
        np.testing.assert_array_equal(_numpy(a), _numpy(b))


# --------------------------------------------------------------------------- #
# BackboneFeatures
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def fitted_features():
    feats = BackboneFeatures("mobilenet", alpha=0.25, weights=None, image_size=32, batch_size=4)
    return feats.fit()


def test_transform_gives_fixed_width_float32_rows(fitted_features):
    rng = np.random.default_rng(3)
    images = [
        rng.integers(0, 256, shape, dtype=np.uint8)
        for shape in [(40, 48, 3), (32, 32, 3), (64, 20, 3), (33, 33), (50, 50, 1), (31, 90, 3)]
    ]
    F = fitted_features.transform(images)
    assert F.shape == (6, 256) and F.dtype == np.float32
    assert np.isfinite(F).all()
    assert fitted_features.get_feature_names_out().tolist()[:2] == ["mobilenet_0", "mobilenet_1"]
    # Grey images are features of the same image in three channels.
    grey = images[3]
    np.testing.assert_allclose(
        F[3], fitted_features.transform([np.dstack([grey] * 3)])[0], rtol=1e-5, atol=1e-6
    )


def test_transform_chunk_by_chunk_matches_one_pass(fitted_features):
    X = _images(7, (36, 36, 3), seed=4)
    model = fitted_features.model_
    whole = fitted_features.transform(X)  # batches of 4: the last one is padded
    parts = np.concatenate([fitted_features.transform(X[:3]), fitted_features.transform(X[3:])])
    np.testing.assert_allclose(whole, parts, rtol=1e-5, atol=1e-6)
    assert fitted_features.model_ is model  # built once, never rebuilt per chunk
    assert fitted_features.transform(X[:0]).shape == (0, 256)


def test_pickle_keeps_the_weights_and_clone_drops_state(fitted_features):
    X = _images(3, seed=5)
    before = fitted_features.transform(X)
    state = fitted_features.__getstate__()
    assert "model_" not in state
    restored = pickle.loads(pickle.dumps(fitted_features))
    np.testing.assert_allclose(restored.transform(X), before, rtol=1e-5, atol=1e-6)
    fresh = clone(fitted_features)
    assert fresh.get_params() == fitted_features.get_params()
    assert not hasattr(fresh, "model_")


def test_flip_average_makes_features_mirror_invariant():
    image = _images(1, (32, 40, 3), seed=7)
    mirror = image[:, :, ::-1]
    plain = BackboneFeatures("mobilenet", alpha=0.25, weights=None, image_size=32,
                             flip_average=False).fit()
    a, b = plain.transform(image), plain.transform(mirror)
    assert np.abs(a - b).max() > 1e-3 * np.abs(a).max()  # the net itself is not symmetric
    averaged = clone(plain).set_params(flip_average=True)
    averaged.model_ = plain.model_  # same random weights
    averaged.image_size_, averaged.n_features_out_ = plain.image_size_, plain.n_features_out_
    np.testing.assert_allclose(averaged.transform(image), averaged.transform(mirror),
                               rtol=1e-5, atol=1e-6 * np.abs(a).max())
    np.testing.assert_allclose(averaged.transform(image), (a + b) / 2, rtol=1e-4,
                               atol=1e-6 * np.abs(a).max())


def test_factory_ignores_options_it_does_not_take():
    feats = make_backbone_features(
        "MobileNet", alpha=0.25, weights=None, image_size=32, batch_size=8, cells=4, bins=16
    )
    assert isinstance(feats, BackboneFeatures)
    assert feats.get_params()["backbone"] == "mobilenet"
    assert feats.get_params()["batch_size"] == 8


def test_transform_before_fit_is_an_error():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        BackboneFeatures("mobilenet", alpha=0.25, weights=None, image_size=32).transform(_images(1))


# --------------------------------------------------------------------------- #
# Fine-tuning
# --------------------------------------------------------------------------- #
@pytest.mark.slow  # > 3 s: builds full-size Keras backbones
def test_fine_tune_two_phases_freeze_then_unfreeze_top(monkeypatch):
    keras.utils.set_random_seed(0)
    x = _images(8, seed=6).astype("float32")
    y = np.array([0, 1] * 4)
    model, base = build_finetune_model(
        "mobilenet", 2, input_shape=(32, 32, 3), alpha=0.25, weights=None, head_units=8
    )
    base_ids = {id(v) for v in base.weights}
    body = [l for l in base.layers if not isinstance(l, layers.InputLayer)]
    top = body[-6:]
    bns = [l for l in base.layers if isinstance(l, layers.BatchNormalization)]
    head = [model.get_layer("head_dense"), model.get_layer("predictions")]
    start = {v.path: _numpy(v).copy() for v in base.weights}
    seen = []

    def snapshot(layer_list):
        return {v.path: _numpy(v).copy() for l in layer_list for v in l.weights}

    class Spy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append({
                "trainable": {id(v) for v in self.model.trainable_weights},
                "lr": float(_numpy(self.model.optimizer.learning_rate)),
                "head_before": snapshot(head),
            })

        def on_train_end(self, logs=None):
            seen[-1]["base_after"] = snapshot([base])
            seen[-1]["head_after"] = snapshot(head)

    h1, h2 = fine_tune(
        model, base, (x, y), warmup_epochs=1, finetune_epochs=1, unfreeze_top=6,
        warmup_lr=1e-2, finetune_lr=1e-4, batch_size=4, callbacks=[Spy()], verbose=0,
    )
    assert len(h1.history["loss"]) == 1 and len(h2.history["loss"]) == 1
    warm, tune = seen

    # Phase 1: only the head trains; the base does not move at all.
    assert warm["trainable"] and not warm["trainable"] & base_ids
    assert warm["lr"] == pytest.approx(1e-2)
    for path, value in warm["base_after"].items():
        np.testing.assert_array_equal(value, start[path])

    # Phase 2: the top 6 base layers' weights, batch-norm excepted, at the lower rate.
    expected = {
        id(v) for l in top if not isinstance(l, layers.BatchNormalization) for v in l.weights
    }
    assert expected and tune["trainable"] & base_ids == expected
    assert tune["lr"] == pytest.approx(1e-4)
    assert all(not l.trainable for l in bns)
    for phase in (warm, tune):  # the head learns in both phases
        assert any(
            not np.array_equal(v, phase["head_before"][p]) for p, v in phase["head_after"].items()
        )
    changed = {p for p, v in tune["base_after"].items() if not np.array_equal(v, start[p])}
    assert changed <= {v.path for l in top if not isinstance(l, layers.BatchNormalization)
                       for v in l.weights}

    # The batch-norm trap: with the whole base unfrozen, batch-norm layers
    # still keep their statistics (Keras 3 lets fit's training=True override
    # the graph's training=False, so this rests on them staying frozen).
    unfreeze_top_layers(base, None)
    assert base.trainable_weights and all(not l.trainable for l in bns)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="sparse_categorical_crossentropy")
    stats = [v for l in bns for v in l.weights]
    before = [_numpy(v).copy() for v in stats]
    model.train_on_batch(x[:4], y[:4])
    for v, old in zip(stats, before):
        np.testing.assert_array_equal(_numpy(v), old)
