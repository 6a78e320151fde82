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
    board = json.loads((out / "leaderboard.json").read_text())
    assert {"sort_metric", "verdict", "verdict_detail", "rows"} <= set(board)
    rows = board["rows"]
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
    # the verdict: best classical against the one deep row, printed before the table
    verdict = json.loads((out / "leaderboard.json").read_text())["verdict_detail"]
    assert verdict["best_deep"] == "shallownet" and verdict["best_classical"] in ("raw+knn", "raw+random_forest")
    assert 0.0 <= verdict["p_value"] <= 1.0 and verdict["ci_low"] <= verdict["diff"] <= verdict["ci_high"]
    line = next(ln for ln in printed.splitlines() if ln.startswith("verdict: "))
    assert "shallownet" in line and verdict["best_classical"] in line
    assert printed.index("verdict: ") < printed.index("rank  method")
    assert {r["method"]: r["deep"] for r in rows} == {"raw+knn": False, "raw+random_forest": False,
                                                      "shallownet": True}
    md = (out / "report.md").read_text().splitlines()
    assert md[2] == "## Verdict" and line[len("verdict: "):] in md[4]  # the verdict comes first


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
    rows = json.loads((tmp_path / "o" / "leaderboard.json").read_text())["rows"]
    assert {r["method"] for r in rows} >= {"toy+logreg", "toy+knn"}
    assert rows[0]["tied_with_best"] is True and rows[0]["p_vs_best"] is None  # the best row is the first
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


def test_rows_carry_cis_paired_tests_and_predictions_csv(image_folder, tmp_path):
    import csv

    ds = load_dataset(image_folder, image_size=16, progress=False)
    out = tmp_path / "o"
    result = run_compare(ds, ["raw+knn", "raw+logreg", "hu+random_forest"], test_size=0.5, seed=0, out_dir=out,
                         cache_dir=str(tmp_path / "cache"), progress=False)
    y = result.test.labels
    for row in result.rows:
        for m in ("accuracy", "balanced_accuracy", "f1_macro"):
            assert row[f"{m}_ci_low"] <= row[m] <= row[f"{m}_ci_high"], (row["method"], m)
        assert row["deep"] is False and "log_loss" in row
    best, *others = result.rows
    assert best["p_vs_best"] is None and best["tied_with_best"] is True
    assert result.sort_metric == "accuracy" and best["accuracy"] == max(r["accuracy"] for r in result.rows)
    from cvtoolkit.evaluate.stats import holm, mcnemar_exact

    pred = {m: p.argmax(axis=1) for m, p in result.predictions.items()}
    raw = [mcnemar_exact(y, pred[best["method"]], pred[r["method"]]) for r in others]
    for row, p in zip(others, holm(raw)):
        assert row["p_vs_best"] == pytest.approx(p) and row["tied_with_best"] == (p >= 0.05)
    # predictions.csv: one line per test image, the true class and each row's prediction and probabilities
    with open(out / "predictions.csv", newline="", encoding="utf-8") as fh:
        records = list(csv.DictReader(fh))
    assert len(records) == len(y) and result.files["predictions.csv"] == str(out / "predictions.csv")
    names = ds.class_names
    for i, rec in enumerate(records):
        assert rec["sample"] == result.test.paths[i] and rec["true"] == names[y[i]]
        for m, proba in result.predictions.items():
            assert rec[f"{m}:predicted"] == names[int(pred[m][i])]
            assert float(rec[f"{m}:p({names[0]})"]) == pytest.approx(proba[i, 0], abs=1e-5)
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["verdict"].startswith("no verdict: no deep row")
    assert [r["method"] for r in board["rows"]] == [r["method"] for r in result.rows]
    assert "accuracy [95% CI]" in result.board.to_text() and "[95% CI]" in (out / "report.md").read_text()


def test_default_metric_switches_to_balanced_accuracy_on_imbalanced_data(tmp_path, capsys):
    from conftest import write_image_folder

    balanced = write_image_folder(tmp_path / "bal", n_per_class=6, size=16, classes=("circle", "square"))
    skewed = write_image_folder(tmp_path / "skew", n_per_class=12, size=16, classes=("circle", "square"))
    for p in sorted((skewed / "square").iterdir())[:6]:  # 12 circles, 6 squares: ratio 2.0 > 1.5
        p.unlink()
    metrics = {}
    for name, root in (("bal", balanced), ("skew", skewed)):
        rc = main(["compare", "--dataset", str(root), "--image-size", "16", "--methods", "raw+knn,raw+logreg",
                   "--out", str(tmp_path / f"o_{name}"), "--quiet", "--no-cache"])
        assert rc == 0
        printed = capsys.readouterr().out
        metrics[name] = json.loads((tmp_path / f"o_{name}" / "leaderboard.json").read_text())["sort_metric"]
        assert f"ranking by {metrics[name]}: " in printed
    assert metrics == {"bal": "accuracy", "skew": "balanced_accuracy"}
    report = (tmp_path / "o_skew" / "report.md").read_text()
    assert "Sorted by balanced accuracy" in report and "[95% CI]" in report
    rc = main(["compare", "--dataset", str(skewed), "--image-size", "16", "--methods", "raw+knn,raw+logreg",
               "--metric", "log_loss", "--out", str(tmp_path / "o_ll"), "--quiet", "--no-cache"])
    assert rc == 0
    rows = json.loads((tmp_path / "o_ll" / "leaderboard.json").read_text())["rows"]
    assert rows[0]["log_loss"] <= rows[1]["log_loss"]  # lower is better


