"""Interpretation: top losses, most-confused pairs, per-class errors, Grad-CAM."""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from cvtoolkit.errors import ModelError
from cvtoolkit.evaluate import (
    find_last_conv_layer,
    grad_cam,
    most_confused,
    overlay_heatmap,
    per_class_errors,
    plot_top_losses,
    save_grad_cam_grid,
    top_losses,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- top losses


def test_top_losses_order_and_values():
    y = np.array([0, 1, 2, 0, 1])
    proba = np.array(
        [
            [0.9, 0.05, 0.05],  # loss -log .9
            [0.7, 0.2, 0.1],  # -log .2
            [0.3, 0.6, 0.1],  # -log .1  (worst)
            [0.5, 0.4, 0.1],  # -log .5
            [0.1, 0.8, 0.1],  # -log .8
        ]
    )
    idx, losses = top_losses(y, proba, 3)
    assert idx.tolist() == [2, 1, 3]
    assert losses == pytest.approx([-math.log(0.1), -math.log(0.2), -math.log(0.5)])
    all_idx, all_losses = top_losses(y, proba)
    assert all_idx.tolist() == [2, 1, 3, 4, 0]
    assert np.all(np.diff(all_losses) <= 0)


def test_top_losses_zero_probability_is_finite_and_ties_keep_order():
    idx, losses = top_losses([0, 0, 0], np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]]))
    assert idx.tolist() == [0, 1, 2]
    assert np.all(np.isfinite(losses)) and losses[0] == pytest.approx(-math.log(1e-15))
    assert losses[2] == 0.0


