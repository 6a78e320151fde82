"""cvtoolkit.train.fit: one function for arrays, folders and HDF5 stores; checkpoints and resume."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

keras = pytest.importorskip("keras")
cv2 = pytest.importorskip("cv2")

from cvtoolkit.train import fit, resume_state  # noqa: E402
from cvtoolkit.train.callbacks import read_history  # noqa: E402
from cvtoolkit.train.fit import make_training_data  # noqa: E402


def images(n=24, size=16, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.integers(0, 80, (n, size, size, 3), dtype=np.uint8)
    x[y == 1, :, :, 0] += 150
    return x, y


def compiled(size=16, lr=0.01):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((size, size, 3)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def folder(tmp_path):
    x, y = images(n=16, size=20)
    root = tmp_path / "pets"
    for i, (img, label) in enumerate(zip(x, y)):
        d = root / ("cat" if label == 0 else "dog")
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i}.png"), img[:, :, ::-1])
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return root


def test_fit_from_arrays_scales_and_validates(tmp_path):
    x, y = images()
    model = compiled()
    history = fit(model, (x, y), validation_split=0.25, epochs=2, batch_size=8, verbose=0, seed=0,
                  history_path=tmp_path / "h.json", plot_path=tmp_path / "h.png")
    assert len(history.history["val_loss"]) == 2
    assert len(read_history(tmp_path / "h.json")["val_accuracy"]) == 2
    data = make_training_data((x, y))
    assert data.x.dtype == np.float32 and float(data.x.max()) <= 1.0


def test_fit_from_streamed_folder_skips_broken_files(folder, caplog):
    model = compiled()
    history = fit(model, folder, epochs=2, batch_size=4, image_size=16, workers=2, verbose=0, seed=0)
    assert len(history.history["loss"]) == 2
    data = make_training_data(folder, batch_size=4, image_size=16, shuffle=False)
    assert data.kind == "folder" and data.class_names == ["cat", "dog"]
    xb, yb = data.x[0]
    assert xb.shape[1:] == (16, 16, 3) and xb.dtype == np.float32 and xb.max() <= 1.0
    # The unreadable file is replaced in its batch (batches stay full), not fatal.
    sizes = [len(data.x[i][1]) for i in range(len(data.x))]
    assert sizes == [4, 4, 4, 4, 1]
    assert [s.path.endswith("broken.jpg") for s in data.x.skipped] == [True]


def test_fit_from_hdf5_store(tmp_path):
    from cvtoolkit.io import HDF5Writer

    x, y = images()
    path = tmp_path / "pets.h5"
    with HDF5Writer(path, kind="images", sample_shape=(16, 16, 3), dtype="uint8", class_names=["cat", "dog"]) as w:
        w.add(x, y)
    model = compiled(lr=0.05)
    history = fit(model, path, validation_split=0.25, epochs=3, batch_size=8, verbose=0, seed=0,
                  class_weight="auto")
    assert len(history.history["val_accuracy"]) == 3
    data = make_training_data(path, batch_size=8, shuffle=False)
    assert data.kind == "hdf5" and data.class_names == ["cat", "dog"]
    xb, yb = data.x[0]
    np.testing.assert_allclose(xb, x[:8] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(yb, y[:8])


@pytest.mark.slow  # > 3 s
def test_checkpoint_and_resume_continue_epochs(tmp_path):
    x, y = images()
    best, last, hist = tmp_path / "best.keras", tmp_path / "last.keras", tmp_path / "h.json"
    model = compiled()
    fit(model, (x, y), validation_data=(x[:8], y[:8]), epochs=2, batch_size=8, verbose=0,
        checkpoint=best, last_checkpoint=last, history_path=hist, seed=0)
    assert best.is_file() and last.is_file()
    steps_done = int(model.optimizer.iterations)
    state = resume_state(last)
    assert state["epoch"] == 2 and state["best_epoch"] in (1, 2)
    resumed = state["model"]
    assert int(resumed.optimizer.iterations) == steps_done
    h = fit(resumed, (x, y), validation_data=(x[:8], y[:8]), epochs=4, initial_epoch=state["epoch"],
            batch_size=8, verbose=0, checkpoint=best, last_checkpoint=last, history_path=hist,
            resume_best=(state["best"], state["best_epoch"]))
    assert h.epoch == [2, 3]
    assert len(read_history(hist)["loss"]) == 4
    assert resume_state(last)["epoch"] == 4
    assert int(resumed.optimizer.iterations) == 2 * steps_done


def test_early_stopping_and_errors(tmp_path):
    from cvtoolkit.errors import DatasetError, ModelError

    x, y = images(n=16)
    model = compiled(lr=0.0)  # nothing improves: stops after patience
    h = fit(model, (x, y), validation_data=(x, y), epochs=10, batch_size=8, early_stopping=1, verbose=0)
    assert len(h.history["loss"]) < 10
    raw = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ModelError, match="not compiled"):
        fit(raw, (x, y), epochs=1)
    with pytest.raises(DatasetError, match="not a folder"):
        fit(compiled(), tmp_path / "nothing.txt", epochs=1)
    with pytest.raises(ModelError, match="no checkpoint"):
        resume_state(tmp_path / "missing.keras")


def test_mixed_precision_switch_keeps_float32_output():
    from cvtoolkit.nn import build_model
    from cvtoolkit.train import set_mixed_precision

    try:
        assert set_mixed_precision("bfloat16") == "mixed_bfloat16"
        model = build_model("shallownet", input_shape=(16, 16, 3), classes=2)
        assert model.layers[1].compute_dtype == "bfloat16"
        assert str(model.outputs[0].dtype) == "float32"
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        x, y = images(n=8)
        h = fit(model, (x, y), epochs=1, batch_size=8, verbose=0)
        assert np.isfinite(h.history["loss"][0])
        assert model.predict(x[:2] / 255.0, verbose=0).dtype == np.float32
    finally:
        assert set_mixed_precision(False) == "float32"
    assert keras.mixed_precision.dtype_policy().name == "float32"
