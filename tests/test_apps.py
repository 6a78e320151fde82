"""The task apps in apps/: every --help works, and every app runs on a tiny dataset made here.

The --help checks run each script as a user would (a subprocess from the
repository root); the runs import the apps and call ``main(argv)`` in this
process, so TensorFlow is imported once. Data, sizes and epochs are tiny.
"""

from __future__ import annotations

import csv
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import make_class_images, write_image_folder

REPO = Path(__file__).resolve().parents[1]
APPS_DIR = REPO / "apps"
APPS = ("knn_raw", "linear_raw", "shallownet", "lenet_mnist", "minivggnet", "smile_detector",
        "extract_features", "train_on_features", "finetune", "dogs_vs_cats")

if str(APPS_DIR) not in sys.path:
    sys.path.insert(0, str(APPS_DIR))  # the apps import their shared helpers as `_cli`, as when run as scripts


def app(name: str):
    return importlib.import_module(name)


def metric(text: str, name: str = "accuracy") -> float:
    """The first ``  <name>  <value>`` line of a printed report."""
    m = re.search(rf"^\s+{re.escape(name)}\s+([0-9.]+)\s*$", text, re.M)
    assert m, f"no {name!r} line in:\n{text}"
    return float(m.group(1))


# --------------------------------------------------------------------------- cheap: --help, structure
def test_every_app_is_listed_and_has_main():
    found = sorted(p.stem for p in APPS_DIR.glob("*.py") if not p.stem.startswith("_"))
    assert found == sorted(APPS)
    for name in APPS:
        source = (APPS_DIR / f"{name}.py").read_text(encoding="utf-8")
        assert 'if __name__ == "__main__":\n    sys.exit(main())' in source, name
        assert "examples:" in app(name).__doc__, name


@pytest.mark.parametrize("argv", [[name, "--help"] for name in APPS]
                         + [["smile_detector", "train", "--help"], ["smile_detector", "detect", "--help"]],
                         ids=lambda argv: " ".join(argv))