def test_plot_top_losses_png(tmp_path):
    import matplotlib.image as mpimg

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(12, 16, 16, 3), dtype=np.uint8)
    y = np.arange(12) % 3
    proba = rng.dirichlet(np.ones(3), size=12)
    path = tmp_path / "top.png"
    fig = plot_top_losses(images, y, proba, ["cat", "dog", "panda"], k=9, path=path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert mpimg.imread(path).shape[0] > 300
    assert len(fig.axes) == 9
    worst = top_losses(y, proba, 1)[0][0]
    first = fig.axes[0].get_title().splitlines()
    assert first[1].startswith(f"true {['cat', 'dog', 'panda'][y[worst]]}")
    assert first[2].startswith("loss ")
    # the first cell shows the worst image itself
    shown = fig.axes[0].images[0].get_array()
    assert np.array_equal(np.asarray(shown), images[worst])


def test_plot_top_losses_grey_and_float_images():
    images = np.random.default_rng(1).random((4, 10, 10, 1)).astype(np.float32)
    fig = plot_top_losses(images, [0, 1, 0, 1], np.full((4, 2), 0.5), ["a", "b"], k=2)
    assert np.asarray(fig.axes[0].images[0].get_array()).shape == (10, 10, 3)


def test_plot_top_losses_checks_lengths():
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        plot_top_losses(np.zeros((3, 4, 4, 3), np.uint8), [0, 1], np.eye(2), ["a", "b"])


# ---------------------------------------------------------------- confusion


def test_most_confused_counts():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [1, 1, 0, 0, 1, 1, 0, 0, 0]
    names = ["cat", "dog", "panda"]
    assert most_confused(y_true, y_pred, names) == [
        ("panda", "cat", 3),
        ("cat", "dog", 2),
        ("dog", "cat", 1),
        ("panda", "dog", 1),
    ]
    assert most_confused(y_true, y_pred, names, min_count=2) == [("panda", "cat", 3), ("cat", "dog", 2)]
    assert most_confused([0, 1], [0, 1], ["a", "b"]) == []


def test_per_class_errors():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [1, 1, 0, 1, 1, 1, 0, 0, 0]
    rows = per_class_errors(y_true, y_pred, ["cat", "dog", "panda", "absent"])
    assert [r["class"] for r in rows] == ["panda", "cat", "dog", "absent"]
    panda = rows[0]
    assert panda == {"class": "panda", "support": 4, "errors": 4, "error_rate": 1.0,
                     "confused_with": "cat", "confused_count": 3}
    assert rows[1]["error_rate"] == pytest.approx(2 / 3) and rows[1]["confused_with"] == "dog"
    assert rows[2]["errors"] == 0 and rows[2]["confused_with"] is None
    assert rows[3]["error_rate"] is None
    unsorted = per_class_errors(y_true, y_pred, ["cat", "dog", "panda", "absent"], sort=False)
    assert [r["class"] for r in unsorted] == ["cat", "dog", "panda", "absent"]


# ---------------------------------------------------------------- Grad-CAM


def _patch_model(final_activation: str = "softmax"):
    """A fixed-weight CNN whose class-1 score is the mean brightness.

    conv (1x1, weight 1, ReLU) -> global average pooling -> Dense with
    kernel [[-1, 1]]: class 1 rises with every bright pixel, class 0 falls.
    """
    import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(1, 1, use_bias=False, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, activation=final_activation, name="head")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("conv").set_weights([np.ones((1, 1, 1, 1), np.float32)])
    model.get_layer("head").set_weights([np.array([[-1.0, 1.0]], np.float32), np.zeros(2, np.float32)])
    return model


def _patch_image():
    img = np.zeros((1, 8, 8, 1), np.float32)
    img[0, 1:3, 5:7, 0] = 1.0  # bright 2x2 patch at top right
    img[0, 6, 1, 0] = 0.5
    return img


def test_grad_cam_points_at_the_evidence():
    model = _patch_model()
    img = _patch_image()
    heat = grad_cam(model, img, class_index=1)
    assert heat.shape == (1, 8, 8) and heat.dtype == np.float32
    # class 1 = mean brightness: the map is the image, scaled to [0, 1]
    np.testing.assert_allclose(heat[0], img[0, ..., 0], atol=1e-5)
    # class 0 is lowered by every bright pixel: nothing positive to show
    assert np.all(grad_cam(model, img, class_index=0) == 0.0)
    # default class = predicted class (1 here, the image is bright)
    np.testing.assert_allclose(grad_cam(model, img), heat, atol=1e-6)


def _three_class_model(separate_softmax: bool):
    """conv = identity on 2 channels -> GAP -> logits z0 = m0, z1 = 3 m0, z2 = m1."""
    import keras

    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(2, 1, use_bias=False, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if separate_softmax:
        x = keras.layers.Dense(3, name="head")(x)
        outputs = keras.layers.Activation("softmax")(x)
    else:
        outputs = keras.layers.Dense(3, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("conv").set_weights([np.eye(2, dtype=np.float32).reshape(1, 1, 2, 2)])
    kernel = np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    model.get_layer("head").set_weights([kernel, np.zeros(3, np.float32)])
    return model


@pytest.mark.parametrize("separate_softmax", [False, True])
def test_grad_cam_explains_the_logit_not_the_softmax(separate_softmax):
    model = _three_class_model(separate_softmax)
    img = np.zeros((1, 8, 8, 2), np.float32)
    img[0, 0:2, 0:2, 0] = 1.0  # evidence for classes 0 and 1 (channel 0)
    img[0, 5:7, 5:7, 1] = 1.0  # evidence for class 2 (channel 1)
    # the logit of class 0 rises with channel 0 only: the map is patch A
    heat = grad_cam(model, img, class_index=0)
    np.testing.assert_allclose(heat[0], img[0, ..., 0], atol=1e-5)
    # its softmax probability falls with both channels (class 1 gains 3x
    # faster, class 2 gains too): no positive evidence at all
    assert np.all(grad_cam(model, img, class_index=0, use_logits=False) == 0.0)


def test_grad_cam_tiny_trained_cnn(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((6, 16, 16, 3)).astype(np.float32)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Conv2D(6, 3, padding="same", name="c2"),
            keras.layers.Activation("relu", name="c2_relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    assert find_last_conv_layer(model) == "c2_relu"
    heat = grad_cam(model, x, batch_size=4)
    assert heat.shape == (6, 8, 8)
    assert np.all(np.isfinite(heat)) and heat.min() >= 0.0 and heat.max() <= 1.0
    peaks = heat.reshape(6, -1).max(axis=1)
    assert np.all((peaks == 0.0) | np.isclose(peaks, 1.0))
    assert grad_cam(model, x[:2], layer_name="c1", class_index=[0, 2]).shape == (2, 16, 16)
    with pytest.raises(ModelError, match="no top-level layer 'nope'"):
        grad_cam(model, x, layer_name="nope")
    with pytest.raises(ValueError, match="class_index must be in 0..2"):
        grad_cam(model, x[:1], class_index=3)
    with pytest.raises(ValueError, match="2 entries for 6 images"):
        grad_cam(model, x, class_index=[0, 1])

    path = tmp_path / "cam.png"
    display = (x * 255).astype(np.uint8)
    save_grad_cam_grid(display, heat, path, titles=[f"img {i}" for i in range(6)])
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_grad_cam_nested_backbone():
    import keras

    inner_in = keras.Input((12, 12, 3))
    inner = keras.Model(inner_in, keras.layers.Conv2D(4, 3, activation="relu")(inner_in), name="backbone")
    inputs = keras.Input((12, 12, 3))
    x = inner(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    assert find_last_conv_layer(model) == "backbone"
    heat = grad_cam(model, np.random.default_rng(0).random((3, 12, 12, 3)).astype(np.float32))
    assert heat.shape == (3, 10, 10) and np.all(np.isfinite(heat))
    assert heat.min() >= 0.0 and heat.max() <= 1.0


def test_grad_cam_needs_a_feature_map():
    import keras

    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2, activation="softmax")])
    with pytest.raises(ModelError, match="no layer with a 4-D"):
        find_last_conv_layer(model)


def test_grad_cam_other_backends_say_so(monkeypatch):
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(NotImplementedError, match="'jax'"):
        grad_cam(object(), np.zeros((1, 4, 4, 1), np.float32))


def test_overlay_heatmap():
    image = np.full((20, 30, 3), 100, np.uint8)
    heat = np.zeros((5, 5), np.float32)
    heat[0, 0] = 1.0
    out = overlay_heatmap(image, heat, alpha=0.5)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    assert not np.array_equal(out[0, 0], out[-1, -1])  # hot corner differs from the cold one
    assert np.array_equal(overlay_heatmap(image, heat, alpha=0.0), image)
    grey = overlay_heatmap(np.zeros((8, 8), np.float32), np.ones((2, 2)), alpha=1.0)
    assert grey.shape == (8, 8, 3)
    with pytest.raises(ValueError, match="alpha"):
        overlay_heatmap(image, heat, alpha=2.0)
