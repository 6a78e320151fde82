"""Tests for cvtoolkit.inference: ten-crop, TTA, ensembles, rank-k."""

from __future__ import annotations

import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from cvtoolkit.errors import ModelError
from cvtoolkit.evaluate.metrics import rank_k_accuracy
from cvtoolkit.inference import (
    ensemble_predict,
    load_models,
    rank1_rank5,
    rank_k,
    ten_crop_predict,
    tta_predict,
)
from cvtoolkit.nn import ShallowNet


def _images(n=5, h=10, w=12, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)


def _corner_scores(batch):
    """Scores that identify a crop: its top-left and bottom-right red values."""
    batch = np.asarray(batch, dtype=np.float64)
    return np.stack([batch[:, 0, 0, 0], batch[:, -1, -1, 0]], axis=1)


def _tiny_model(shape=(8, 8, 3), classes=3, seed=0):
    keras.utils.set_random_seed(seed)
    return ShallowNet(shape, classes, filters=2)


# ----------------------------------------------------------------- ten-crop


def test_ten_crop_geometry_and_average():
    images = _images()
    ch, cw = 6, 8
    got = ten_crop_predict(_corner_scores, images, (ch, cw))
    H, W = images.shape[1:3]
    top, left = (H - ch) // 2, (W - cw) // 2
    expected = []
    for img in images:
        crops = [img[y : y + ch, x : x + cw] for y, x in [(0, 0), (0, W - cw), (H - ch, 0), (H - ch, W - cw), (top, left)]]
        crops += [crop[:, ::-1] for crop in crops]
        # the mirrored top-left crop starts with the corner pixel's right neighbour column
        assert crops[5][0, 0, 0] == img[0, cw - 1, 0]
        expected.append(_corner_scores(np.stack(crops)).mean(axis=0))
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-6)
    assert got.dtype == np.float32


def test_ten_crop_sees_ten_crops_per_image_in_chunks():
    seen = []

    def record(batch):
        seen.append(batch.shape)
        return np.full((len(batch), 2), 0.5)

    out = ten_crop_predict(record, _images(n=5), 4, batch_size=2)
    assert out.shape == (5, 2)
    assert seen == [(20, 4, 4, 3), (20, 4, 4, 3), (10, 4, 4, 3)]


def test_ten_crop_list_of_mixed_sizes_and_preprocess():
    images = [_images(1, 9, 9)[0], _images(1, 12, 20)[0]]
    out = ten_crop_predict(lambda b: np.stack([b.max((1, 2, 3)), b.min((1, 2, 3))], 1), images, 8,
                           preprocess=lambda b: b.astype(np.float32) / 255.0)
    assert out.shape == (2, 2)
    assert out.max() <= 1.0


def test_ten_crop_with_keras_model():
    model = _tiny_model((8, 8, 3))
    out = ten_crop_predict(model, _images(3, 10, 10), 8)
    assert out.shape == (3, 3)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_ten_crop_errors():
    with pytest.raises(ValueError, match="larger than the image"):
        ten_crop_predict(_corner_scores, _images(h=6, w=6), 8)
    with pytest.raises(ValueError, match="N, height, width, channels"):
        ten_crop_predict(_corner_scores, np.zeros((10, 10)), 4)


# ---------------------------------------------------------------------- TTA


def test_tta_identity_equals_plain_predict():
    model = _tiny_model()
    x = np.random.default_rng(1).random((6, 8, 8, 3)).astype(np.float32)
    plain = model.predict(x, verbose=0)
    np.testing.assert_allclose(tta_predict(model, x, lambda b: b, n=3), plain, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        tta_predict(model, x, lambda b: b, n=2, include_original=False), plain, rtol=1e-5, atol=1e-6
    )


def test_tta_averages_original_and_augmented_passes():
    x = _images(4, 8, 8).astype(np.float32)
    mirror = lambda b: b[:, :, ::-1]  # noqa: E731
    plain, mirrored = _corner_scores(x), _corner_scores(mirror(x))
    np.testing.assert_allclose(tta_predict(_corner_scores, x, mirror, n=2), (plain + 2 * mirrored) / 3, rtol=1e-6)
    np.testing.assert_allclose(
        tta_predict(_corner_scores, x, mirror, n=2, include_original=False), mirrored, rtol=1e-6
    )


