"""The main job end to end: `cvtoolkit compare` on tiny data the test makes."""

import json
import math

import cv2
import numpy as np
import pytest

from cvtoolkit.cli import main
from cvtoolkit.data import load_dataset
from cvtoolkit.methods import default_methods, parse_method, validate_methods
from cvtoolkit.methods.compare import run_compare
from cvtoolkit.errors import CvToolkitError


def test_parse_and_validate_methods():
    assert parse_method("hog+linear_svm").features == "hog"
    assert parse_method("mobilenet+logreg", stored_features="mobilenet").kind == "stored"
    assert parse_method("lenet").kind == "cnn"
    with pytest.raises(CvToolkitError) as err:
        validate_methods(["raw+knn", "raw+nope", "nonet", "bogus+knn"])
    msg = str(err.value)
    assert "raw+nope" in msg and "nonet" in msg and "bogus+knn" in msg and "raw+knn'" not in msg
    assert "raw+knn" in default_methods() and "shallownet" in default_methods()
    assert default_methods(stored_features="hog")[0].startswith("hog+")


def test_run_compare_same_split_for_every_row(image_folder, tmp_path):
    ds = load_dataset(image_folder, image_size=16, progress=False)
    result = run_compare(ds, ["raw+knn", "raw+logreg"], test_size=0.25, seed=0, out_dir=tmp_path / "out",
                         cache_dir=None, progress=False)
    assert {r["method"] for r in result.rows} == {"raw+knn", "raw+logreg"}
    for row in result.rows:
        assert 0.0 <= row["accuracy"] <= 1.0 and row["fit_seconds"] >= 0 and row["predict_ms_per_image"] >= 0
        assert row["feature_dim"] == 16 * 16 * 3
    # the shapes are trivially separable: a real pipeline gets them right
    assert max(r["accuracy"] for r in result.rows) >= 0.8
    assert result.settings["test_samples"] == 6
    assert result.rows == sorted(result.rows, key=lambda r: -r["accuracy"])


def _check_outputs(out, n_rows):
    rows = json.loads((out / "leaderboard.json").read_text())
    assert len(rows) == n_rows
    for row in rows:
        for key in ("method", "accuracy", "f1_macro", "fit_seconds", "predict_ms_per_image"):
            assert key in row
    assert (out / "leaderboard.csv").read_text().count("\n") >= n_rows + 1
    assert "accuracy" in (out / "report.md").read_text()
    pngs = sorted(out.glob("confusion_*.png"))
    assert len(pngs) == n_rows
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    return rows


@pytest.mark.slow  # > 3 s: trains a CNN
def test_cli_compare_end_to_end_with_cnn_row(image_folder, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["compare", "--dataset", str(image_folder), "--image-size", "16", "--methods",
               "raw+knn,raw+random_forest,shallownet", "--epochs", "2", "--out", str(out), "--quiet",
               "--cache-dir", str(tmp_path / "cache")])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "shallownet" in printed and "raw+knn" in printed and "accuracy" in printed.lower()
    rows = _check_outputs(out, 3)
    assert {r["method"] for r in rows} == {"raw+knn", "raw+random_forest", "shallownet"}


def test_compare_skips_bad_files_and_carries_on(image_folder, tmp_path, capsys):
    ok, jpg = cv2.imencode(".jpg", np.full((40, 40, 3), 128, np.uint8))
    (image_folder / "circle" / "truncated.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    (image_folder / "square" / "x.jpg").write_text("not an image at all")
    (image_folder / "empty").mkdir()
    rc = main(["compare", "--dataset", str(image_folder), "--image-size", "16", "--methods", "raw+knn",
               "--out", str(tmp_path / "o"), "--quiet", "--no-cache"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "skipped 2" in printed and "truncated.jpg" in printed and "x.jpg" in printed
    assert "empty" in printed


def test_compare_on_feature_store(tmp_path, capsys):
    from cvtoolkit.io import HDF5Writer

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (20, 5)), rng.normal(3, 1, (20, 5))]).astype(np.float32)
    y = np.repeat([0, 1], 20)
    path = tmp_path / "f.h5"
    with HDF5Writer(path, kind="features", sample_shape=(5,), dtype="float32", class_names=["a", "b"],
                    attrs={"extractor": "toy"}) as w:
        w.add(X, y)
    rc = main(["compare", "--dataset", str(path), "--out", str(tmp_path / "o"), "--quiet", "--no-cache"])
    assert rc == 0
    rows = json.loads((tmp_path / "o" / "leaderboard.json").read_text())
    assert {r["method"] for r in rows} >= {"toy+logreg", "toy+knn"}
    assert max(r["accuracy"] for r in rows) >= 0.9


