"""Dataset loaders: folders, file-name labels, arrays, CSV, Keras offline errors, splits."""

import json
import re

import cv2
import numpy as np
import pytest

from cvtoolkit.data import (
    MeanSubtract,
    check_classification_data,
    list_by_filename,
    list_image_folder,
    list_unlabelled,
    load_dataset,
    load_keras_dataset,
    split_dataset,
    stratified_split,
)
from cvtoolkit.errors import DatasetError, MissingDownloadError


def test_folder_dataset_sorted_recursive_and_labelled(image_folder):
    nested = image_folder / "square" / "more" / "deeper"
    nested.mkdir(parents=True)
    cv2.imwrite(str(nested / "zz.png"), np.zeros((10, 12, 3), np.uint8))
    ds = load_dataset(image_folder, image_size=16, progress=False)
    assert ds.class_names == ["circle", "square", "stripes"]
    assert ds.images.shape == (25, 16, 16, 3) and ds.images.dtype == np.uint8
    assert ds.class_counts() == {"circle": 8, "square": 9, "stripes": 8}
    assert list(ds.labels) == sorted(ds.labels)  # class by class, deterministic
    again = load_dataset(image_folder, image_size=16, progress=False)
    assert again.fingerprint() == ds.fingerprint()


def test_folder_without_size_keeps_native_sizes(image_folder):
    cv2.imwrite(str(image_folder / "circle" / "odd.png"), np.zeros((10, 12, 3), np.uint8))
    ds = load_dataset(image_folder, progress=False)
    assert ds.images.dtype == object and ds.images[0].shape == (32, 32, 3)
    assert {im.shape for im in ds.images} == {(32, 32, 3), (10, 12, 3)}


def test_bad_files_are_skipped_named_and_counted(image_folder):
    good = (image_folder / "circle" / "000.png").read_bytes()
    ok, jpg = cv2.imencode(".jpg", np.full((40, 40, 3), 128, np.uint8))
    (image_folder / "circle" / "truncated.jpg").write_bytes(jpg.tobytes()[:200])
    (image_folder / "square" / "x.jpg").write_text("not an image")
    (image_folder / "square" / "notes.txt").write_text("hello")
    (image_folder / "empty_class").mkdir()
    (image_folder / "stripes" / "empty.png").write_bytes(b"")
    ds = load_dataset(image_folder, image_size=8, progress=False)
    skipped = {s.path.split("/")[-1]: s.reason for s in ds.skipped}
    assert set(skipped) == {"truncated.jpg", "x.jpg", "notes.txt", "empty.png"}
    assert "truncated" in skipped["truncated.jpg"] and "0 bytes" in skipped["empty.png"]
    assert len(ds) == 24 and good  # every good image kept
    assert ds.class_names == ["circle", "square", "stripes"]  # empty folder gets no class
    assert ds.attrs["empty_classes"] == ["empty_class"]


