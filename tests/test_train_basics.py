"""Class weights and augmentation."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from cvtoolkit.train.class_weights import class_weights_from_labels


def test_balanced_formula():
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)
    w = class_weights_from_labels(y)
    assert w == pytest.approx({0: 10 / 18, 1: 10 / 9, 2: 10 / 3})
    # Every class carries the same total weight; the mean weight per sample is 1.
    totals = [w[c] * n for c, n in enumerate(np.bincount(y))]
    assert totals == pytest.approx([totals[0]] * 3)
    assert np.mean([w[c] for c in y]) == pytest.approx(1.0)


def test_balanced_matches_sklearn_and_handles_missing_classes():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0, 0, 0, 1, 1, 3])
    w = class_weights_from_labels(y, classes=4)
    ref = compute_class_weight("balanced", classes=np.array([0, 1, 3]), y=y)
    assert [w[0], w[1], w[3]] == pytest.approx(ref.tolist())
    assert w[2] == 0.0
    assert class_weights_from_labels([0, 1, -1, 1]) == pytest.approx({0: 1.5, 1: 0.75})
    with pytest.raises(ValueError, match="no labelled"):
        class_weights_from_labels([])


def test_augmentation_random_in_training_only():
    keras = pytest.importorskip("keras")
    from cvtoolkit.train.augmentation import make_augmentation, unwrap_augmentation, with_augmentation

    aug = make_augmentation(seed=0)
    x = np.random.default_rng(0).random((4, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(aug(x, training=False)), x)
    assert np.abs(np.asarray(aug(x, training=True)) - x).mean() > 1e-3
    names = [type(layer).__name__ for layer in aug.layers]
    assert names == ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast"]
    assert len(make_augmentation(flip=False, rotation=0, zoom=0, translation=0, contrast=0.2).layers) == 1

    net = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(),
                            keras.layers.Dense(2, activation="softmax")], name="net")
    trainer = with_augmentation(net, aug)
    np.testing.assert_allclose(np.asarray(trainer(x, training=False)), np.asarray(net(x)), atol=1e-6)
    assert unwrap_augmentation(trainer) is net
    assert unwrap_augmentation(net) is net


def test_recalibrate_batch_norm_sets_the_population_statistics():
    import keras

    from cvtoolkit.train import recalibrate_batch_norm

    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="features"), keras.layers.Dropout(0.5),
                            keras.layers.BatchNormalization(name="bn"), keras.layers.Dense(2, activation="softmax")])
    bn = net.get_layer("bn")
    bn.moving_mean.assign(np.full(3, 50.0, np.float32))  # stale statistics, as after too few steps
    x = np.random.default_rng(0).normal(2.0, 3.0, (40, 4)).astype(np.float32)
    batches = [(x[i:i + 10], None) for i in range(0, 40, 10)]
    assert recalibrate_batch_norm(net, batches) == 1
    dense = keras.ops.convert_to_numpy(net.get_layer("features")(x))  # dropout was off: BN saw these
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean), dense.mean(axis=0), rtol=1e-4, atol=1e-4)
    assert bn.momentum == 0.99 and net.layers[1].rate == 0.5  # restored