def test_help_runs_as_a_script(argv):
    proc = subprocess.run([sys.executable, str(APPS_DIR / f"{argv[0]}.py"), *argv[1:]], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: {argv[0]}.py")
    if len(argv) == 2:
        assert "examples:" in proc.stdout


def test_usage_error_and_user_error_exit_2(tmp_path, capsys):
    knn = app("knn_raw")
    assert knn.main(["--dataset"]) == 2  # argparse: missing value
    capsys.readouterr()
    assert knn.main(["--dataset", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("knn_raw.py: error:") and "missing" in err and len(err.splitlines()) == 1
    folder = write_image_folder(tmp_path / "shapes", n_per_class=4, size=16)
    assert knn.main(["--dataset", str(folder), "--neighbors", "0", "--quiet"]) == 2
    assert "--neighbors" in capsys.readouterr().err


# --------------------------------------------------------------------------- classical apps
def test_knn_raw_scores_each_k(image_folder, capsys):
    assert app("knn_raw").main(["--dataset", str(image_folder), "--image-size", "16", "-k", "1,3",
                                "--jobs", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "raw pixels 16x16 + 1-NN" in out and "raw pixels 16x16 + 3-NN" in out
    assert metric(out) >= 0.8  # the synthetic classes differ in colour and shape
    assert re.search(r"^\s+3\s+[0-9.]+\s+[0-9.]+$", out, re.M)  # summary table row for k=3


@pytest.mark.parametrize("extra", [[], ["--classifier", "logreg"], ["--loss", "hinge"]], ids=["sgd", "logreg", "hinge"])
def test_linear_raw(image_folder, capsys, extra):
    assert app("linear_raw").main(["--dataset", str(image_folder), "--image-size", "12", "--quiet", *extra]) == 0
    out = capsys.readouterr().out
    assert metric(out) >= 0.8
    assert ("L-BFGS" in out) == ("logreg" in extra)


def _write_feature_store(path: Path, n_classes: int = 6, per_class: int = 8, dim: int = 5) -> Path:
    from cvtoolkit.io import HDF5Writer

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (n_classes, dim))
    labels = np.repeat(np.arange(n_classes), per_class)
    feats = (centres[labels] + rng.normal(0, 0.5, (len(labels), dim))).astype(np.float32)
    with HDF5Writer(path, kind="features", sample_shape=(dim,), dtype="float32",
                    class_names=[f"c{i}" for i in range(n_classes)], attrs={"extractor": "toy"}) as writer:
        writer.add(feats, labels)
    return path


def test_train_on_features_grid_search_and_rank5(tmp_path, capsys):
    from cvtoolkit.io import read_store
    from cvtoolkit.methods.artifact import load_pipeline

    db = _write_feature_store(tmp_path / "toy.h5")
    out = tmp_path / "model"
    assert app("train_on_features").main(["--db", str(db), "--cv", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "best parameters: {'clf__C':" in text
    rank = re.search(r"rank-1 accuracy: ([0-9.]+)\s+rank-5 accuracy: ([0-9.]+)", text)
    assert rank and float(rank.group(1)) >= 0.8 and float(rank.group(2)) >= float(rank.group(1))
    saved = load_pipeline(out)
    ds = read_store(db)
    assert saved.kind == "stored" and saved.manifest["extractor"] == "toy"
    assert (saved.predict(ds.images) == ds.labels).mean() >= 0.8


def test_train_on_features_refuses_an_image_store(tmp_path, capsys):
    from cvtoolkit.data import Dataset
    from cvtoolkit.io import write_store

    images, labels, names = make_class_images(3, size=8)
    store = write_store(Dataset(images, labels, names), tmp_path / "images.h5")
    assert app("train_on_features").main(["--db", str(store), "--search", "none"]) == 2
    assert "not features" in capsys.readouterr().err


# --------------------------------------------------------------------------- CNN apps
def test_shallownet_trains_saves_and_plots(image_folder, tmp_path, capsys):
    from cvtoolkit.methods.artifact import load_pipeline

    out, plot = tmp_path / "shallow", tmp_path / "curves.png"
    argv = ["--dataset", str(image_folder), "--image-size", "16", "--epochs", "2", "--batch-size", "8",
            "--out", str(out), "--plot", str(plot), "--quiet"]
    assert app("shallownet").main(argv) == 0
    assert "shallownet: 6 samples, 3 classes" in capsys.readouterr().out
    assert plot.read_bytes()[:4] == b"\x89PNG"
    saved = load_pipeline(out)
    assert saved.image_size == 16 and saved.class_names == ["circle", "square", "stripes"]
    images, _, _ = make_class_images(2, size=40)
    proba = saved.predict_proba(images)  # resized to 16 by the pipeline
    assert proba.shape == (6, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-4)


def test_lenet_mnist_keeps_the_official_split(tmp_path, capsys):
    rng = np.random.default_rng(0)
    npz = tmp_path / "mini-mnist.npz"
    np.savez(npz, x_train=rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), y_train=np.arange(30) % 3,
             x_test=rng.integers(0, 256, (9, 28, 28), dtype=np.uint8), y_test=np.arange(9) % 3)
    argv = ["--dataset", str(npz), "--epochs", "1", "--batch-size", "16", "--max-train", "24", "--quiet"]
    assert app("lenet_mnist").main(argv) == 0
    out = capsys.readouterr().out
    assert "official split: 30 train, 9 test" in out
    assert "training lenet on 24 images (28x28x1)" in out
    assert "lenet: 9 samples, 3 classes" in out


def test_minivggnet_on_a_folder_with_augmentation(image_folder, capsys):
    argv = ["--dataset", str(image_folder), "--image-size", "16", "--epochs", "1", "--batch-size", "8",
            "--augment", "--test-size", "0.25", "--quiet"]
    assert app("minivggnet").main(argv) == 0
    out = capsys.readouterr().out
    assert "stratified split (seed 42): 18 train, 6 test" in out and "minivggnet: 6 samples" in out


# --------------------------------------------------------------------------- smile detector
# A one-stage Haar cascade whose single weak classifier votes "face" for every window with some
# contrast (OpenCV rejects flat windows): detection on our images is then under our control.
EVERY_WINDOW_CASCADE = """<?xml version="1.0"?>
<opencv_storage>
<cascade>
  <stageType>BOOST</stageType>
  <featureType>HAAR</featureType>
  <height>24</height>
  <width>24</width>
  <stageParams><boostType>GAB</boostType><minHitRate>0.995</minHitRate><maxFalseAlarm>0.5</maxFalseAlarm>
    <weightTrimRate>0.95</weightTrimRate><maxDepth>1</maxDepth><maxWeakCount>100</maxWeakCount></stageParams>
  <featureParams><maxCatCount>0</maxCatCount><featSize>1</featSize><mode>BASIC</mode></featureParams>
  <stageNum>1</stageNum>
  <stages><_><maxWeakCount>1</maxWeakCount><stageThreshold>-1.0</stageThreshold>
    <weakClassifiers><_><internalNodes>0 -1 0 0.0</internalNodes><leafValues>1.0 1.0</leafValues></_>
    </weakClassifiers></_></stages>
  <features><_><rects><_>0 0 24 24 -1.</_><_>0 0 12 24 2.</_></rects></_></features>
</cascade>
</opencv_storage>
"""


@pytest.fixture(scope="module")
def smile_model(tmp_path_factory):
    """A smile model trained by the app on a tiny 2-class folder (shared by the detect tests)."""
    root = tmp_path_factory.mktemp("smiles")
    folder = write_image_folder(root / "faces", n_per_class=8, size=32, classes=("not_smiling", "smiling"))
    out = root / "smile"
    code = app("smile_detector").main(["train", "--dataset", str(folder), "--epochs", "1", "--batch-size", "8",
                                       "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_smile_train_saves_a_grey_28px_pipeline(smile_model):
    manifest = json.loads((smile_model / "manifest.json").read_text())
    assert manifest["method"] == "lenet" and manifest["image_size"] == 28 and manifest["channels"] == 1
    assert manifest["class_names"] == ["not_smiling", "smiling"]


def test_smile_detect_labels_faces_and_says_when_there_are_none(smile_model, tmp_path, capsys):
    smile = app("smile_detector")
    cascade = tmp_path / "every.xml"
    cascade.write_text(EVERY_WINDOW_CASCADE)
    photo, flat = tmp_path / "photo.png", tmp_path / "flat.png"
    noise = np.random.default_rng(1).integers(0, 256, (80, 100, 3), dtype=np.uint8)
    cv2.imwrite(str(photo), noise)
    cv2.imwrite(str(flat), np.full((60, 60, 3), 128, np.uint8))
    common = ["detect", "--model", str(smile_model), "--cascade", str(cascade), "--min-neighbors", "3",
              "--min-size", "24"]

    capsys.readouterr()
    assert smile.main([*common, "--image", str(photo), "--out", str(tmp_path / "photo-out.png")]) == 0
    out = capsys.readouterr().out
    found = re.findall(r"at x=(\d+) y=(\d+) size (\d+)x(\d+): (not_smiling|smiling) \(([0-9.]+)\)", out)
    assert found, out
    annotated = cv2.imread(str(tmp_path / "photo-out.png"))
    assert annotated.shape == noise.shape
    x, y, w, h = (int(v) for v in found[0][:4])
    assert not np.array_equal(annotated[y, x:x + w], noise[y, x:x + w])  # the box edge is drawn

    assert smile.main([*common, "--image", str(flat), "--out", str(tmp_path / "flat-out.png")]) == 0
    assert "no faces found" in capsys.readouterr().out
    assert np.array_equal(cv2.imread(str(tmp_path / "flat-out.png")), cv2.imread(str(flat)))


def test_smile_detect_without_a_cascade_says_how_to_get_one(smile_model, tmp_path, monkeypatch, capsys):
    smile = app("smile_detector")
    monkeypatch.setattr(smile, "cascade_candidates", lambda: [tmp_path / "nowhere" / smile.CASCADE_FILE])
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((40, 40, 3), np.uint8))
    assert smile.main(["detect", "--model", str(smile_model), "--image", str(image)]) == 2
    assert "--cascade PATH" in capsys.readouterr().err
    assert smile.main(["detect", "--model", str(tmp_path / "no-model"), "--image", str(image)]) == 2
    assert "not a saved pipeline" in capsys.readouterr().err


# --------------------------------------------------------------------------- backbones
def test_extract_features_writes_a_feature_store(image_folder, tmp_path, capsys):
    from cvtoolkit.io import read_store

    out = tmp_path / "feats.h5"
    argv = ["--dataset", str(image_folder), "--backbone", "mobilenet", "--alpha", "0.25", "--weights", "none",
            "--image-size", "32", "--batch-size", "16", "--out", str(out), "--quiet"]
    assert app("extract_features").main(argv) == 0
    assert "24 images x 256 features" in capsys.readouterr().out
    ds = read_store(out)
    assert ds.kind == "features" and ds.images.shape == (24, 256) and ds.attrs["extractor"] == "mobilenet"
    assert np.bincount(ds.labels).tolist() == [8, 8, 8]


@pytest.mark.slow  # > 3 s
def test_finetune_two_phases_and_saves_a_pipeline(image_folder, tmp_path, capsys):
    from cvtoolkit.methods.artifact import load_pipeline

    out = tmp_path / "ft"
    argv = ["--dataset", str(image_folder), "--weights", "none", "--alpha", "0.25", "--image-size", "32",
            "--warmup-epochs", "1", "--finetune-epochs", "1", "--unfreeze-top", "3", "--head-units", "8",
            "--batch-size", "8", "--out", str(out), "--quiet", "--augment",
            "--log-dir", str(tmp_path / "logs"), "--tensorboard", str(tmp_path / "tb")]
    assert app("finetune").main(argv) == 0
    assert "mobilenet fine-tuned: 6 samples, 3 classes" in capsys.readouterr().out
    saved = load_pipeline(out)
    assert len(saved.estimator.history_["loss"]) == 2  # warm-up epoch + fine-tuning epoch
    # both phases went through the one CNN path: one history.csv of both epochs, TensorBoard events
    with open(tmp_path / "logs" / "mobilenet_finetuned" / "history.csv", newline="") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1"]
    assert list((tmp_path / "tb" / "mobilenet_finetuned").rglob("events.out.tfevents.*"))
    images, _, _ = make_class_images(1, size=32)
    assert saved.predict_proba(images).shape == (3, 3)


# --------------------------------------------------------------------------- dogs vs cats
def _write_dogs_vs_cats(root: Path) -> tuple[Path, Path]:
    images, labels, _ = make_class_images(10, classes=("cat", "dog"), size=24, seed=3)
    train, test = root / "train", root / "test1"
    train.mkdir(parents=True)
    test.mkdir()
    for i, (img, lab) in enumerate(zip(images, labels)):
        # varied aspect ratios, as real photos have
        img = cv2.resize(img, (24 + 2 * (i % 5), 24))
        cv2.imwrite(str(train / f"{('cat', 'dog')[lab]}.{i}.jpg"), img[:, :, ::-1])
    (train / "readme.txt").write_text("not an image")
    for i in range(1, 6):
        cv2.imwrite(str(test / f"{i}.jpg"), images[i * 3][:, :, ::-1])
    (test / "6.jpg").write_bytes(b"truncated")
    return train, test


@pytest.mark.slow  # > 3 s
def test_dogs_vs_cats_end_to_end(tmp_path, capsys):
    from cvtoolkit.io import store_info
    from cvtoolkit.methods.artifact import load_pipeline

    dvc = app("dogs_vs_cats")
    train, test = _write_dogs_vs_cats(tmp_path / "data")
    work = tmp_path / "work"
    argv = ["--train-dir", str(train), "--test-dir", str(test), "--work-dir", str(work), "--store-size", "20",
            "--crop", "16", "--model", "minivggnet", "--epochs", "1", "--batch-size", "8",
            "--val-size", "0.2", "--test-size", "0.2", "--quiet"]
    assert dvc.main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"test accuracy: [0-9.]+ plain \(resized to 16\), [0-9.]+ with 10-crop", out)
    assert re.search(r"re-estimated the statistics of \d+ batch-norm layer", out)

    rows = {split: store_info(work / f"{split}.h5")["n_rows"] for split in ("train", "val", "test")}
    assert rows == {"train": 12, "val": 4, "test": 4}
    assert store_info(work / "train.h5")["sample_shape"] == (20, 20, 3)
    means = json.loads((work / "means.json").read_text())["means"]
    assert len(means) == 3 and all(0 < m < 255 for m in means)

    with open(work / "submission.csv", newline="") as fh:
        sub = list(csv.reader(fh))
    assert sub[0] == ["id", "label"] and [r[0] for r in sub[1:]] == [str(i) for i in range(1, 7)]
    probs = [float(r[1]) for r in sub[1:]]
    assert all(0.005 <= p <= 0.995 for p in probs) and probs[5] == 0.5  # 6.jpg is unreadable

    saved = load_pipeline(work / "model")  # mean subtraction folded into the saved network
    assert saved.image_size == 16 and saved.class_names == ["cat", "dog"]
    settings = {"store_size": 20, "seed": 42, "val_size": 0.2, "test_size": 0.2}
    assert dvc.stores_match(work, settings)
    assert not dvc.stores_match(work, dict(settings, store_size=32))


def test_dogs_vs_cats_needs_two_classes(tmp_path, capsys):
    folder = tmp_path / "train"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"cat.{i}.jpg"), np.zeros((20, 20, 3), np.uint8))
    argv = ["--train-dir", str(folder), "--test-dir", "none", "--work-dir", str(tmp_path / "w")]
    assert app("dogs_vs_cats").main(argv) == 2
    assert "need 2" in capsys.readouterr().err
