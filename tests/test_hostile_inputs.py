"""Hostile inputs (issue 6): each one a clear one-line error or a named, counted skip.

Every case runs where a user meets it, through ``cvtoolkit.cli.main`` (exit 2
with exactly one ``cvtoolkit <cmd>: error: ...`` line on stderr and no
traceback, or exit 0 with the skipped file named and counted), and at the
library level where there is one. Cases already covered elsewhere are not
repeated here:

- truncated JPEG/PNG, zero-byte and non-image files, 16-bit/RGBA/palette/CMYK
  decoding, unicode paths, the bomb limit in ``read_image``:
  ``tests/test_data_image_io.py``;
- skipped files in a folder dataset, one class and empty datasets in the
  loaders: ``tests/test_data_loaders.py``;
- a truncated JPEG and a non-image in ``compare``, a one-class dataset and a
  missing path in ``compare``: ``tests/test_compare.py``;
- a stored-features pipeline given rows of the wrong width (library), grey and
  resized images to a classical pipeline: ``tests/test_pipelines_and_submissions.py``;
- SIGKILL in the middle of an HDF5 write: ``tests/test_io_kill.py``.
"""

from __future__ import annotations

import csv
import json
import struct
import zlib
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from PIL import Image

from cvtoolkit.cli import main
from cvtoolkit.data import load_dataset
from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS, UnreadableImageError, decode_image, to_rgb_uint8
from cvtoolkit.data.preprocessing import Resize
from cvtoolkit.errors import ModelError, StoreError
from cvtoolkit.io import HDF5Writer, read_store
from cvtoolkit.methods import make_method
from cvtoolkit.methods.artifact import load_pipeline, save_pipeline

from conftest import make_class_images, write_image_folder


# ----------------------------------------------------------------------------- helpers


def cli(capsys, *argv):
    """Run the command line; ``(exit status, stdout, stderr)``."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_user_error(result, command: str, *needles: str) -> str:
    """Exit 2, one stderr line ``cvtoolkit <command>: error: ...`` holding every needle, no traceback."""
    rc, _, err = result
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"cvtoolkit {command}: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def write_png(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB (or grey) array as PNG bytes (works for any unicode path)."""
    img = rgb[:, :, ::-1] if rgb.ndim == 3 and rgb.shape[2] == 3 else rgb
    ok, buf = cv2.imencode(".png", img)
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())
    return path


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of ``width x height`` black pixels: a few KB that decode to ``width*height`` bytes."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


# Over twice Pillow's own limit: Pillow refuses even to report its size, which
# once let such files past the max_pixels check and into OpenCV (180 MB decoded).
BOMB_SIDE = 13_400


def feature_store(path: Path, width: int, n: int = 16, extractor: str = "toy", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, width)).astype(np.float32)
    X[1::2] += 2.0
    with HDF5Writer(path, kind="features", sample_shape=(width,), dtype="float32", class_names=["a", "b"],
                    attrs={"extractor": extractor}) as w:
        w.add(X, np.arange(n) % 2)
    return path


def images_store(path: Path, n_per_class: int = 4, size: int = 12) -> Path:
    X, y, names = make_class_images(n_per_class, classes=("a", "b"), size=size)
    with HDF5Writer(path, kind="images", sample_shape=X.shape[1:], dtype="uint8", class_names=names) as w:
        w.add(X, y)
    return path


@pytest.fixture(scope="module")
def raw_model(tmp_path_factory) -> Path:
    """A saved raw+logreg pipeline fitted on 16x16 RGB images of classes a and b."""
    X, y, _ = make_class_images(6, classes=("a", "b"), size=16)
    est = make_method("raw+logreg").fit(X, y)
    return save_pipeline(est, tmp_path_factory.mktemp("models") / "raw", method="raw+logreg", class_names=["a", "b"],
                         image_size=16, channels=3)


# ----------------------------------------------------------------------------- unreadable files


