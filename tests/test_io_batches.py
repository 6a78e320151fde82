"""HDF5Batches: a keras.utils.PyDataset over a store (length, order, subsets, model.fit)."""

from __future__ import annotations

import os
import pickle

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cvtoolkit.io import HDF5Writer  # noqa: E402
from cvtoolkit.train import HDF5Batches  # noqa: E402

N = 70


@pytest.fixture
def store(tmp_path):
    """70 images 6x6x3 whose pixels all equal the row number; labels row % 3."""
    path = tmp_path / "images.h5"
    data = np.broadcast_to(np.arange(N, dtype=np.uint8)[:, None, None, None], (N, 6, 6, 3))
    labels = np.arange(N) % 3
    labels[-2:] = -1  # two unlabelled rows at the end
    with HDF5Writer(path, kind="images", sample_shape=(6, 6, 3), dtype="uint8",
                    class_names=["a", "b", "c"], chunk_rows=16) as w:
        w.add(data, labels)
    return path


def row_ids(batches):
    """Row numbers of one pass over the batches, in order, and the labels seen."""
    ids, ys = [], []
    for i in range(len(batches)):
        x, y = batches[i]
        assert x.shape[1:] == (6, 6, 3) and len(x) == len(y)
        ids.extend(x[:, 0, 0, 0].astype(int).tolist())
        ys.extend(np.asarray(y).tolist())
    return ids, ys


def test_length_and_order_without_shuffle(store):
    b = HDF5Batches(store, batch_size=32, shuffle=False)
    assert len(b) == 3  # ceil(70 / 32)
    ids, ys = row_ids(b)
    assert ids == list(range(N))
    assert ys == b.labels.tolist() and b.labels[:4].tolist() == [0, 1, 2, 0]
    x, _ = b[2]
    assert x.dtype == np.uint8 and len(x) == 6
    with pytest.raises(IndexError):
        b[3]


def test_shuffle_covers_every_row_once_and_changes_across_epochs(store):
    b = HDF5Batches(store, batch_size=8, seed=0)
    first, ys = row_ids(b)
    assert sorted(first) == list(range(N)) and first != list(range(N))
    assert ys == [i % 3 if i < N - 2 else -1 for i in first]  # labels follow their rows
    b.on_epoch_end()
    second, _ = row_ids(b)
    assert sorted(second) == list(range(N)) and second != first
    again = HDF5Batches(store, batch_size=8, seed=0)
    assert row_ids(again)[0] == first  # seeded: reproducible


def test_indices_subset_scale_one_hot_and_preprocessors(store):
    subset = [40, 3, 17, 5, 66]
    b = HDF5Batches(store, batch_size=2, shuffle=False, indices=subset, one_hot=True, scale=0.5,
                    preprocessors=[lambda im: im[:4, :4], lambda im: im[::-1]])
    assert len(b) == 3
    x, y = b[0]
    assert x.shape == (2, 4, 4, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0, 0, 0], [20.0, 1.5])  # rows 40 and 3, in the order asked
    np.testing.assert_array_equal(y, np.eye(3, dtype=np.float32)[[40 % 3, 0]])
    assert b.labels.tolist() == [40 % 3, 0, 17 % 3, 5 % 3, 66 % 3]

    mask = np.zeros(N, bool)
    mask[[1, 2, 60]] = True
    assert row_ids(HDF5Batches(store, batch_size=5, shuffle=False, indices=mask))[0] == [1, 2, 60]

    with pytest.raises(ValueError, match="indices must be in"):
        HDF5Batches(store, indices=[0, N])
    with pytest.raises(ValueError, match="unlabelled"):
        HDF5Batches(store, one_hot=True)  # the last two rows have label -1


def test_each_process_opens_its_own_handle(store):
    b = HDF5Batches(store, batch_size=10, shuffle=False)
    b[0]
    first_handle = b._file
    clone = pickle.loads(pickle.dumps(b))  # what a spawned worker receives
    assert clone._file is None
    np.testing.assert_array_equal(clone[1][0], b[1][0])
    b._pid = -1  # as after fork: the inherited handle must not be used
    b[0]
    assert b._file is not first_handle and b._pid == os.getpid()
    b.close()
    clone.close()


def test_model_fit_one_epoch(store):
    import keras

    keras.utils.set_random_seed(0)
    train = HDF5Batches(store, batch_size=16, indices=np.arange(N - 2), scale=1 / 255, seed=1)
    val = HDF5Batches(store, batch_size=32, indices=np.arange(0, N - 2, 4), shuffle=False, scale=1 / 255)
    model = keras.Sequential([
        keras.Input((6, 6, 3)),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"][0])
    assert "val_accuracy" in history.history
    proba = model.predict(val, verbose=0)
    assert proba.shape == (len(val.indices), 3)


def test_old_import_path_names_the_new_one_and_io_lists_no_keras_name():
    import cvtoolkit.io
    from cvtoolkit.train import HDF5Batches as moved

    assert moved is HDF5Batches
    with pytest.raises(AttributeError, match="moved to cvtoolkit.train.HDF5Batches"):
        cvtoolkit.io.HDF5Batches  # io is a floor below train (issue 21): it names the new home instead
    assert "HDF5Batches" not in dir(cvtoolkit.io) and "HDF5Batches" not in cvtoolkit.io.__all__
