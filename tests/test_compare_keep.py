"""compare --keep: the winner's fitted pipeline, in the format predict takes, fitted on the scored split."""

from __future__ import annotations

import csv
import json
import logging
import shutil

import numpy as np
import pytest

from cvtoolkit.cli import main
from tests.conftest import write_image_folder


def _predictions_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_keep_best_then_predict_gives_the_leaderboard_rows_predictions(tmp_path, capsys, caplog):
    data = write_image_folder(tmp_path / "shapes", n_per_class=10, size=64, ext=".jpg")  # JPEGs decode reduced
    out = tmp_path / "run"
    with caplog.at_level(logging.INFO):
        code = main(["compare", "--dataset", str(data), "--image-size", "16", "--methods",
                     "raw+knn,hsv_hist+logreg", "--keep", "best", "--quiet", "--no-cache", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    board = json.loads((out / "leaderboard.json").read_text())
    best = board["rows"][0]["method"]
    folder = out / "models" / best
    assert f"kept best model {best} in {folder}" in printed
    assert sorted(p.name for p in (out / "models").iterdir()) == [best]  # best only
    # no "saved ... pipeline to <folder>" line for a folder that is gone (the size's temporary, a pruned row)
    saved = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and r.getMessage().startswith("saved ")]
    assert saved == []
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["method"] == best and manifest["trained_by"] == "cvtoolkit compare"
    assert manifest["split"]["test_samples"] == board["rows"][0].get("test_samples", manifest["split"]["test_samples"])

    # predict on the test images (copied into one unlabelled folder) with the kept model
    rows = _predictions_csv(out / "predictions.csv")
    test_dir = tmp_path / "unlabelled"
    test_dir.mkdir()
    names = {}
    for i, row in enumerate(rows):
        shutil.copyfile(row["sample"], test_dir / f"{i}.jpg")
        names[str(i)] = row
    capsys.readouterr()
    pred_csv = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(folder), "--images", str(test_dir), "--out", str(pred_csv),
                 "--quiet"]) == 0
    predicted = _predictions_csv(pred_csv)
    assert len(predicted) == len(rows)
    classes = manifest["class_names"]
    for rec in predicted:
        ref = names[rec["id"]]
        assert rec["predicted"] == ref[f"{best}:predicted"]
        got = np.array([float(rec[c]) for c in classes])
        want = np.array([float(ref[f"{best}:p({c})"]) for c in classes])
        np.testing.assert_allclose(got, want, atol=2e-5)


@pytest.mark.slow
def test_keep_all_keeps_every_row_and_none_keeps_nothing(tmp_path, capsys):
    data = write_image_folder(tmp_path / "shapes", n_per_class=6, size=16)
    out = tmp_path / "all"
    assert main(["compare", "--dataset", str(data), "--methods", "raw+knn,raw+logreg", "--keep", "all",
                 "--quiet", "--no-cache", "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "models").iterdir()) == ["raw+knn", "raw+logreg"]
    for name in ("raw+knn", "raw+logreg"):
        assert (out / "models" / name / "pipeline.skops").is_file()
    assert "kept best model" in capsys.readouterr().out
    none = tmp_path / "none"
    assert main(["compare", "--dataset", str(data), "--methods", "raw+knn", "--quiet", "--no-cache",
                 "--out", str(none)]) == 0
    assert not (none / "models").exists()
    assert "kept" not in capsys.readouterr().out


def test_keep_with_folds_is_refused_before_any_work(tmp_path, capsys):
    code = main(["compare", "--dataset", "digits", "--methods", "raw+knn", "--folds", "3", "--keep", "best",
                 "--out", str(tmp_path / "o")])
    assert code == 2
    assert "--keep best keeps models fitted on one split" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