def test_tta_seeded_rng_function_is_repeatable():
    x = np.zeros((3, 4, 4, 1), np.float32)
    noisy = lambda b, rng: b + rng.random(b.shape)  # noqa: E731
    a = tta_predict(_corner_scores, x, noisy, n=3, seed=7, include_original=False)
    b = tta_predict(_corner_scores, x, noisy, n=3, seed=7, include_original=False)
    c = tta_predict(_corner_scores, x, noisy, n=3, seed=8, include_original=False)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_tta_keras_layer_runs_in_training_mode():
    x = np.random.default_rng(2).random((8, 6, 6, 1)).astype(np.float32)
    flip = keras.Sequential([keras.layers.RandomFlip("horizontal", seed=3)])
    out = tta_predict(_corner_scores, x, flip, n=4, include_original=False)
    assert out.shape == (8, 2)
    # random flips moved pixels at least once (a no-op in inference mode)
    assert not np.allclose(out, _corner_scores(x))


def test_tta_errors():
    with pytest.raises(ValueError, match="at least 1"):
        tta_predict(_corner_scores, _images(), lambda b: b, n=0, include_original=False)
    with pytest.raises(TypeError, match="augment must be"):
        tta_predict(_corner_scores, _images(), augment="flip")
    with pytest.raises(ValueError, match="N, height, width, channels"):
        tta_predict(_corner_scores, np.zeros((4, 4, 3)), lambda b: b)


# ----------------------------------------------------------------- ensemble


def test_ensemble_of_saved_models_is_the_mean(tmp_path):
    x = np.random.default_rng(3).random((5, 8, 8, 3)).astype(np.float32)
    first, second = _tiny_model(seed=0), _tiny_model(seed=1)
    paths = [tmp_path / "a.keras", tmp_path / "b.keras"]
    first.save(paths[0])
    second.save(paths[1])
    expected = (first.predict(x, verbose=0) + second.predict(x, verbose=0)) / 2
    assert not np.allclose(first.predict(x, verbose=0), second.predict(x, verbose=0))
    np.testing.assert_allclose(ensemble_predict([str(p) for p in paths], x), expected, rtol=1e-5, atol=1e-6)
    # models and paths mix
    np.testing.assert_allclose(ensemble_predict([first, paths[1]], x), expected, rtol=1e-5, atol=1e-6)


def test_ensemble_disagreeing_models_name_both(tmp_path):
    three, four = ShallowNet((8, 8, 3), 3, filters=2), ShallowNet((8, 8, 3), 4, filters=2)
    three.save(tmp_path / "three.keras")
    four.save(tmp_path / "four.keras")
    with pytest.raises(ModelError) as err:
        load_models([tmp_path / "three.keras", tmp_path / "four.keras"])
    assert "three.keras" in str(err.value) and "four.keras" in str(err.value)
    bigger = ShallowNet((10, 10, 3), 3, filters=2)
    with pytest.raises(ModelError, match="input shape"):
        ensemble_predict([three, bigger], np.zeros((1, 8, 8, 3)))


def test_ensemble_file_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        ensemble_predict([tmp_path / "nope.keras"], np.zeros((1, 8, 8, 3)))
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="junk.keras"):
        load_models([junk])
    with pytest.raises(ValueError, match="non-empty"):
        ensemble_predict([], np.zeros((1, 8, 8, 3)))


def test_ensemble_warns_on_logits(caplog):
    logits = ShallowNet((8, 8, 3), 3, filters=2, classifier_activation=None)
    with caplog.at_level(logging.WARNING, logger="cvtoolkit.inference.ensemble"):
        ensemble_predict([logits], np.random.default_rng(0).random((4, 8, 8, 3)))
    assert "does not output probabilities" in caplog.text


# ------------------------------------------------------------------- rank-k


def test_rank_k_is_the_metrics_function():
    assert rank_k is rank_k_accuracy
    proba = np.array([[0.5, 0.2, 0.1, 0.1, 0.05, 0.05], [0.04, 0.06, 0.1, 0.1, 0.2, 0.5]])
    assert rank1_rank5([0, 0], proba) == (0.5, 0.5)
    assert rank1_rank5([1, 1], proba) == (0.0, 1.0)