def test_pack_skips_names_and_counts_every_unreadable_file(tmp_path, capsys):
    root = write_image_folder(tmp_path / "ds", n_per_class=3, size=16, classes=("a", "b"))
    bad = root / "a"
    (bad / "zero.png").write_bytes(b"")
    (bad / "text.jpg").write_text("this is not an image")
    ok, png = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    (bad / "cut.png").write_bytes(png.tobytes()[: len(png) // 2])
    ok, jpg = cv2.imencode(".jpg", np.full((32, 32, 3), 90, np.uint8))
    (bad / "cut.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    (bad / "bomb.png").write_bytes(bomb_png(BOMB_SIDE, BOMB_SIDE))
    out = tmp_path / "s.h5"
    rc, printed, err = cli(capsys, "pack", "--dataset", root, "--image-size", 16, "--out", out, "--quiet")
    assert rc == 0, err
    assert "skipped files: 5" in printed
    reasons = {"zero.png": "empty file", "text.jpg": "not an image", "cut.png": "truncated", "cut.jpg": "truncated",
               "bomb.png": "exceeds the limit"}
    lines = printed.splitlines()
    for name, reason in reasons.items():
        assert any(name in line and reason in line for line in lines), (name, printed)
    ds = read_store(out)
    assert len(ds) == 6 and ds.class_counts() == {"a": 3, "b": 3}
    assert sorted(Path(s.path).name for s in ds.skipped) == sorted(reasons)


def test_predict_names_unreadable_images_and_refuses_an_incomplete_submission(tmp_path, capsys, raw_model):
    test = tmp_path / "test1"
    X, _, _ = make_class_images(1, classes=("a", "b"), size=16)
    write_png(test / "1.png", X[0])
    (test / "2.png").write_bytes(b"")
    ok, jpg = cv2.imencode(".jpg", X[1])
    (test / "3.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    sub = tmp_path / "sub.csv"
    assert_user_error(cli(capsys, "predict", "--model", raw_model, "--images", test, "--submission", sub, "--quiet"),
                      "predict", "2 image(s) could not be read", "--allow-skipped")
    assert not sub.exists()
    rc, printed, err = cli(capsys, "predict", "--model", raw_model, "--images", test, "--submission", sub,
                           "--allow-skipped", "--quiet")
    assert rc == 0, err
    assert "predicted 1 image(s), 2 skipped" in printed
    assert "2.png: empty file" in printed and "3.jpg: truncated" in printed
    rows = list(csv.reader(sub.open()))
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]


# ----------------------------------------------------------------------------- decompression bombs


def test_a_bomb_over_twice_pillows_limit_is_refused_before_decoding():
    data = bomb_png(BOMB_SIDE, BOMB_SIDE)
    assert len(data) < 100_000  # 180 million pixels in a few KB
    with pytest.raises(UnreadableImageError, match=r"179560000 pixels exceeds the limit of 89478485"):
        decode_image(data)
    with pytest.raises(UnreadableImageError, match="exceeds the limit of 1000"):
        decode_image(data, max_pixels=1000)


def test_bomb_check_uses_the_size_pillow_reports_in_its_refusal(monkeypatch):
    ok, png = cv2.imencode(".png", np.zeros((100, 100), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow now refuses anything over 2000 pixels
    with pytest.raises(UnreadableImageError, match="10000 pixels exceeds the limit of 5000"):
        decode_image(png.tobytes(), max_pixels=5000)
    assert decode_image(png.tobytes(), max_pixels=20_000).shape == (100, 100, 3)


@pytest.mark.parametrize("command", ["pack", "compare", "fit", "predict"])
def test_max_pixels_is_configurable_from_the_command_line(tmp_path, capsys, command, raw_model):
    root = write_image_folder(tmp_path / "ds", n_per_class=3, size=16, classes=("a", "b"))
    big = write_png(root / "a" / "big.png", np.full((40, 50, 3), 200, np.uint8))  # 2000 pixels
    if command == "pack":
        argv = ["pack", "--dataset", root, "--image-size", 16, "--out", tmp_path / "s.h5"]
    elif command == "compare":
        argv = ["compare", "--dataset", root, "--image-size", 16, "--methods", "raw+knn", "--no-cache",
                "--out", tmp_path / "run"]
    elif command == "fit":
        argv = ["fit", "--dataset", root, "--image-size", 16, "--method", "raw+knn", "--val-size", 0,
                "--out", tmp_path / "m"]
    else:
        argv = ["predict", "--model", raw_model, "--images", root / "a"]
    rc, printed, err = cli(capsys, *argv, "--quiet", "--max-pixels", 1000)
    assert rc == 0, err
    assert f"{big}: 50x40 pixels exceeds the limit of 1000" in printed
    rc, printed, err = cli(capsys, *argv, "--quiet", "--max-pixels", 0)  # 0: no limit
    assert rc == 0, err
    assert "exceeds" not in printed and f"{big}:" not in printed
    if command == "pack":
        assert len(read_store(tmp_path / "s.h5")) == 7
    assert_user_error(cli(capsys, *argv, "--quiet", "--max-pixels", -5), command, "--max-pixels", "-5")


@pytest.mark.parametrize("argv", [["pack", "--dataset", "d", "--out", "o.h5"], ["compare"],
                                  ["fit", "--method", "raw+knn", "--out", "m"], ["predict", "--model", "m", "--images", "i"]])
def test_max_pixels_default_is_pillows_limit(argv):
    from cvtoolkit.cli import build_parser

    assert build_parser().parse_args(argv).max_pixels == DEFAULT_MAX_PIXELS


# ----------------------------------------------------------------------------- unusual image formats


def _odd_formats(folder: Path) -> dict[str, list[int]]:
    """16-bit, RGBA, palette, CMYK, grey and GIF images of 8x8; returns the RGB each should decode to."""
    folder.mkdir(parents=True, exist_ok=True)
    bgr16 = np.zeros((8, 8, 3), np.uint16)
    bgr16[...] = (10000, 20000, 40000)  # BGR: red 40000 -> 156 after >> 8
    cv2.imwrite(str(folder / "deep16.png"), bgr16)
    bgra = np.zeros((8, 8, 4), np.uint8)
    bgra[...] = (30, 60, 90, 255)
    cv2.imwrite(str(folder / "alpha.png"), bgra)
    pal = Image.new("P", (8, 8))
    pal.putpalette([0, 128, 255] + [0] * 765)
    pal.save(folder / "palette.png")
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(folder / "cmyk.jpg", quality=100)
    cv2.imwrite(str(folder / "grey.png"), np.full((8, 8), 77, np.uint8))
    Image.new("RGB", (8, 8), (0, 0, 255)).save(folder / "anim.gif")
    return {"deep16.png": [156, 78, 39], "alpha.png": [90, 60, 30], "palette.png": [0, 128, 255],
            "cmyk.jpg": [255, 0, 0], "grey.png": [77, 77, 77], "anim.gif": [0, 0, 255]}


def test_16bit_rgba_palette_cmyk_images_load_through_compare(tmp_path, capsys):
    root = write_image_folder(tmp_path / "ds", n_per_class=6, size=8, classes=("odd", "plain"))
    for p in (root / "odd").iterdir():
        p.unlink()
    _odd_formats(root / "odd")
    rc, printed, err = cli(capsys, "compare", "--dataset", root, "--image-size", 8, "--methods", "raw+knn",
                           "--no-cache", "--quiet", "--out", tmp_path / "run")
    assert rc == 0, err
    assert "per class: odd 6, plain 6" in printed
    assert "skipped" not in printed and "FAILED" not in printed


def test_16bit_rgba_palette_cmyk_pixels_survive_pack(tmp_path, capsys):
    root = tmp_path / "ds"
    expected = _odd_formats(root / "odd")
    write_image_folder(root, n_per_class=2, size=8, classes=("plain",))
    rc, printed, err = cli(capsys, "pack", "--dataset", root, "--image-size", 8, "--out", tmp_path / "s.h5", "--quiet")
    assert rc == 0, err
    assert "skipped files: 0" in printed
    ds = read_store(tmp_path / "s.h5")
    got = {Path(p).name: ds.images[i][4, 4].tolist() for i, p in enumerate(ds.paths)}
    for name, rgb in expected.items():
        assert np.abs(np.subtract(got[name], rgb)).max() <= 3, (name, got[name], rgb)


# ----------------------------------------------------------------------------- unicode and spaces


def test_unicode_and_space_paths_through_compare_fit_and_predict(tmp_path, capsys):
    root = tmp_path / "données 猫 été" / "my set"
    write_image_folder(root, n_per_class=4, size=16, classes=("chat noir", "chien été"))
    for p in list((root / "chat noir").iterdir()):
        p.rename(p.with_name(f"ïmage 犬 {p.name}"))
    run = tmp_path / "résultats 1"
    rc, printed, err = cli(capsys, "compare", "--dataset", root, "--image-size", 16, "--methods", "raw+knn",
                           "--no-cache", "--quiet", "--out", run)
    assert rc == 0, err
    assert "per class: chat noir 4, chien été 4" in printed
    rows = json.loads((run / "leaderboard.json").read_text(encoding="utf-8"))["rows"]
    assert rows[0]["method"] == "raw+knn" and 0.0 <= rows[0]["accuracy"] <= 1.0
    model = tmp_path / "modèles 1" / "raw knn"
    rc, printed, err = cli(capsys, "fit", "--dataset", root, "--image-size", 16, "--method", "raw+knn",
                           "--val-size", 0, "--out", model, "--quiet")
    assert rc == 0, err
    test = tmp_path / "à prédire"
    X, _, _ = make_class_images(1, classes=("a", "b"), size=16)
    for i, img in enumerate(X, start=1):
        write_png(test / f"{i}.png", img)
    preds = tmp_path / "prédictions 1.csv"
    rc, printed, err = cli(capsys, "predict", "--model", model, "--images", test, "--out", preds, "--quiet")
    assert rc == 0, err
    rows = list(csv.reader(preds.open(encoding="utf-8")))
    assert rows[0] == ["id", "predicted", "chat noir", "chien été", "skipped"] and len(rows) == 3


# ----------------------------------------------------------------------------- too few images per class


def _one_image_class(tmp_path: Path) -> Path:
    root = write_image_folder(tmp_path / "ds", n_per_class=4, size=16, classes=("lonely", "crowd", "more"))
    for p in sorted((root / "lonely").iterdir())[1:]:
        p.unlink()
    return root


@pytest.mark.parametrize("command", ["compare", "fit", "train"])
def test_a_class_with_one_image_names_the_class_and_the_fix(tmp_path, capsys, command):
    root = _one_image_class(tmp_path)
    argv = {"compare": ["compare", "--methods", "raw+knn", "--out", tmp_path / "o"],
            "fit": ["fit", "--method", "raw+knn", "--out", tmp_path / "m"],
            "train": ["train", "--model", "shallownet", "--epochs", 1, "--out", tmp_path / "m.keras"]}[command]
    assert_user_error(cli(capsys, *argv, "--dataset", root, "--image-size", 16, "--quiet"), command,
                      "'lonely' (1)", "Add images")


def test_fit_without_validation_accepts_a_class_with_one_image(tmp_path, capsys):
    root = _one_image_class(tmp_path)
    rc, printed, err = cli(capsys, "fit", "--dataset", root, "--image-size", 16, "--method", "raw+knn",
                           "--val-size", 0, "--out", tmp_path / "m", "--quiet")
    assert rc == 0, err
    assert load_pipeline(tmp_path / "m").class_names == ["crowd", "lonely", "more"]


def test_train_on_a_store_names_the_class_with_one_image(tmp_path, capsys):
    X, y, _ = make_class_images(3, classes=("lonely", "crowd"), size=12)
    keep = np.r_[0, 3:6]
    with HDF5Writer(tmp_path / "s.h5", kind="images", sample_shape=(12, 12, 3), dtype="uint8",
                    class_names=["lonely", "crowd"]) as w:
        w.add(X[keep], y[keep])
    assert_user_error(cli(capsys, "train", "--dataset", tmp_path / "s.h5", "--model", "shallownet", "--epochs", 1,
                          "--out", tmp_path / "m.keras", "--quiet"), "train", "'lonely'", "Add images")


def test_stratified_split_names_classes_and_the_fix():
    from cvtoolkit.data import split_dataset
    from cvtoolkit.data.dataset import Dataset
    from cvtoolkit.data.split import stratified_split
    from cvtoolkit.errors import DatasetError

    with pytest.raises(DatasetError, match=r"'cat' have a single sample.*Add images"):
        stratified_split(np.array([0, 1, 1]), class_names=["cat", "dog"])
    with pytest.raises(DatasetError, match=r"label 0 have a single sample"):
        stratified_split(np.array([0, 1, 1]))
    ds = Dataset(np.zeros((6, 4, 4, 3), np.uint8), [0, 0, 1, 1, 2, 2], ["x", "y", "z"])
    with pytest.raises(DatasetError, match=r"cannot split 6 samples of 3 classes.*change the test fraction"):
        split_dataset(ds, test_size=0.25)


@pytest.mark.parametrize("command", ["fit", "train"])
def test_a_single_class_dataset_is_refused(tmp_path, capsys, command):
    root = write_image_folder(tmp_path / "ds", n_per_class=4, size=16, classes=("only",))
    argv = {"fit": ["fit", "--method", "raw+knn", "--out", tmp_path / "m"],
            "train": ["train", "--model", "shallownet", "--epochs", 1, "--out", tmp_path / "m.keras"]}[command]
    assert_user_error(cli(capsys, *argv, "--dataset", root, "--image-size", 16, "--quiet"), command,
                      "only one class ('only')")


# ----------------------------------------------------------------------------- HDF5 files of the wrong kind


@pytest.mark.parametrize("argv, needle", [
    (["fit", "--method", "shallownet"], "stored 'toy' features"),
    (["fit", "--method", "hog+logreg"], "stored 'toy' features"),
    (["compare", "--methods", "raw+knn,shallownet"], "stored 'toy' features"),
    (["train", "--model", "shallownet"], "features store"),
    (["pack"], "holds features, not images"),
    (["extract", "--features", "hog"], "feature vectors, not images"),
], ids=["fit-cnn", "fit-descriptor", "compare", "train", "pack", "extract"])
def test_a_features_store_where_images_are_needed(tmp_path, capsys, argv, needle):
    store = feature_store(tmp_path / "features.h5", 5)
    out = tmp_path / ("out.keras" if argv[0] == "train" else "out.h5" if argv[0] in ("pack", "extract") else "out")
    result = cli(capsys, *argv, "--dataset", store, "--out", out, "--quiet")
    assert_user_error(result, argv[0], str(store), needle)
    assert not out.exists()


def _bad_h5(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """A file named .h5 that is not a usable store, and the words its error must contain."""
    path = tmp_path / f"{kind}.h5"
    if kind == "foreign":
        with h5py.File(path, "w") as f:
            f["x"] = np.arange(10)
        return path, "not a cvtoolkit store"
    if kind == "truncated":
        images_store(tmp_path / "whole.h5")
        data = (tmp_path / "whole.h5").read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path, "damaged"
    if kind == "text":
        path.write_text("label,pixel0\n1,2\n")
        return path, "not an HDF5 file"
    if kind == "empty":
        path.write_bytes(b"")
        return path, "not an HDF5 file"
    if kind == "bad_labels":
        images_store(path)
        with h5py.File(path, "r+") as f:
            f["labels"][0] = 7
        return path, "labels run from 0 to 7"
    if kind == "flat_images":
        images_store(path)
        with h5py.File(path, "r+") as f:
            del f["data"]
            f["data"] = np.zeros((8, 12 * 12 * 3), np.uint8)
        return path, "expected (N, H, W, C)"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["foreign", "truncated", "text", "empty", "bad_labels", "flat_images"])
def test_an_hdf5_file_that_is_not_a_usable_store(tmp_path, capsys, kind, raw_model):
    path, needle = _bad_h5(tmp_path, kind)
    assert_user_error(cli(capsys, "compare", "--dataset", path, "--methods", "raw+knn", "--out", tmp_path / "o",
                          "--quiet"), "compare", str(path), needle)
    assert_user_error(cli(capsys, "train", "--dataset", path, "--model", "shallownet", "--epochs", 1,
                          "--out", tmp_path / "m.keras", "--quiet"), "train", str(path), needle)
    assert_user_error(cli(capsys, "predict", "--model", raw_model, "--images", path, "--quiet"),
                      "predict", str(path), needle)
    with pytest.raises(StoreError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        read_store(path)


def test_store_shape_checks_accept_what_the_writer_writes(tmp_path):
    ds = read_store(images_store(tmp_path / "i.h5"))
    assert ds.images.shape == (8, 12, 12, 3)
    ds = read_store(feature_store(tmp_path / "f.h5", 5))
    assert ds.images.shape == (16, 5) and ds.kind == "features"
    with HDF5Writer(tmp_path / "u.h5", kind="images", sample_shape=(4, 4, 1), dtype="uint8",
                    class_names=["a"]) as w:
        w.add(np.zeros((2, 4, 4, 1), np.uint8), [-1, 0])  # unlabelled rows are fine
    assert read_store(tmp_path / "u.h5").labels.tolist() == [-1, 0]


def _bad_array_file(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """An .npz or pixel CSV that cannot be a dataset, and the words its error must contain."""
    y = np.arange(8) % 2
    path = tmp_path / f"{kind}.npz"
    if kind == "not_a_zip":
        path.write_bytes(b"PK\x03\x04 then garbage")
        return path, "cannot read as .npz"
    if kind == "truncated":
        np.savez(tmp_path / "whole.npz", x_train=np.zeros((8, 6, 6), np.uint8), y_train=y,
                 x_test=np.zeros((2, 6, 6), np.uint8), y_test=[0, 1])
        data = (tmp_path / "whole.npz").read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path, "cannot read as .npz"
    arrays = {"x_train": np.zeros((8, 6, 6), np.uint8), "y_train": y,
              "x_test": np.zeros((2, 6, 6), np.uint8), "y_test": np.array([0, 1])}
    needle = {"flat_rows": "x_train has shape (8, 36)", "five_d": "x_train has shape (8, 6, 6, 3, 2)",
              "two_channels": "x_test has shape (2, 6, 6, 2)", "fewer_labels": "x_train has 8 images but y_train has 5",
              "sizes_differ": "x_test images are (7, 6)", "empty": "no images"}
    if kind in needle:
        arrays.update({"flat_rows": {"x_train": np.zeros((8, 36), np.uint8)},
                       "five_d": {"x_train": np.zeros((8, 6, 6, 3, 2), np.uint8)},
                       "two_channels": {"x_test": np.zeros((2, 6, 6, 2), np.uint8)},
                       "fewer_labels": {"y_train": y[:5]},
                       "sizes_differ": {"x_test": np.zeros((2, 7, 6), np.uint8)},
                       "empty": {"x_train": np.zeros((0, 6, 6), np.uint8), "y_train": np.zeros(0, int),
                                 "x_test": np.zeros((0, 6, 6), np.uint8), "y_test": np.zeros(0, int)}}[kind])
        np.savez(path, **arrays)
        return path, needle[kind]
    path = tmp_path / f"{kind}.csv"
    if kind == "empty_csv":
        path.write_text("")
        return path, "empty CSV"
    if kind == "ragged_csv":
        path.write_text("label,pixel0,pixel1,pixel2,pixel3\n1,2,3\n0,1,2,3,4\n")
        return path, str(path)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["not_a_zip", "truncated", "flat_rows", "five_d", "two_channels", "fewer_labels",
                                  "sizes_differ", "empty", "empty_csv", "ragged_csv"])
def test_an_array_file_of_the_wrong_shape(tmp_path, capsys, kind):
    path, needle = _bad_array_file(tmp_path, kind)
    assert_user_error(cli(capsys, "compare", "--dataset", path, "--methods", "raw+knn", "--out", tmp_path / "o",
                          "--quiet"), "compare", str(path), needle)


def test_float_and_16bit_arrays_are_scaled_not_clipped(tmp_path):
    rng = np.random.default_rng(0)
    unit = rng.random((6, 5, 5)).astype(np.float32)  # pixels in [0, 1]
    deep = (unit * 65535).astype(np.uint16)  # 16-bit pixels
    y = np.arange(6) % 2
    for name, x in (("unit", unit), ("deep", deep)):
        np.savez(tmp_path / f"{name}.npz", x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
        images = load_dataset(tmp_path / f"{name}.npz", progress=False).images
        assert images.dtype == np.uint8 and images.shape == (8, 5, 5, 1)
        np.testing.assert_allclose(images[:6, ..., 0], unit * 255, atol=1.01)


def test_a_symbolic_link_loop_lists_each_image_once(tmp_path, capsys):
    root = write_image_folder(tmp_path / "ds", n_per_class=3, size=16, classes=("a", "b"))
    try:
        (root / "a" / "loop").symlink_to(root / "a", target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not available here")
    ds = load_dataset(root, image_size=16, progress=False)
    assert ds.class_counts() == {"a": 3, "b": 3} and len(set(ds.paths)) == 6
    rc, printed, err = cli(capsys, "pack", "--dataset", root, "--image-size", 16, "--out", tmp_path / "s.h5", "--quiet")
    assert rc == 0 and "packed 6 images" in printed, err


# ----------------------------------------------------------------------------- features of the wrong width


def test_features_of_the_wrong_width_at_predict_time(tmp_path, capsys):
    train = feature_store(tmp_path / "train.h5", 5)
    model = tmp_path / "stored"
    # an extractor name the registry does not know is still a stored-features row
    rc, printed, err = cli(capsys, "fit", "--dataset", train, "--method", "toy+logreg", "--out", model, "--quiet")
    assert rc == 0, err
    assert load_pipeline(model).manifest["feature_dim"] == 5
    rc, printed, err = cli(capsys, "predict", "--model", model, "--images", feature_store(tmp_path / "same.h5", 5),
                           "--quiet")
    assert rc == 0 and "predicted 16 image(s)" in printed, err
    assert_user_error(cli(capsys, "predict", "--model", model, "--images", feature_store(tmp_path / "w.h5", 7),
                          "--quiet"), "predict", "width 5", "(16, 7)")
    # images where feature rows are expected
    folder = write_image_folder(tmp_path / "imgs", n_per_class=2, size=16, classes=("a",)) / "a"
    assert_user_error(cli(capsys, "predict", "--model", model, "--images", folder, "--quiet"), "predict", "width 5")
    pipeline = load_pipeline(model)
    with pytest.raises(ModelError, match="width 5"):
        pipeline.predict_proba([np.zeros((4, 4, 3), np.uint8), np.zeros((5, 5, 3), np.uint8)])


def test_feature_rows_given_to_an_image_pipeline(tmp_path, capsys, raw_model):
    store = feature_store(tmp_path / "f.h5", 5)
    assert_user_error(cli(capsys, "predict", "--model", raw_model, "--images", store, "--quiet"), "predict",
                      "expects images", "feature vector")


# ----------------------------------------------------------------------------- images of another size or channel count


def _by_hand(images, size: int, grey: bool) -> np.ndarray:
    """What SavedPipeline.prepare is documented to do: to uint8 RGB, resize, then the fitted channel count."""
    out = []
    for im in images:
        if (im.ndim == 3 and im.shape[2] == 4) or im.dtype != np.uint8:
            im = to_rgb_uint8(im)
        if im.ndim == 2:
            im = im[:, :, None]
        im = Resize(size)(im)
        if grey and im.shape[2] == 3:
            im = cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)[:, :, None]
        out.append(im)
    return out


def _mixed_images():
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (20, 20, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    return [rng.integers(0, 256, (30, 40, 3), dtype=np.uint8),  # bigger, colour
            rgba,  # RGBA
            (rng.random((50, 20)) * 65535).astype(np.uint16),  # 16-bit grey, tall
            rng.integers(0, 256, (5, 7), dtype=np.uint8)]  # tiny grey


def test_a_saved_cnn_given_images_of_another_size_and_channel_count(tmp_path, capsys):
    X, y, _ = make_class_images(6, classes=("a", "b"), size=12)
    grey = X[..., 0]
    np.savez(tmp_path / "grey.npz", x_train=grey, y_train=y, x_test=grey[:4], y_test=y[:4])
    model = tmp_path / "cnn"
    rc, printed, err = cli(capsys, "fit", "--dataset", tmp_path / "grey.npz", "--method", "shallownet", "--epochs", 1,
                           "--val-size", 0, "--out", model, "--quiet")
    assert rc == 0, err
    pipeline = load_pipeline(model)
    # fitted at the native 12x12 grey size: recorded, so predict can bring other images to it
    assert pipeline.manifest["image_size"] == 12 and pipeline.manifest["channels"] == 1
    images = _mixed_images()
    proba = pipeline.predict_proba(images)
    assert proba.shape == (4, 2) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    expected = pipeline.estimator.predict_proba(np.stack(_by_hand(images, 12, grey=True)))
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-6)
    # an artifact without a recorded size falls back to the network's own input shape
    pipeline.manifest["image_size"] = pipeline.manifest["channels"] = None
    np.testing.assert_allclose(pipeline.predict_proba(images), expected, rtol=1e-5, atol=1e-6)
    # and through the command line, from files
    test = tmp_path / "test"
    test.mkdir()
    cv2.imwrite(str(test / "1.png"), images[0][:, :, ::-1])
    cv2.imwrite(str(test / "2.png"), images[1][:, :, [2, 1, 0, 3]])
    cv2.imwrite(str(test / "3.png"), images[2])
    rc, printed, err = cli(capsys, "predict", "--model", model, "--images", test, "--out", tmp_path / "p.csv",
                           "--quiet")
    assert rc == 0, err
    rows = list(csv.reader((tmp_path / "p.csv").open()))
    got = np.array([[float(v) for v in r[2:-1]] for r in rows[1:]])  # the last column: skipped
    np.testing.assert_allclose(got, expected[:3], rtol=1e-4, atol=1e-5)


def test_a_saved_classical_pipeline_given_rgba_16bit_and_grey_images(raw_model):
    pipeline = load_pipeline(raw_model)
    images = _mixed_images()
    proba = pipeline.predict_proba(images)
    by_hand = [np.repeat(im, 3, axis=2) if im.shape[2] == 1 else im for im in _by_hand(images, 16, grey=False)]
    np.testing.assert_allclose(proba, pipeline.estimator.predict_proba(np.stack(by_hand)), rtol=1e-6)


@pytest.mark.parametrize("bad", [np.zeros((8, 8, 2), np.uint8), np.zeros((8, 8, 5), np.uint8),
                                 np.zeros((0, 8, 3), np.uint8), np.zeros(12, np.float32)],
                         ids=["2-channels", "5-channels", "empty", "feature-row"])
def test_a_saved_pipeline_refuses_what_is_not_an_image(raw_model, bad):
    with pytest.raises(ModelError, match="expects images"):
        load_pipeline(raw_model).predict_proba([np.zeros((16, 16, 3), np.uint8), bad])


def test_a_folder_dataset_of_mixed_sizes_and_kinds_loads_as_rgb(tmp_path):
    """Library side of the compare case: every odd format arrives as uint8 RGB of the requested size."""
    folder = tmp_path / "ds" / "odd"
    _odd_formats(folder)
    ds = load_dataset(tmp_path / "ds", image_size=(6, 9), progress=False)
    assert ds.images.shape == (6, 6, 9, 3) and ds.images.dtype == np.uint8 and not ds.skipped
