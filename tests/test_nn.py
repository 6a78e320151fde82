"""Tests for cvtoolkit.nn: every builder builds, trains a step, saves and reloads.

Models are shrunk through their width keywords (``filters``, ``units``,
``width``, ``stages``) and trained eagerly on 8 generated images so the file
stays fast on a loaded machine; the structure (layers, strides, padding) is
the published one.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from cvtoolkit.errors import ModelError
from cvtoolkit.nn import (
    MODELS,
    AlexNet,
    LeNet,
    MiniGoogLeNet,
    MiniVGGNet,
    ResNet,
    ShallowNet,
    build_model,
    default_input_shape,
    default_input_size,
    get_builder,
    register_model,
)

# Small widths for speed; the layer structure is unchanged.
TINY = {
    "shallownet": {"filters": 4},
    "lenet": {"filters": (4, 6), "units": 8},
    "minivggnet": {"filters": (4, 6), "units": 8},
    "alexnet": {"filters": (4, 4, 4, 4, 4), "units": 8},
    "minigooglenet": {"width": 0.1},
    "resnet": {"stages": (1, 1), "filters": (4, 8, 8)},
}

# (input shape, pooling for the include_top=False build) per model: small,
# odd and recipe-sized inputs, grey and colour.
SIZES = {
    "shallownet": [((8, 8, 1), "max"), ((32, 32, 3), None)],
    "lenet": [((8, 8, 1), None), ((28, 28, 1), "avg"), ((17, 23, 3), "max")],
    "minivggnet": [((8, 8, 3), "avg"), ((32, 32, 3), None)],
    "alexnet": [((16, 16, 3), None), ((64, 64, 3), "avg"), ((33, 45, 1), "max")],
    "minigooglenet": [((7, 7, 3), "max"), ((32, 32, 3), None)],
    "resnet": [((9, 9, 1), "avg"), ((32, 32, 3), None)],
}

TRAIN_SHAPE = {
    "shallownet": (16, 16, 3),
    "lenet": (16, 16, 1),
    "minivggnet": (16, 16, 3),
    "alexnet": (32, 32, 3),
    "minigooglenet": (16, 16, 3),
    "resnet": (16, 16, 3),
}


def _data(shape, classes=3, n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, *shape)).astype("float32")
    y = np.arange(n) % classes
    return x, y


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_registry_names():
    assert set(MODELS) == {"shallownet", "lenet", "minivggnet", "alexnet", "minigooglenet", "resnet"}
    assert get_builder("MiniVGGNet") is MiniVGGNet
    assert set(TINY) == set(MODELS)


@pytest.mark.parametrize("name", sorted(TINY))
def test_builds_for_several_sizes_with_and_without_top(name):
    for shape, pooling in SIZES[name]:
        top = build_model(name, shape, 4, **TINY[name])
        assert top.input_shape == (None, *shape)
        assert top.output_shape == (None, 4)
        assert top.get_layer("predictions").activation.__name__ == "softmax"

        features = build_model(name, shape, 4, include_top=False, pooling=pooling, **TINY[name])
        assert "predictions" not in [layer.name for layer in features.layers]
        if pooling is None:
            assert len(features.output_shape) == 4  # the last feature map
            channels = features.output_shape[-1]
        else:
            assert len(features.output_shape) == 2
            channels = features.output_shape[-1]
            layer = features.layers[-1]
            expected = keras.layers.GlobalAveragePooling2D if pooling == "avg" else keras.layers.GlobalMaxPooling2D
            assert isinstance(layer, expected)
        assert channels >= 1


@pytest.mark.parametrize("name", sorted(TINY))
def test_trains_one_step_and_keras_file_round_trip(name, tmp_path):
    shape = TRAIN_SHAPE[name]
    x, y = _data(shape)
    model = build_model(name, shape, 3, **TINY[name])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))

    proba = _np(model(x, training=False))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # built-in layers only: no custom_objects
    assert loaded.name == name
    np.testing.assert_allclose(_np(loaded(x, training=False)), proba, rtol=1e-5, atol=1e-6)


def test_graph_mode_fit_and_predict():
    x, y = _data((12, 12, 3))
    model = ShallowNet((12, 12, 3), 3, weight_decay=1e-4)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert set(history.history) >= {"loss", "accuracy"}
    assert model.predict(x, verbose=0).shape == (8, 3)


def test_published_shapes():
    # AlexNet keeps the paper's valid pools at 227x227: 6x6x256 before the dense layers.
    assert AlexNet(include_top=False).output_shape == (None, 6, 6, 256)
    # MiniGoogLeNet's 32x32 network ends at 7x7 (the book's 7x7 average pool).
    assert MiniGoogLeNet(include_top=False).output_shape == (None, 7, 7, 336)
    # LeNet on MNIST: 7x7x50 flattened into 500 hidden units.
    lenet = LeNet()
    assert lenet.get_layer("flatten").output.shape[-1] == 7 * 7 * 50
    assert lenet.get_layer("fc1").units == 500
    # ResNet stages halve the size after the first one.
    resnet = ResNet((32, 32, 3), include_top=False, stages=(1, 1, 1), filters=(8, 8, 16, 32))
    assert resnet.output_shape == (None, 8, 8, 32)


def test_default_input_sizes():
    assert default_input_size("shallownet") == (32, 32)
    assert default_input_size("lenet") == (28, 28)
    assert default_input_size("alexnet") == (227, 227)
    assert default_input_size("MINIGOOGLENET") == (32, 32)
    assert default_input_shape("lenet") == (28, 28, 1)
    assert build_model("lenet", None, 10, **TINY["lenet"]).input_shape == (None, 28, 28, 1)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ModelError) as err:
        build_model("minivgg", (32, 32, 3), 10)
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    for name in MODELS:
        assert name in msg
    assert "Did you mean 'minivggnet'" in msg
    with pytest.raises(ValueError, match="unknown model"):
        default_input_size("vgg99")


def test_unknown_keyword_is_reported():
    with pytest.raises(ModelError, match="does not take batch_norm"):
        build_model("lenet", (28, 28, 1), 10, batch_norm=False)


def test_register_model_decorator():
    @register_model("Tiny_Dense")
    def TinyDense(input_shape=(6, 6, 1), classes=10, include_top=True, pooling=None,
                  classifier_activation="softmax", name="tiny_dense"):
        inputs = keras.Input(input_shape)
        x = keras.layers.Flatten()(inputs)
        return keras.Model(inputs, keras.layers.Dense(classes, activation=classifier_activation)(x), name=name)

    try:
        assert MODELS["tiny_dense"] is TinyDense
        assert build_model("tiny_dense", classes=3).output_shape == (None, 3)
        assert default_input_size("tiny_dense") == (6, 6)
        with pytest.raises(ValueError, match="already registered"):
            register_model("tiny_dense")(lambda **kw: None)
        replacement = lambda **kw: None  # noqa: E731
        assert register_model("tiny_dense", overwrite=True)(replacement) is replacement
        assert MODELS["tiny_dense"] is replacement
    finally:
        MODELS.pop("tiny_dense", None)


@pytest.mark.parametrize(
    "builder, shape, minimum",
    [(LeNet, (3, 8, 1), "4x4"), (MiniVGGNet, (8, 3, 3), "4x4"), (MiniGoogLeNet, (6, 6, 3), "7x7")],
)
def test_too_small_input_names_the_minimum(builder, shape, minimum):
    with pytest.raises(ValueError, match=f"at least {minimum}"):
        builder(shape, 10)


def test_argument_errors():
    with pytest.raises(ValueError, match="pooling"):
        ShallowNet((8, 8, 3), include_top=False, pooling="mean")
    with pytest.raises(ValueError, match="height, width, channels"):
        ShallowNet((8, 8), 10)
    with pytest.raises(ValueError, match="classes"):
        ShallowNet((8, 8, 3), 0)
    with pytest.raises(ValueError, match="fixed input size"):
        LeNet((None, None, 1), 10)
    with pytest.raises(ValueError, match="dropout"):
        MiniVGGNet((8, 8, 3), dropout=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        ShallowNet((8, 8, 3), weight_decay=-1)
    with pytest.raises(ValueError, match="5 convolution"):
        AlexNet((32, 32, 3), filters=(8, 8))
    with pytest.raises(ValueError, match="len\\(stages\\) \\+ 1"):
        ResNet((32, 32, 3), stages=(1, 1), filters=(8, 8))
    with pytest.raises(ValueError, match="stem"):
        ResNet((32, 32, 3), stem="tiny")


def test_weights_argument(tmp_path):
    with pytest.raises(ModelError, match="no published ImageNet weights"):
        ShallowNet((8, 8, 3), weights="imagenet")
    with pytest.raises(ModelError, match="does not exist"):
        ShallowNet((8, 8, 3), weights=tmp_path / "missing.weights.h5")
    x, _ = _data((8, 8, 3))
    first = ShallowNet((8, 8, 3), 3)
    path = tmp_path / "shallow.weights.h5"
    first.save_weights(path)
    second = ShallowNet((8, 8, 3), 3, weights=path)
    np.testing.assert_allclose(_np(second(x)), _np(first(x)), rtol=1e-6)
    with pytest.raises(ModelError, match="same input shape"):
        ShallowNet((8, 8, 3), 5, weights=path)


def test_batch_norm_and_dropout_switches():
    def kinds(model):
        return [type(layer).__name__ for layer in model.layers]

    full = MiniVGGNet((16, 16, 3), 3, **TINY["minivggnet"])
    assert kinds(full).count("BatchNormalization") == 5
    rates = sorted(layer.rate for layer in full.layers if isinstance(layer, keras.layers.Dropout))
    assert rates == [0.25, 0.25, 0.5]

    plain = MiniVGGNet((16, 16, 3), 3, batch_norm=False, dropout=False, **TINY["minivggnet"])
    assert "BatchNormalization" not in kinds(plain)
    assert "Dropout" not in kinds(plain)

    custom = MiniVGGNet((16, 16, 3), 3, dropout=0.3, block_dropout=0.1, **TINY["minivggnet"])
    assert sorted(layer.rate for layer in custom.layers if isinstance(layer, keras.layers.Dropout)) == [0.1, 0.1, 0.3]

    assert "Dropout" not in kinds(AlexNet((32, 32, 3), 3, dropout=False, **TINY["alexnet"]))
    assert "Dropout" in kinds(ShallowNet((8, 8, 3), 3, dropout=True))


def test_weight_decay_adds_losses():
    model = LeNet((8, 8, 1), 3, weight_decay=1e-3, **TINY["lenet"])
    assert len(model.losses) == 4  # two convolutions, fc1, predictions
    assert len(LeNet((8, 8, 1), 3, **TINY["lenet"]).losses) == 0


def test_logits_and_input_tensor():
    logits = ShallowNet((8, 8, 3), 3, classifier_activation=None)
    assert logits.get_layer("predictions").activation.__name__ == "linear"

    inputs = keras.Input((16, 16, 3))
    backbone = ResNet(input_tensor=inputs, include_top=False, pooling="avg", stages=(1,), filters=(4, 8))
    assert backbone.inputs[0] is inputs
    assert backbone.output_shape == (None, 8)

    scaled = keras.layers.Rescaling(1 / 255)(inputs)
    on_layer = ShallowNet(input_tensor=scaled, include_top=False, filters=2)
    assert on_layer.inputs[0] is inputs  # traced back to the source input
    with pytest.raises(ValueError, match="Keras tensor"):
        ShallowNet(input_tensor=np.zeros((1, 8, 8, 3)))


def test_resnet_imagenet_stem_builds_small():
    model = ResNet((12, 12, 3), 3, stem="imagenet", stages=(1, 1), filters=(4, 8, 8))
    assert model.get_layer("stem_pool").output.shape[1:3] == (6, 6)
    assert model.output_shape == (None, 3)