def test_repeated_kfold_gives_mean_std_and_corrected_tests(image_folder, tmp_path, capsys):
    from cvtoolkit.evaluate.stats import corrected_resampled_ttest

    import cvtoolkit.features.cache as cache

    calls = []
    real = cache.cached_features

    def counting(transformer, dataset, **kw):
        calls.append((type(transformer).__name__, len(dataset)))
        return real(transformer, dataset, **kw)

    ds = load_dataset(image_folder, image_size=16, progress=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cache, "cached_features", counting)
        result = run_compare(ds, ["raw+knn", "raw+logreg", "hu+random_forest"], folds=3, repeats=2, seed=0,
                             out_dir=tmp_path / "o", cache_dir=str(tmp_path / "cache"), progress=False)
    # per-image descriptors: features of all 24 images once each, not once per fold
    assert sorted(calls) == [("HuMoments", 24), ("RawPixels", 24)]
    assert result.folds["n_splits"] == 6 and result.folds["n_train"] == 16 and result.folds["n_test"] == 8
    for row in result.rows:
        vals = row["fold_values"]["accuracy"]
        assert len(vals) == 6
        assert row["accuracy_mean"] == pytest.approx(np.mean(vals)) == pytest.approx(row["accuracy"])
        assert row["accuracy_std"] == pytest.approx(np.std(vals, ddof=1))
    best, *others = result.rows
    assert best["tied_with_best"] is True and best["p_vs_best"] is None
    worst = others[-1]
    d = np.subtract(best["fold_values"]["accuracy"], worst["fold_values"]["accuracy"])
    if d.var() > 0:  # Holm can only raise the raw p-value
        assert worst["p_vs_best"] >= corrected_resampled_ttest(d, 16, 8)[1] - 1e-12
    board = json.loads((tmp_path / "o" / "leaderboard.json").read_text())
    assert board["folds"]["per_fold"]["raw+knn"]["accuracy"] == result.rows[
        [r["method"] for r in result.rows].index("raw+knn")]["fold_values"]["accuracy"]
    assert "\u00b1" in result.board.to_text()
    # a class with fewer images than folds: one line, exit 2
    rc = main(["compare", "--dataset", str(image_folder), "--image-size", "16", "--methods", "raw+knn",
               "--folds", "9", "--quiet", "--no-cache", "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "9-fold" in err[0]


def test_learning_curve_writes_png_and_nested_points(image_folder, tmp_path, capsys):
    out = tmp_path / "lc"
    rc = main(["compare", "--dataset", str(image_folder), "--image-size", "16", "--methods",
               "raw+knn,raw+logreg,hu+random_forest", "--learning-curve", "0.34,1",
               "--learning-curve-methods", "raw+logreg,hu+random_forest", "--out", str(out), "--quiet",
               "--cache-dir", str(tmp_path / "cache"), "--test-size", "0.25"])
    assert rc == 0
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "learning_curve.json").read_text())
    assert set(data["methods"]) == {"raw+logreg", "hu+random_forest"} and data["fractions"] == [0.34, 1.0]
    board = {r["method"]: r for r in json.loads((out / "leaderboard.json").read_text())["rows"]}
    for name, points in data["methods"].items():
        assert [p["n_train"] for p in points] == [9, 18]  # ceil(0.34 * 6) = 3 per class (x3), then all 18
        for p in points:
            assert p["ci_low"] <= p["value"] <= p["ci_high"]
        assert points[-1]["value"] == pytest.approx(board[name]["accuracy"])  # 1.0 = the main run's fit
    assert "learning_curve.png" in capsys.readouterr().out
    rc = main(["compare", "--dataset", str(image_folder), "--image-size", "16", "--methods", "raw+knn",
               "--learning-curve", "0,2", "--quiet", "--no-cache", "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "fraction" in err[0]


def test_learning_curve_and_folds_do_not_mix(image_folder, tmp_path, capsys):
    rc = main(["compare", "--dataset", str(image_folder), "--image-size", "16", "--methods", "raw+knn",
               "--learning-curve", "--folds", "3", "--quiet", "--no-cache", "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--folds" in err[0]
    assert not (tmp_path / "bad").exists()
