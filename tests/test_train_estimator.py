"""KerasImageClassifier: the scikit-learn face of a Keras CNN."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from sklearn.base import clone  # noqa: E402

from cvtoolkit.train import KerasImageClassifier  # noqa: E402
from cvtoolkit.train.estimator import sidecar_path  # noqa: E402


def tiny_cnn(input_shape, classes):
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(classes, activation="softmax"),
        ]
    )


def make_data(n=24, size=16, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    X = rng.integers(0, 60, (n, size, size, 3), dtype=np.uint8)
    # Class c is brighter in channel c: learnable in a few steps.
    for c in range(classes):
        X[y == c, :, :, c % 3] += np.uint8(150)
    return X, y


def test_fit_predict_proba_shapes_and_history():
    X, y = make_data()
    clf = KerasImageClassifier(tiny_cnn, epochs=2, batch_size=8, verbose=0, validation_fraction=0.25)
    assert clf.fit(X, y) is clf
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert clf.classes_.tolist() == [0, 1, 2]
    assert clf.input_shape_ == (16, 16, 3)
    assert set(clf.history_) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(clf.history_["loss"]) == 2
    assert set(np.unique(clf.predict(X))) <= {0, 1, 2}


def test_learns_an_easy_problem_with_string_labels():
    X, y = make_data(n=48)
    names = np.array(["cat", "dog", "owl"])[y]
    clf = KerasImageClassifier(tiny_cnn, epochs=12, batch_size=8, learning_rate=0.01, verbose=0)
    clf.fit(X, names)
    assert clf.classes_.tolist() == ["cat", "dog", "owl"]
    assert clf.score(X, names) > 0.8


def test_save_load_gives_same_predictions(tmp_path):
    X, y = make_data()
    clf = KerasImageClassifier(tiny_cnn, epochs=1, batch_size=8, verbose=0, augment=True).fit(X, y * 10)
    path = tmp_path / "m.keras"
    clf.save(path)
    assert path.is_file() and sidecar_path(path).is_file()
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]
    back = KerasImageClassifier.load(path)
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    assert back.classes_.tolist() == [0, 10, 20]
    assert back.epochs == 1 and back.augment is True
    # The saved network is the plain one: no random augmentation layers inside.
    assert not any("random" in layer.name for layer in back.model_.layers)


def test_save_rejects_other_extension(tmp_path):
    from cvtoolkit.errors import ModelError

    X, y = make_data(n=8)
    clf = KerasImageClassifier(tiny_cnn, epochs=1, batch_size=8, verbose=0).fit(X, y)
    with pytest.raises(ModelError, match=r"\.keras"):
        clf.save(tmp_path / "m.h5")


def test_clone_and_params():
    clf = KerasImageClassifier(tiny_cnn, epochs=3, optimizer="sgd", model_kwargs={})
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    twin.set_params(epochs=5)
    assert twin.epochs == 5 and clf.epochs == 3
    assert not hasattr(twin, "model_")


def test_same_seed_same_model():
    X, y = make_data(n=16)
    a = KerasImageClassifier(tiny_cnn, epochs=1, batch_size=8, verbose=0, seed=3).fit(X, y)
    b = KerasImageClassifier(tiny_cnn, epochs=1, batch_size=8, verbose=0, seed=3).fit(X, y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-5)


def test_class_weight_auto_and_bad_inputs():
    X, y = make_data(n=16)
    y = np.where(np.arange(16) < 12, 0, 1)
    clf = KerasImageClassifier(tiny_cnn, epochs=1, batch_size=8, verbose=0, class_weight="auto").fit(X, y)
    assert clf.predict_proba(X).shape == (16, 2)
    with pytest.raises(ValueError, match="trained on"):
        clf.predict_proba(X[:, :8, :8])
    with pytest.raises(ValueError, match="2 classes"):
        KerasImageClassifier(tiny_cnn, epochs=1, verbose=0).fit(X, np.zeros(16, int))
    with pytest.raises(ValueError, match="optimizer"):
        KerasImageClassifier(tiny_cnn, optimizer="lbfgs", verbose=0).fit(X, y)


def test_pickle_roundtrip():
    import pickle

    X, y = make_data(n=16)
    clf = KerasImageClassifier(tiny_cnn, epochs=1, batch_size=8, verbose=0).fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), atol=1e-6)


def test_from_model_wraps_a_network_trained_elsewhere(tmp_path):
    import keras

    net = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    first, second = {"loss": [1.0, 0.8]}, keras.callbacks.History()
    second.history = {"loss": [0.5], "accuracy": [0.9]}
    clf = KerasImageClassifier.from_model(net, ["a", "b", "c"], history=[first, second], class_names=["A", "B", "C"],
                                          model="tiny", batch_size=8)
    assert clf.history_ == {"loss": [1.0, 0.8, 0.5], "accuracy": [0.9]}
    assert clf.input_shape_ == (6, 6, 3) and clf.batch_size == 8 and clf.class_names_ == ["A", "B", "C"]
    X = np.random.default_rng(0).integers(0, 256, (5, 6, 6, 3), dtype=np.uint8)
    np.testing.assert_allclose(clf.predict_proba(X), net.predict(X / 255.0, verbose=0), rtol=1e-5, atol=1e-6)
    assert set(clf.predict(X)) <= {"a", "b", "c"}
    clf.save(tmp_path / "m.keras")
    back = KerasImageClassifier.load(tmp_path / "m.keras")
    assert back.classes_.tolist() == ["a", "b", "c"] and back.class_names_ == ["A", "B", "C"]
    assert back.model == "tiny" and back.history_ == clf.history_
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), rtol=1e-6)
    with pytest.raises(ValueError, match="2 classes given for a network with 3 outputs"):
        KerasImageClassifier.from_model(net, ["a", "b"])


class _WeightsPerEpoch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([w.copy() for w in self.model.get_weights()])


@pytest.mark.slow
def test_early_stopping_restores_the_best_validation_epoch():
    def wide(input_shape, classes):  # memorises random labels: the validation loss climbs after a few epochs
        return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                                 keras.layers.Dense(64, activation="relu"),
                                 keras.layers.Dense(classes, activation="softmax")])

    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, (60, 8, 8, 3), dtype=np.uint8)
    y = rng.integers(0, 2, 60)
    seen = _WeightsPerEpoch()
    clf = KerasImageClassifier(wide, epochs=12, batch_size=8, learning_rate=0.01, schedule="constant",
                               validation_fraction=0.25, early_stopping=12, verbose=0)
    clf.fit(X, y, callbacks=[seen])
    losses = clf.history_["val_loss"]
    assert len(losses) == 12  # patience 12: no stop, but the best epoch's weights are kept
    assert clf.best_epoch_ == int(np.argmin(losses)) + 1 < 12
    for got, want in zip(clf.model_.get_weights(), seen.weights[clf.best_epoch_ - 1]):
        np.testing.assert_array_equal(got, want)
    assert not all(np.array_equal(a, b) for a, b in zip(clf.model_.get_weights(), seen.weights[-1]))


def test_early_stopping_needs_a_validation_split():
    X, y = make_data()
    with pytest.raises(ValueError, match="validation_fraction"):
        KerasImageClassifier(tiny_cnn, epochs=1, early_stopping=2, verbose=0).fit(X, y)
    with pytest.raises(ValueError, match="patience"):
        KerasImageClassifier(tiny_cnn, epochs=1, early_stopping=0, validation_fraction=0.2, verbose=0).fit(X, y)


def test_early_stopping_on_a_part_too_small_to_split_trains_on_all_of_it(caplog):
    X, y = make_data(n=6, classes=3)  # 2 per class: a 10% stratified hold-out is impossible
    clf = KerasImageClassifier(tiny_cnn, epochs=1, batch_size=4, validation_fraction=0.1, early_stopping=3, verbose=0)
    clf.fit(X, y)
    assert "val_loss" not in clf.history_ and not hasattr(clf, "best_epoch_")
    assert any("no validation split" in r.getMessage() for r in caplog.records)
