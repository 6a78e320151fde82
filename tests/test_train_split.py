"""The CNN paths hold out their validation part with the one splitter (cvtoolkit.data.split.stratified_split)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import cvtoolkit.data.split as split  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, None])
def test_estimator_validation_part_is_the_stratified_split(monkeypatch, seed):
    from cvtoolkit.train import KerasImageClassifier

    calls = []
    real = split.stratified_split

    def spy(labels, **kw):
        out = real(labels, **kw)
        calls.append((np.asarray(labels).copy(), kw, out))
        return out

    monkeypatch.setattr(split, "stratified_split", spy)

    def tiny(input_shape, classes):
        return keras.Sequential([keras.Input(input_shape), keras.layers.GlobalAveragePooling2D(),
                                 keras.layers.Dense(classes, activation="softmax")])

    y = np.arange(24) % 3
    X = np.random.default_rng(0).integers(0, 255, (24, 8, 8, 3), dtype=np.uint8)
    clf = KerasImageClassifier(tiny, epochs=1, batch_size=8, verbose=0, validation_fraction=0.25, seed=seed)
    clf.fit(X, np.array(["a", "b", "c"])[y])
    assert len(calls) == 1
    labels, kw, (train_idx, val_idx) = calls[0]
    np.testing.assert_array_equal(labels, y)
    assert kw == {"test_size": 0.25, "seed": 42 if seed is None else seed}
    ref_train, ref_val = real(y, test_size=0.25, seed=42 if seed is None else seed)  # same seed, same split
    np.testing.assert_array_equal(val_idx, ref_val)
    np.testing.assert_array_equal(train_idx, ref_train)
    assert "val_loss" in clf.history_