@pytest.mark.parametrize("case", ["missing", "one_class", "empty", "bad_method"])
def test_cli_user_errors_one_line_exit_2(tmp_path, capsys, case, image_folder):
    if case == "missing":
        args = ["--dataset", str(tmp_path / "does-not-exist")]
    elif case == "one_class":
        d = tmp_path / "one" / "cat"
        d.mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(d / f"{i}.png"), np.zeros((8, 8, 3), np.uint8))
        args = ["--dataset", str(tmp_path / "one")]
    elif case == "empty":
        (tmp_path / "e" / "a").mkdir(parents=True)
        args = ["--dataset", str(tmp_path / "e")]
    else:
        args = ["--dataset", str(image_folder), "--methods", "raw+knn,raw+bogus"]
    rc = main(["compare", *args, "--quiet", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("cvtoolkit compare: error:")
    assert "Traceback" not in err[0]


def test_every_command_has_help(capsys):
    from cvtoolkit.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert "compare" in sub.choices
    for name in sub.choices:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage:" in capsys.readouterr().out


def test_classical_only_compare_does_not_import_keras(tmp_path):
    """Rows without a CNN never wait for TensorFlow (seconds of start-up and its log lines)."""
    import subprocess
    import sys

    code = ("import sys; from cvtoolkit.cli import main; "
            f"rc = main(['compare', '--dataset', 'digits', '--methods', 'raw+knn', '--out', {str(tmp_path)!r}, "
            "'--quiet']); "
            "print(rc, sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stdout + done.stderr
    assert (tmp_path / "report.html").exists()


def test_compare_uses_the_official_split_by_default(tmp_path, capsys):
    rng = np.random.default_rng(0)
    path = tmp_path / "mini.npz"
    np.savez(path, x_train=rng.integers(0, 255, (30, 8, 8), dtype=np.uint8), y_train=np.arange(30) % 3,
             x_test=rng.integers(0, 255, (12, 8, 8), dtype=np.uint8), y_test=np.arange(12) % 3)
    assert main(["compare", "--dataset", str(path), "--methods", "raw+knn", "--out", str(tmp_path / "o"),
                 "--quiet"]) == 0
    settings = json.loads((tmp_path / "o" / "settings.json").read_text())
    assert settings["test_size"] == "official" and settings["test_samples"] == 12
    assert main(["compare", "--dataset", str(path), "--methods", "raw+knn", "--out", str(tmp_path / "s"),
                 "--test-size", "0.5", "--quiet"]) == 0
    settings = json.loads((tmp_path / "s" / "settings.json").read_text())
    assert settings["test_size"] == 0.5 and settings["test_samples"] == 21
    capsys.readouterr()
    assert main(["compare", "--dataset", "digits", "--methods", "raw+knn", "--test-size", "official",
                 "--out", str(tmp_path / "d"), "--quiet"]) == 2
    assert "no official test split" in capsys.readouterr().err


def test_raw_pixels_of_grey_images_stay_one_channel():
    from cvtoolkit.methods import make_method

    grey = np.random.default_rng(0).integers(0, 256, (12, 8, 8, 1), dtype=np.uint8)
    est = make_method("raw+logreg", image_size=(8, 8), channels=1).fit(grey, np.arange(12) % 2)
    assert est.named_steps["features"].transform(grey).shape == (12, 64)  # not 3 copies of the grey channel
    colour = make_method("raw+logreg", image_size=(8, 8), channels=3, feature_options={"color": True})
    assert colour.named_steps["features"].color is True
    assert make_method("raw+logreg", image_size=(8, 8), channels=1,
                       feature_options={"color": True}).named_steps["features"].color is True  # asked for
