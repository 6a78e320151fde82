"""cvtoolkit.io: atomic files, the HDF5 writer and reader (round trips, refusals)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

import cvtoolkit
from cvtoolkit.data.dataset import Dataset, SkippedFile
from cvtoolkit.errors import StoreError
from cvtoolkit.io import (
    HDF5Writer,
    atomic_path,
    is_store,
    read_rows,
    read_store,
    save_figure_atomic,
    store_info,
    write_json_atomic,
    write_store,
    write_text_atomic,
)

CLASSES = ["cat", "café", "猫"]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or p.name.endswith(".partial"))


# -- atomic files ---------------------------------------------------------------------------------


def test_atomic_path_success_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    seen = []
    for text in ("first", "second"):
        with atomic_path(target) as tmp:
            seen.append(tmp)
            assert tmp.parent == target.parent and tmp.name.startswith(".out.txt.tmp-")
            assert tmp.suffix == ".txt"
            tmp.write_text(text)
            assert not target.exists() or target.read_text() == "first"
    assert target.read_text() == "second"
    assert seen[0] != seen[1]
    assert _leftovers(target.parent) == []


def test_temp_names_keep_compound_extensions(tmp_path):
    from cvtoolkit.io.atomic import temp_name_for

    for name, ending in [("m.weights.h5", ".weights.h5"), ("a.tar.gz", ".tar.gz"), ("fig.png", ".png"),
                         ("README", "")]:
        tmp = temp_name_for(tmp_path / name)
        assert tmp.parent == tmp_path and tmp.name.startswith(".") and ".tmp-" in tmp.name
        assert tmp.name.endswith(ending) and tmp.name != name
    long_name = "x" * 250 + ".npz"
    tmp = temp_name_for(tmp_path / long_name)
    assert len(tmp.name) <= 255 and tmp.name.endswith(".npz")
    with atomic_path(tmp_path / long_name) as t:
        np.savez(t, a=np.arange(2))  # numpy would append .npz to a name without it
    assert np.load(tmp_path / long_name)["a"].tolist() == [0, 1]


def test_atomic_path_exception_leaves_previous_file_and_no_temp(tmp_path):
    target = tmp_path / "model.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []

    fresh = tmp_path / "never.txt"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(fresh) as tmp:
            tmp.write_text("x")
            raise KeyboardInterrupt
    assert not fresh.exists() and _leftovers(tmp_path) == []


def test_atomic_path_body_that_writes_nothing_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with atomic_path(tmp_path / "empty.bin"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_write_text_and_json_atomic(tmp_path):
    write_text_atomic(tmp_path / "r.md", "# Résultats\n")
    assert (tmp_path / "r.md").read_text(encoding="utf-8") == "# Résultats\n"
    write_json_atomic(tmp_path / "m.json", {"acc": np.float32(0.25), "n": np.int64(3), "cm": np.eye(2, dtype=int),
                                           "name": "猫"})
    loaded = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert loaded == {"acc": 0.25, "n": 3, "cm": [[1, 0], [0, 1]], "name": "猫"}
    assert "猫" in (tmp_path / "m.json").read_text(encoding="utf-8")  # not \\u-escaped
    assert _leftovers(tmp_path) == []


def test_save_figure_atomic_uses_the_final_extension(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    save_figure_atomic(fig, tmp_path / "curve.png", dpi=30)
    save_figure_atomic(fig, tmp_path / "curve.pdf")
    plt.close(fig)
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "curve.pdf").read_bytes()[:4] == b"%PDF"
    assert _leftovers(tmp_path) == []


# -- writer + reader round trips -------------------------------------------------------------------


def test_images_round_trip_3000_rows_in_chunks(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3000, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, len(CLASSES), 3000)
    paths = [f"imgs/{CLASSES[y]}/{i:04d}.png" for i, y in enumerate(labels)]
    path = tmp_path / "images.h5"
    with HDF5Writer(path, kind="images", sample_shape=(32, 32, 3), dtype="uint8", class_names=CLASSES,
                    chunk_rows=700, with_paths=True,
                    attrs={"source": "imgs/", "preprocessing": {"resize": 32}, "note": "ünïcode"}) as w:
        for start in range(0, 3000, 256):  # adds not aligned with chunk_rows
            w.add(images[start:start + 256], labels[start:start + 256], paths=paths[start:start + 256])
            assert not path.exists()
        assert w.n_rows == 3000
    assert _leftovers(tmp_path) == []

    ds = read_store(path)
    assert ds.kind == "images" and ds.images.dtype == np.uint8 and ds.images.shape == (3000, 32, 32, 3)
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.labels.dtype == np.int64
    assert ds.class_names == CLASSES and all(type(c) is str for c in ds.class_names)
    assert ds.paths == paths and all(type(p) is str for p in ds.paths)
    a = ds.attrs
    assert a["complete"] is True and a["n_rows"] == 3000 and a["kind"] == "images"
    assert a["preprocessing"] == {"resize": 32} and a["note"] == "ünïcode" and a["source"] == "imgs/"
    assert a["cvtoolkit_version"] == cvtoolkit.__version__ and a["extractor_params"] == {}
    assert a["created"].endswith("+00:00")

    with h5py.File(path, "r") as f:
        chunks = f["data"].chunks
        assert chunks[1:] == (32, 32, 3) and 1 <= chunks[0] <= 256
        assert f["data"].compression is None

    info = store_info(path)
    assert info["n_rows"] == 3000 and info["sample_shape"] == (32, 32, 3) and info["class_names"] == CLASSES
    assert info["has_paths"] and info["size_bytes"] > images.nbytes
    assert is_store(path) and is_store(path, expect_kind="images") and not is_store(path, expect_kind="features")


def test_features_round_trip_float32_with_extractor_params(tmp_path):
    rng = np.random.default_rng(2)
    feats = rng.normal(size=(130, 17)).astype(np.float32)
    labels = np.r_[rng.integers(0, 2, 120), -np.ones(10, int)]  # some unlabelled rows
    path = tmp_path / "features.h5"
    params = {"orientations": 9, "pixels_per_cell": [8, 8], "name": "hög"}
    with HDF5Writer(path, kind="features", sample_shape=(17,), dtype=np.float32, class_names=["a", "b"],
                    attrs={"extractor": "hog", "extractor_params": params}, chunk_rows=50) as w:
        w.add(feats[:100].astype(np.float64), labels[:100])  # float64 accepted, stored float32
        w.add(feats[100:], labels[100:])
        w.update_attrs(elapsed_s=1.5, per_class={"a": 1})
    ds = read_store(path, expect_kind="features")
    assert ds.kind == "features" and ds.images.dtype == np.float32
    np.testing.assert_array_equal(ds.images, feats)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.paths is None
    assert ds.attrs["extractor"] == "hog" and ds.attrs["extractor_params"] == params
    assert ds.attrs["elapsed_s"] == 1.5 and ds.attrs["per_class"] == {"a": 1}


def test_write_store_keeps_skipped_and_round_trips_a_dataset(tmp_path):
    rng = np.random.default_rng(3)
    ds = Dataset(rng.integers(0, 256, (11, 6, 5, 1), dtype=np.uint8), np.arange(11) % 2, ["x", "ÿ"],
                 paths=[f"p{i}.png" for i in range(11)], source="folder/",
                 skipped=[SkippedFile("folder/x/bad.png", "not an image")], attrs={"preprocessing": "Resize(6)"})
    out = write_store(ds, tmp_path / "s.h5", chunk_rows=4, extra={"k": [1, 2]})
    back = read_store(out)
    np.testing.assert_array_equal(back.images, ds.images)
    assert back.paths == ds.paths and back.skipped == ds.skipped
    assert back.attrs["source"] == "folder/" and back.attrs["extra"] == {"k": [1, 2]}
    assert back.source == str(out)
    # a store read back can be written again (bookkeeping attrs are not copied as metadata)
    again = read_store(write_store(back, tmp_path / "copy.h5"))
    np.testing.assert_array_equal(again.images, ds.images)
    assert again.attrs["source"] == "folder/"


def test_write_store_refuses_mixed_size_images(tmp_path):
    images = np.empty(2, dtype=object)
    images[0], images[1] = np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)
    with pytest.raises(StoreError, match="image-size"):
        write_store(Dataset(images, [0, 1], ["a", "b"]), tmp_path / "s.h5")
    assert not (tmp_path / "s.h5").exists()


def test_read_store_load_false_reads_rows_lazily(tmp_path):
    data = np.arange(40, dtype=np.uint8).reshape(10, 2, 2, 1)
    path = tmp_path / "s.h5"
    with HDF5Writer(path, kind="images", sample_shape=(2, 2, 1), dtype="uint8", class_names=["a"]) as w:
        w.add(data, np.zeros(10, int))
    ds = read_store(path, load=False)
    assert isinstance(ds.images, h5py.Dataset) and len(ds) == 10
    np.testing.assert_array_equal(ds.images[3:5], data[3:5])
    np.testing.assert_array_equal(read_rows(ds.images, [7, 1, 2, 7]), data[[7, 1, 2, 7]])
    ds.images.file.close()


# -- writer validation and failure handling ---------------------------------------------------------


def _writer(path, **kw):
    kw.setdefault("with_paths", False)
    return HDF5Writer(path, kind="images", sample_shape=(4, 4, 3), dtype="uint8", class_names=["a", "b"], **kw)


def test_writer_rejects_bad_rows(tmp_path):
    with _writer(tmp_path / "s.h5", with_paths=True) as w:
        ok = np.zeros((2, 4, 4, 3), np.uint8)
        with pytest.raises(ValueError, match="shape"):
            w.add(np.zeros((2, 4, 5, 3), np.uint8), [0, 1], paths=["a", "b"])
        with pytest.raises(ValueError, match="labels must be in"):
            w.add(ok, [0, 2], paths=["a", "b"])
        with pytest.raises(ValueError, match="cannot store float"):
            w.add(ok.astype(np.float32), [0, 1], paths=["a", "b"])
        with pytest.raises(ValueError, match="do not fit uint8"):
            w.add(ok.astype(np.int64) + 300, [0, 1], paths=["a", "b"])
        with pytest.raises(ValueError, match="one path per row"):
            w.add(ok, [0, 1])
        w.add(ok.astype(np.int64), [0, 1], paths=["a", "b"])  # in-range ints are fine
    assert read_store(tmp_path / "s.h5").images.shape == (2, 4, 4, 3)
    with pytest.raises(ValueError, match="uint8"):
        HDF5Writer(tmp_path / "t.h5", kind="images", sample_shape=(4, 4, 3), dtype="float32", class_names=["a"])
    with pytest.raises(ValueError, match="managed by the writer"):
        _writer(tmp_path / "u.h5", attrs={"complete": True})
    assert not (tmp_path / "t.h5.partial").exists()


def test_exception_inside_with_leaves_nothing(tmp_path):
    path = tmp_path / "s.h5"
    with pytest.raises(RuntimeError):
        with _writer(path, chunk_rows=2) as w:
            w.add(np.zeros((5, 4, 4, 3), np.uint8), [0, 1, 0, 1, 0])
            raise RuntimeError("decoder crashed")
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_exception_with_resume_keeps_partial_including_buffered_rows(tmp_path):
    path = tmp_path / "s.h5"
    data = np.arange(7 * 48, dtype=np.uint8).reshape(7, 4, 4, 3)
    with pytest.raises(RuntimeError):
        with _writer(path, chunk_rows=4, resume=True) as w:
            w.add(data[:5], [0] * 5)  # 5 committed (buffer reached chunk_rows)
            w.add(data[5:6], [1])      # 1 buffered
            raise RuntimeError("interrupted")
    assert not path.exists() and (tmp_path / "s.h5.partial").exists()
    with _writer(path, chunk_rows=4, resume=True) as w:
        assert w.n_rows == w.resumed_rows == 6
        w.add(data[6:], [1])
    ds = read_store(path)
    np.testing.assert_array_equal(ds.images, data)
    assert ds.labels.tolist() == [0] * 5 + [1, 1]


def test_resume_with_different_parameters_starts_over(tmp_path, caplog):
    path = tmp_path / "s.h5"
    with pytest.raises(RuntimeError):
        with _writer(path, resume=True, attrs={"extractor_params": {"k": 1}}) as w:
            w.add(np.ones((3, 4, 4, 3), np.uint8), [0, 1, 0])
            raise RuntimeError
    with caplog.at_level("INFO", logger="cvtoolkit.io"):
        w = _writer(path, resume=True, attrs={"extractor_params": {"k": 2}})
    assert w.n_rows == 0 and "extractor_params" in caplog.text
    w.add(np.zeros((1, 4, 4, 3), np.uint8), [1])
    w.close()
    assert read_store(path).labels.tolist() == [1]


# -- refusals ------------------------------------------------------------------------------------


def test_store_errors_name_the_file(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(StoreError, match=r"notes\.h5 is not an HDF5 file"):
        read_store(text)

    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f.create_dataset("data", data=np.zeros((3, 2)))
    with pytest.raises(StoreError, match=r"foreign\.h5 .*not a cvtoolkit store.*'kind'"):
        read_store(foreign)
    assert not is_store(foreign)

    with pytest.raises(StoreError, match="does not exist"):
        read_store(tmp_path / "missing.h5")

    feats = tmp_path / "f.h5"
    with HDF5Writer(feats, kind="features", sample_shape=(3,), dtype="float32", class_names=["a"]) as w:
        w.add(np.zeros((2, 3)), [0, 0])
    with pytest.raises(StoreError, match=r"f\.h5 holds features, expected images"):
        read_store(feats, expect_kind="images")

    with h5py.File(feats, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(StoreError, match="newer"):
        read_store(feats)


def test_unfinalised_store_is_refused(tmp_path):
    path = tmp_path / "s.h5"
    w = _writer(path, chunk_rows=1)
    w.add(np.zeros((3, 4, 4, 3), np.uint8), [0, 1, 0])  # committed, never closed
    partial = tmp_path / "s.h5.partial"
    assert partial.exists() and not path.exists()
    with pytest.raises(StoreError, match="interrupted"):
        read_store(path)
    with pytest.raises(StoreError, match="unfinished"):
        read_store(partial)
    assert store_info(partial, allow_partial=True)["n_rows"] == 3
    w.abort()
    assert not partial.exists()
    # a finished name whose 'complete' flag is false is refused as well
    with _writer(path) as w2:
        w2.add(np.zeros((1, 4, 4, 3), np.uint8), [0])
    with h5py.File(path, "a") as f:
        f.attrs["complete"] = False
    with pytest.raises(StoreError, match="never finalised"):
        read_store(path)


def test_resume_over_a_damaged_partial_starts_over(tmp_path):
    path = tmp_path / "s.h5"
    (tmp_path / "s.h5.partial").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)  # truncated by a crash
    with _writer(path, resume=True) as w:
        assert w.n_rows == 0
        w.add(np.full((2, 4, 4, 3), 7, np.uint8), [0, 1])
    assert read_store(path).images.sum() == 7 * 2 * 48
    assert list(tmp_path.iterdir()) == [path]
