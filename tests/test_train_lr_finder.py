"""LRFinder: a suggestion inside the swept range, early stop on divergence, plot."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cvtoolkit.train.lr_finder import LRFinder, smooth_losses, suggest_lr  # noqa: E402


def toy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    return model, x, y


def test_sweep_suggests_a_rate_in_range_and_leaves_model_alone(tmp_path):
    model, x, y = toy()
    before = [w.copy() for w in model.get_weights()]
    result = LRFinder(model, min_lr=1e-5, max_lr=1e3).find((x, y), steps=80, batch_size=16)
    assert 1e-5 <= result.suggested_lr <= 1e3
    assert result.suggested_lr < result.min_loss_lr
    assert np.all(np.diff(result.lrs) > 0)
    assert len(result.lrs) == len(result.losses) == len(result.smoothed)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    result.plot(tmp_path / "lr.png")
    assert (tmp_path / "lr.png").read_bytes()[:4] == b"\x89PNG"


def test_stops_early_on_divergence():
    model, x, y = toy()
    result = LRFinder(model, min_lr=1e-3, max_lr=1e6, divergence=4.0).find((x, y), steps=150, batch_size=16)
    assert result.stopped_early
    assert len(result.lrs) < 150
    last = result.smoothed[-1]
    assert not np.isfinite(last) or last > 4.0 * np.nanmin(result.smoothed[:-1])


def test_smoothing_and_suggestion_helpers():
    sm = smooth_losses(np.array([2.0, 2.0, 2.0, 2.0]), beta=0.98)
    np.testing.assert_allclose(sm, 2.0)
    lrs = np.logspace(-6, 1, 70)
    loss = 3.0 - 2.0 / (1.0 + np.exp(-4 * (np.log10(lrs) + 3)))  # steepest at 1e-3
    loss[lrs > 1e-1] += 50 * lrs[lrs > 1e-1]
    suggested, at_min = suggest_lr(lrs, loss)
    assert 3e-4 < suggested < 3e-3 and at_min > suggested
    with pytest.raises(ValueError):
        LRFinder(model=None, min_lr=1.0, max_lr=0.1)
