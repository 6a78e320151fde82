"""Issue 20 (round two of "nothing lost, nobody in"): cases 2, 5-12, 16 and 20.

Each test fails on 80f7e15 and passes now; CLI cases check exit code 2, one
line on stderr and no traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from cvtoolkit.cli import main
from cvtoolkit.errors import ModelError
from cvtoolkit.methods import make_method
from cvtoolkit.methods.artifact import MANIFEST, PIPELINE_FILE, load_pipeline, save_pipeline


def one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def knn_model(tmp_path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (12, 8, 8, 3), dtype=np.uint8)
    est = make_method("raw+knn").fit(X, np.arange(12) % 2)
    model = save_pipeline(est, tmp_path / "model", method="raw+knn", class_names=["a", "b"], image_size=8,
                          channels=3)
    return model, X


@pytest.fixture()
def image_file(tmp_path) -> Path:
    import cv2

    path = tmp_path / "x.png"
    cv2.imwrite(str(path), np.full((8, 8, 3), 90, np.uint8))
    return path


# ---- case 2: fit --out never wipes a folder it did not write ------------------------------------------------

def test_fit_refuses_a_web_app_folder_with_a_manifest(tmp_path, capsys):
    from conftest import write_image_folder

    data = write_image_folder(tmp_path / "shapes", n_per_class=4, size=16)
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / MANIFEST).write_text(json.dumps({"name": "my extension", "manifest_version": 3}))
    (app / "index.html").write_text("<html></html>")
    (app / "src" / "main.js").write_text("console.log(1)")
    assert main(["fit", "--dataset", str(data), "--method", "raw+knn", "--out", str(app), "--quiet"]) == 2
    one_line_error(capsys, str(app), "--overwrite")
    assert (app / "index.html").is_file() and (app / "src" / "main.js").is_file()
    assert json.loads((app / MANIFEST).read_text())["name"] == "my extension"


def test_a_saved_pipeline_with_a_users_file_added_is_not_replaced(knn_model):
    from cvtoolkit.io.outputs import is_pipeline_folder

    model, X = knn_model
    assert is_pipeline_folder(model)
    (model / "notes.txt").write_text("mine")
    assert not is_pipeline_folder(model)
    est = load_pipeline(model).estimator
    with pytest.raises(ModelError, match="notes.txt"):
        save_pipeline(est, model, method="raw+knn", class_names=["a", "b"], image_size=8, channels=3)
    assert (model / "notes.txt").read_text() == "mine"


def test_refitting_into_a_saved_pipeline_still_replaces_it(knn_model):
    model, X = knn_model
    est = load_pipeline(model).estimator
    save_pipeline(est, model, method="raw+knn", class_names=["c", "d"], image_size=8, channels=3)
    assert load_pipeline(model).class_names == ["c", "d"]


# ---- case 5: trust decided from type names, importing nothing the file names ----------------------------------

def test_trust_check_does_not_import_modules_named_by_the_file():
    from cvtoolkit.methods.trusted import is_trusted_type, untrusted_types

    named = ["sklearn._build_utils.version.Anything", "sklearn.utils.tests.test_validation.Whatever",
             "cvtoolkit.cli.ArgumentParser", "sklearn.externals.array_api_compat.Y"]
    for name in named:
        sys.modules.pop(name.rpartition(".")[0], None)
    assert untrusted_types(named) == sorted(named)
    for name in named:
        assert name.rpartition(".")[0] not in sys.modules, name
    # what the registries build is still trusted
    assert is_trusted_type("sklearn.svm._classes.LinearSVC") and is_trusted_type("cvtoolkit.features.hog.HOG")
    assert is_trusted_type("sklearn.metrics._dist_metrics.EuclideanDistance64")
    assert not is_trusted_type("sklearn.metrics._dist_metrics.PyFuncDistance64")


# ---- cases 6 and 7: a damaged manifest is one line naming the file and the field -------------------------------

@pytest.mark.parametrize("change, field", [
    (lambda m: m.pop("kind"), "kind"),
    (lambda m: m.pop("class_names"), "class_names"),
    (lambda m: m.update(class_names=None), "class_names"),
    (lambda m: m.update(class_names=["a"]), "class_names"),
    (lambda m: m.update(image_size=-5), "image_size"),
    (lambda m: m.update(image_size=200000), "image_size"),
    (lambda m: m.update(image_size="32"), "image_size"),
    (lambda m: m.update(channels="rgb"), "channels"),
    ("[1, 2, 3]", "JSON object"),
    ("{not json", "unreadable manifest"),
])
def test_a_damaged_manifest_is_one_line_naming_the_file_and_field(knn_model, image_file, change, field, capsys):
    model, _ = knn_model
    manifest = json.loads((model / MANIFEST).read_text())
    if isinstance(change, str):
        (model / MANIFEST).write_text(change)
    else:
        change(manifest)
        (model / MANIFEST).write_text(json.dumps(manifest))
    assert main(["predict", "--model", str(model), "--images", str(image_file)]) == 2
    one_line_error(capsys, str(model / MANIFEST) if field != "unreadable manifest" else MANIFEST, field)


def test_a_string_image_size_is_refused_not_read_as_two_sides(knn_model):
    model, _ = knn_model
    manifest = json.loads((model / MANIFEST).read_text())
    manifest["image_size"] = "32"
    (model / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"field 'image_size' is the string '32'"):
        load_pipeline(model)


# ---- case 8: a trusted class in a bad state ----------------------------------------------------------------------

def test_an_unfitted_estimator_in_pipeline_skops_is_one_line(knn_model, image_file, capsys):
    import skops.io as sio

    model, _ = knn_model
    sio.dump(make_method("raw+knn"), model / PIPELINE_FILE)  # trusted types, never fitted
    assert main(["predict", "--model", str(model), "--images", str(image_file)]) == 2
    one_line_error(capsys, PIPELINE_FILE, "unfitted")


# ---- cases 6 and 16: the .keras sidecar and Keras's safe_mode ------------------------------------------------------

def _keras_file(folder: Path, *, lambda_layer: bool = False) -> Path:
    import keras

    from cvtoolkit.train import KerasImageClassifier

    layers = [keras.Input((8, 8, 3)), keras.layers.Flatten()]
    if lambda_layer:
        layers.append(keras.layers.Lambda(lambda x: x * 1.0))
    net = keras.Sequential(layers + [keras.layers.Dense(2, activation="softmax")])
    path = folder / "net.keras"
    KerasImageClassifier.from_model(net, [0, 1], class_names=["a", "b"], model="tiny").save(path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("change, field", [
    ("{oops", "unreadable sidecar"),
    ("[1]", "JSON object"),
    ({"class_names": None, "classes": None}, None),  # allowed: classes 0..K-1
    ({"class_names": ["only-one"]}, "class_names"),
    ({"class_names": 5}, "class_names"),
    ({"input_shape": [8, 8]}, "input_shape"),
    ({"input_shape": "8,8,3"}, "input_shape"),
    ({"image_size": "32"}, "image_size"),
    ({"image_size": 200000}, "image_size"),
])
def test_a_damaged_keras_sidecar_is_one_line(tmp_path, image_file, change, field, capsys):
    path = _keras_file(tmp_path)
    side = path.with_suffix(".json")
    if isinstance(change, str):
        side.write_text(change)
    else:
        side.write_text(json.dumps(json.loads(side.read_text()) | change))
    code = main(["predict", "--model", str(path), "--images", str(image_file)])
    if field is None:
        assert code == 0
        return
    assert code == 2
    one_line_error(capsys, str(side), field)


@pytest.mark.slow
def test_trust_model_lifts_keras_safe_mode(tmp_path, image_file, capsys):
    path = _keras_file(tmp_path, lambda_layer=True)
    assert main(["predict", "--model", str(path), "--images", str(image_file)]) == 2
    one_line_error(capsys, "--trust-model")
    assert main(["predict", "--model", str(path), "--images", str(image_file), "--trust-model"]) == 0
    assert "Traceback" not in capsys.readouterr().err


# ---- case 11: a class too small for a classifier's internal folds is named --------------------------------------

def _folder_with_a_tiny_class(root: Path) -> Path:
    import cv2

    from conftest import write_image_folder

    data = write_image_folder(root / "shapes", n_per_class=8, size=16, classes=("circle", "square"))
    (data / "tiny").mkdir()
    for i in range(2):
        cv2.imwrite(str(data / "tiny" / f"{i}.png"), np.full((16, 16, 3), 40 + 80 * i, np.uint8))
    return data


def test_fit_names_the_class_too_small_for_the_svm_calibration(tmp_path, capsys):
    data = _folder_with_a_tiny_class(tmp_path)
    argv = ["fit", "--dataset", str(data), "--method", "raw+linear_svm", "--out", str(tmp_path / "m"), "--quiet"]
    assert main(argv) == 2
    one_line_error(capsys, "'tiny'", "linear_svm", "3 internal folds", "Add images")
    assert not (tmp_path / "m").exists()


def test_compare_svm_rows_name_the_small_class(tmp_path, capsys):
    data = _folder_with_a_tiny_class(tmp_path)
    out = tmp_path / "cmp"
    assert main(["compare", "--dataset", str(data), "--methods", "raw+knn,raw+rbf_svm", "--out", str(out),
                 "--quiet", "--no-cache"]) == 1  # 1: a row failed (and is named)
    rows = {r["method"]: r for r in json.loads((out / "leaderboard.json").read_text())["rows"]}
    assert "error" not in rows["raw+knn"]
    error = rows["raw+rbf_svm"]["error"]
    assert "'tiny'" in error and "rbf_svm" in error and "Requesting" not in error


def test_check_class_sizes_covers_searches_and_gradient_boosting():
    from cvtoolkit.classifiers import check_class_sizes
    from cvtoolkit.errors import DatasetError

    check_class_sizes("knn", [0, 1])  # nothing inside k-NN splits the classes
    with pytest.raises(DatasetError, match=r"class 'b' has 2 images.*3-fold search"):
        check_class_sizes("logreg", [0, 0, 0, 1, 1], ["a", "b"], search_folds=3)
    with pytest.raises(DatasetError, match="early stopping"):
        check_class_sizes("gradient_boosting", [0, 0, 1, 1, 2, 2], ["a", "b", "c"])


# ---- case 20: a store with NaN or Inf features is refused once, naming the first bad row ------------------------

def test_a_store_with_nan_features_is_refused_when_it_loads(tmp_path, capsys):
    from cvtoolkit.io import HDF5Writer

    store = tmp_path / "feats.h5"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 4)).astype(np.float32)
    X[5, 2] = np.nan
    X[9, 0] = np.inf
    with HDF5Writer(store, kind="features", sample_shape=(4,), dtype="float32", class_names=["a", "b"],
                    attrs={"extractor": "hog", "extractor_params": {}}, with_paths=True) as w:
        w.add(X, np.arange(12) % 2, paths=[f"img{i}.png" for i in range(12)])
    assert main(["fit", "--dataset", str(store), "--method", "hog+knn", "--out", str(tmp_path / "m"),
                 "--quiet"]) == 2
    one_line_error(capsys, str(store), "row 5", "img5.png", "2 such rows")


# ---- case 12: a tracking server that is not there is one line, not a hang --------------------------------------

@pytest.mark.slow
def test_track_with_no_server_fails_in_one_line_instead_of_hanging(tmp_path):
    import socket
    import subprocess

    pytest.importorskip("mlflow")  # an optional extra; installed in the project's environment
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "cvtoolkit", "fit", "--dataset", "digits", "--method", "raw+knn",
           "--out", str(tmp_path / "m"), "--track", f"mlflow:http://127.0.0.1:{port}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail("--track with no server still hangs after 60 s")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "no MLflow tracking server" in lines[0]
    assert not (tmp_path / "m").exists()


# ---- case 9: damaged cache entries are discarded, recomputed and named once --------------------------------------

def _small_dataset():
    from conftest import make_class_images

    from cvtoolkit.data import Dataset

    X, y, names = make_class_images(4, size=16)
    return Dataset(X, y, names, source="shapes")


def _damage_npy(path: Path, note: Path) -> None:
    path.write_bytes(b"PK\x03\x04 not numpy at all")


def _nan_npy(path: Path, note: Path) -> None:
    X = np.load(path)
    np.save(path, np.full_like(X, np.nan))


def _wrong_width(path: Path, note: Path) -> None:
    X = np.load(path)
    np.save(path, np.zeros((X.shape[0], X.shape[1] + 3), np.float32))


def _bad_note(path: Path, note: Path) -> None:
    note.write_text("[1, 2")


@pytest.mark.parametrize("damage", [_damage_npy, _nan_npy, _wrong_width, _bad_note])
def test_a_damaged_feature_cache_entry_is_discarded_and_recomputed(tmp_path, damage, caplog):
    from cvtoolkit.features import LBP
    from cvtoolkit.features.cache import cached_features

    ds = _small_dataset()
    info: dict = {}
    fresh = cached_features(LBP(P=8, R=1), ds, cache_dir=tmp_path, info=info)
    path = Path(info["path"])
    damage(path, path.with_suffix(".json"))
    caplog.clear()
    with caplog.at_level("WARNING"):
        again = cached_features(LBP(P=8, R=1), ds, cache_dir=tmp_path, info=info)
    np.testing.assert_array_equal(again, fresh)
    assert info["hit"] is False
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and str(path) in warnings[0], warnings
    caplog.clear()
    with caplog.at_level("WARNING"):  # rewritten whole: the next run is a clean hit
        np.testing.assert_array_equal(cached_features(LBP(P=8, R=1), ds, cache_dir=tmp_path, info=info), fresh)
    assert info["hit"] is True and not [r for r in caplog.records if r.levelname == "WARNING"]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _wrong_dtype(path: Path) -> None:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["phash"] = arrays["phash"].astype(np.float64) + 0.5
    arrays["pixel"] = np.zeros(len(arrays["pixel"]), np.float32)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize("damage", [_truncate, _wrong_dtype])
def test_a_damaged_audit_hash_cache_is_discarded_and_recomputed(tmp_path, damage, caplog):
    from cvtoolkit.audit.hashing import compute_hashes

    ds = _small_dataset()
    fresh = compute_hashes(ds, cache_dir=tmp_path, progress=False)
    [cache_file] = (tmp_path / "audit").glob("*.npz")
    damage(cache_file)
    caplog.clear()
    with caplog.at_level("WARNING"):
        again = compute_hashes(ds, cache_dir=tmp_path, progress=False)
    for key, value in fresh.to_arrays().items():
        np.testing.assert_array_equal(getattr(again, key), value)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and str(cache_file) in warnings[0], warnings
    with np.load(cache_file) as z:  # written again, whole
        assert z["phash"].dtype == np.uint64


# ---- case 10: huge sizes are refused from an estimate, before allocating ------------------------------------------

def test_a_huge_image_size_is_refused_before_allocating(tmp_path, capsys):
    from conftest import write_image_folder

    data = write_image_folder(tmp_path / "shapes", n_per_class=2, size=16)
    argv = ["fit", "--dataset", str(data), "--method", "raw+knn", "--image-size", "1000000",
            "--out", str(tmp_path / "m"), "--quiet"]
    assert main(argv) == 2
    one_line_error(capsys, str(data), "--image-size 1000000", "of memory", "Use a smaller --image-size")


def test_a_huge_descriptor_setting_is_refused_before_allocating(tmp_path, capsys):
    from conftest import write_image_folder

    data = write_image_folder(tmp_path / "shapes", n_per_class=2, size=16)
    out = tmp_path / "hog.h5"
    assert main(["extract", "--dataset", str(data), "--features", "hog", "--set", "orientations=99999999",
                 "--out", str(out), "--quiet"]) == 2
    one_line_error(capsys, "HOG gives 9999999900 features per image", "of memory", "--set")
    assert not out.exists() and not Path(f"{out}.partial").exists()


def test_check_memory_compares_the_estimate_with_what_is_available():
    from cvtoolkit.memory import MemoryBudgetError, available_bytes, check_memory

    assert available_bytes() is None or available_bytes() > 0
    check_memory(10, "ten bytes", available=100)
    with pytest.raises(MemoryBudgetError, match=r"x needs about 1\.0 KiB of memory; this machine has 100 B"):
        check_memory(1024, "x", "Fix it.", available=100)
