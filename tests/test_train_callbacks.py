"""TrainingMonitor and Checkpoint: files every epoch, resume, atomic writes."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cvtoolkit.train.callbacks import Checkpoint, TrainingMonitor, read_history, read_state  # noqa: E402


def small_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n=16):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype(int)


class Spy(keras.callbacks.Callback):
    """Records what the monitor's files hold at the end of each epoch."""

    def __init__(self, json_path, fig_path):
        super().__init__()
        self.json_path, self.fig_path, self.seen = json_path, fig_path, []

    def on_epoch_end(self, epoch, logs=None):
        h = json.loads(open(self.json_path).read())
        self.seen.append((len(h["loss"]), os.path.getsize(self.fig_path)))


def test_monitor_writes_json_and_png_every_epoch(tmp_path):
    js, png = tmp_path / "h.json", tmp_path / "h.png"
    spy = Spy(js, png)
    x, y = data()
    model = small_model()
    model.fit(x, y, validation_data=(x, y), epochs=3, verbose=0, callbacks=[TrainingMonitor(png, js), spy])
    assert [n for n, _ in spy.seen] == [1, 2, 3]
    assert all(size > 0 for _, size in spy.seen)
    h = read_history(js)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(h) and "acc" not in h
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]


def test_monitor_resumes_with_start_at(tmp_path):
    js = tmp_path / "h.json"
    x, y = data()
    model = small_model()
    model.fit(x, y, epochs=4, verbose=0, callbacks=[TrainingMonitor(None, js)])
    first = read_history(js)["loss"]
    # Interrupted after epoch 2: the resumed run keeps 2 epochs and appends.
    model.fit(x, y, epochs=5, initial_epoch=2, verbose=0, callbacks=[TrainingMonitor(None, js, start_at=2)])
    resumed = read_history(js)["loss"]
    assert len(resumed) == 5
    assert resumed[:2] == first[:2]
    # start_at=0 starts afresh.
    model.fit(x, y, epochs=1, verbose=0, callbacks=[TrainingMonitor(None, js)])
    assert len(read_history(js)["loss"]) == 1


def test_monitor_needs_a_path():
    with pytest.raises(ValueError):
        TrainingMonitor(None, None)


def test_checkpoint_saves_best_and_last(tmp_path):
    x, y = data()
    model = small_model()
    best, last = tmp_path / "best.keras", tmp_path / "last.keras"

    class Scripted(keras.callbacks.Callback):
        # Fake validation losses: best at epoch 2.
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = [0.9, 0.5, 0.7][epoch]

    ckpt = Checkpoint(best, last, monitor="val_loss")
    model.fit(x, y, epochs=3, verbose=0, callbacks=[Scripted(), ckpt])
    assert ckpt.best == 0.5 and ckpt.best_epoch == 2
    state = read_state(last)
    assert state["epoch"] == 3 and state["best_epoch"] == 2
    assert keras.models.load_model(best).output_shape == (None, 2)
    with pytest.raises(ValueError, match=".keras"):
        Checkpoint(tmp_path / "best.h5")


@pytest.mark.parametrize("metric, mode", [
    (keras.metrics.SparseCategoricalCrossentropy(name="f1_penalty"), "min"),   # a name that reads like "higher is better"
    (keras.metrics.SparseTopKCategoricalAccuracy(k=1, name="hit_rate"), "max"),  # a name with no accuracy word
])
def test_checkpoint_direction_comes_from_the_metric_not_its_name(tmp_path, metric, mode):
    x, y = data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=[metric])
    values = [0.5, 0.9, 0.2]

    class Scripted(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs[f"val_{metric.name}"] = values[epoch]

    ckpt = Checkpoint(tmp_path / "best.keras", monitor=f"val_{metric.name}")
    model.fit(x, y, epochs=3, verbose=0, callbacks=[Scripted(), ckpt])
    assert ckpt.mode == mode
    assert ckpt.best == (min(values) if mode == "min" else max(values))