def test_missing_path_one_class_and_empty(tmp_path, image_folder):
    with pytest.raises(DatasetError, match="no such file or folder"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no class folders"):
        list_image_folder(tmp_path / "shapes" / "circle")
    one = tmp_path / "one"
    (one / "cat").mkdir(parents=True)
    cv2.imwrite(str(one / "cat" / "a.png"), np.zeros((4, 4, 3), np.uint8))
    cv2.imwrite(str(one / "cat" / "b.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DatasetError, match="only one class"):
        check_classification_data(load_dataset(one, progress=False))
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    (empty / "b").mkdir()
    with pytest.raises(DatasetError, match="no usable images"):
        check_classification_data(load_dataset(empty, progress=False))


def test_labels_from_file_names_and_unlabelled_ids(tmp_path):
    train, test = tmp_path / "train", tmp_path / "test1"
    train.mkdir()
    test.mkdir()
    img = np.zeros((6, 6, 3), np.uint8)
    for name in ["cat.0.jpg", "cat.1.jpg", "dog.0.jpg", "dog.10.jpg", "readme.jpg"]:
        cv2.imwrite(str(train / name), img)
    for i in [10, 2, 1]:
        cv2.imwrite(str(test / f"{i}.jpg"), img)
    listing = list_by_filename(train, r"^(cat|dog)\.")
    assert listing.class_names == ["cat", "dog"]
    assert sorted(listing.labels.tolist()) == [0, 0, 1, 1]
    assert [s.path.split("/")[-1] for s in listing.skipped] == ["readme.jpg"]
    ds = load_dataset(train, label_pattern=r"^(cat|dog)\.", image_size=4, progress=False)
    assert len(ds) == 4 and ds.images.shape == (4, 4, 4, 3)
    paths, ids = list_unlabelled(test)
    assert ids == [1, 2, 10] and paths[0].endswith("1.jpg")
    with pytest.raises(DatasetError, match="regular expression"):
        list_by_filename(train, "(")


def test_digits_builtin_and_resize():
    ds = load_dataset("digits", progress=False)
    assert ds.images.shape == (1797, 8, 8, 1) and ds.images.max() == 255 and ds.n_classes == 10
    ds32 = load_dataset("digits", image_size=32, progress=False)
    assert ds32.images.shape == (1797, 32, 32, 1)


def test_npz_in_keras_layout(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "mini.npz"
    np.savez(p, x_train=rng.integers(0, 255, (6, 28, 28), dtype=np.uint8), y_train=np.array([0, 1, 2, 0, 1, 2]),
             x_test=rng.integers(0, 255, (3, 28, 28), dtype=np.uint8), y_test=np.array([0, 1, 2]))
    ds = load_dataset(p)
    assert ds.images.shape == (9, 28, 28, 1) and ds.class_names == ["0", "1", "2"]
    assert ds.attrs["official_test_start"] == 6
    np.savez(tmp_path / "bad.npz", x=np.zeros(3))
    with pytest.raises(DatasetError, match="x_train"):
        load_dataset(tmp_path / "bad.npz")


def test_pixel_csvs(tmp_path):
    p = tmp_path / "train.csv"
    p.write_text("label," + ",".join(f"pixel{i}" for i in range(16)) + "\n"
                 + "3," + ",".join(["255"] * 16) + "\n" + "1," + ",".join(["0"] * 16) + "\n")
    ds = load_dataset(p)
    assert ds.images.shape == (2, 4, 4, 1) and ds.labels.tolist() == [3, 1] and ds.class_names[3] == "3"
    t = tmp_path / "test.csv"
    t.write_text(",".join(f"pixel{i}" for i in range(4)) + "\n1,2,3,4\n5,6,7,8\n")
    ds = load_dataset(t)
    assert ds.labels.tolist() == [-1, -1] and ds.attrs["ids"] == [1, 2]
    f = tmp_path / "fer.csv"
    f.write_text("emotion,pixels,Usage\n3," + " ".join(["7"] * 9) + ",Training\n0," + " ".join(["1"] * 9) + ",PublicTest\n")
    ds = load_dataset(f)
    assert ds.images.shape == (2, 3, 3, 1) and ds.class_names[3] == "happy"
    (tmp_path / "odd.csv").write_text("label,pixel0,pixel1\n1,2,3\n")
    with pytest.raises(DatasetError, match="square"):
        load_dataset(tmp_path / "odd.csv")


def test_keras_dataset_offline_error_names_file(monkeypatch, tmp_path):
    import keras

    def no_network(*a, **k):
        raise Exception("URL fetch failure on https://example.invalid: None -- [Errno -3] no network")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_network)
    with pytest.raises(MissingDownloadError) as err:
        load_keras_dataset("mnist")
    msg = str(err.value)
    assert "mnist.npz" in msg and str(tmp_path / "kh" / "datasets") in msg and "\n" not in msg


def test_stratified_split_is_seeded_and_balanced():
    labels = np.repeat([0, 1, 2], 20)
    a = stratified_split(labels, test_size=0.25, seed=1)
    b = stratified_split(labels, test_size=0.25, seed=1)
    c = stratified_split(labels, test_size=0.25, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])
    assert np.bincount(labels[a[1]]).tolist() == [5, 5, 5]
    assert len(np.intersect1d(*a)) == 0 and len(a[0]) + len(a[1]) == 60
    with pytest.raises(DatasetError, match="single sample"):
        stratified_split(np.array([0, 0, 1]), test_size=0.5)


def test_split_dataset_parts(image_folder):
    ds = load_dataset(image_folder, image_size=8, progress=False)
    train, test = split_dataset(ds, test_size=0.25, seed=0)
    assert len(train) == 18 and len(test) == 6 and train.class_names == ds.class_names


def test_mean_subtract_json_round_trip(tmp_path):
    images = np.zeros((2, 4, 4, 3), np.uint8)
    images[..., 0] = 10
    images[..., 2] = 30
    ms = MeanSubtract().fit(images)
    path = tmp_path / "means.json"
    ms.save(path)
    assert json.loads(path.read_text())["means"] == [10.0, 0.0, 30.0]
    assert MeanSubtract.load(path)(images[0])[0, 0].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="fit"):
        MeanSubtract()(images[0])


def test_fingerprint_of_varying_size_images():
    from cvtoolkit.data import Dataset

    def ds(shape0):
        images = np.empty(2, object)
        images[0] = np.zeros(shape0, np.uint8)
        images[1] = np.ones((5, 4, 3), np.uint8)
        return Dataset(images, [0, 1], ["a", "b"])

    assert ds((3, 4, 3)).fingerprint() == ds((3, 4, 3)).fingerprint()
    assert ds((3, 4, 3)).fingerprint() != ds((4, 3, 3)).fingerprint()  # same bytes, other shape


def _keras_layout_npz(path, n_train=24, n_test=9):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 255, (n_train, 8, 8), dtype=np.uint8), y_train=np.arange(n_train) % 3,
             x_test=rng.integers(0, 255, (n_test, 8, 8), dtype=np.uint8), y_test=np.arange(n_test) % 3)
    return path


def test_official_and_auto_splits(tmp_path, image_folder):
    ds = load_dataset(_keras_layout_npz(tmp_path / "k.npz"))
    for size in ("official", "auto"):
        train, test = split_dataset(ds, test_size=size)
        assert len(train) == 24 and len(test) == 9
        np.testing.assert_array_equal(test.images, ds.images[24:])
    train, test = split_dataset(ds, test_size=0.5, seed=0)  # a fraction still means a stratified split
    assert len(test) == 17 and test.attrs["split_indices"].min() < 24
    folder = load_dataset(image_folder, image_size=8, progress=False)
    assert len(split_dataset(folder, test_size="auto", seed=0)[1]) == 6  # no official split: 0.25
    with pytest.raises(DatasetError, match="no official test split"):
        split_dataset(folder, test_size="official")


def test_subset_keeps_the_official_split_only_while_it_holds(tmp_path):
    ds = load_dataset(_keras_layout_npz(tmp_path / "k.npz"))
    part = ds.subset([0, 5, 7, 24, 30])  # training samples first: still an official split
    assert part.attrs["official_test_start"] == 3
    assert "official_test_start" not in ds.subset([24, 0, 5]).attrs  # a test sample before training ones
    from cvtoolkit.data.split import official_split

    assert official_split(ds.subset([25, 30])) is None  # only test samples: no split left
    assert official_split(ds.subset([0, 1])) is None  # only training samples
    assert [len(p) for p in official_split(part)] == [3, 2]


@pytest.mark.parametrize("text, value", [("0.3", 0.3), ("500", 500), ("official", "official"), ("AUTO", "auto")])
def test_test_size_argument(text, value):
    from cvtoolkit.commands._common import test_size_arg

    assert test_size_arg(text) == value


@pytest.mark.parametrize("text", ["1.5", "0", "-0.2", "quarter"])
def test_test_size_argument_rejects(text):
    import argparse

    from cvtoolkit.commands._common import test_size_arg

    with pytest.raises(argparse.ArgumentTypeError):
        test_size_arg(text)
