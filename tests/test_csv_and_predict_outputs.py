"""Issue 11 cases 12 and 15: unreadable images are marked skipped in predict --out (not a uniform guess), and
CSV outputs neutralise class names that a spreadsheet would run as formulas."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import write_image_folder
from cvtoolkit.cli import main
from cvtoolkit.evaluate import Leaderboard
from cvtoolkit.io.csv_safe import csv_text, safe_cell
from cvtoolkit.kaggle import write_submission

HOSTILE = ("=HYPERLINK(\"evil\")", "+cmd", "-2+3", "@SUM(A1)")


def read_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_safe_cell_neutralises_formulas_but_not_numbers():
    for text in HOSTILE + ("\tx", "\rx", "=1"):
        assert safe_cell(text) == "'" + text
    for keep in ("cat", "-0.5", "+3", "1e-05", "", "a=b", 0.5, -1, None):
        assert safe_cell(keep) == keep
    assert csv_text([["a", "-inf"], ["=x", "-nan"]]) == "a,'-inf\n'=x,'-nan\n"


@pytest.fixture()
def hostile_model(tmp_path) -> Path:
    root = write_image_folder(tmp_path / "ds", n_per_class=6, size=16, classes=HOSTILE[:2])
    model = tmp_path / "model"
    assert main(["fit", "--dataset", str(root), "--method", "raw+knn", "--image-size", "8", "--val-size", "0",
                 "--quiet", "--out", str(model)]) == 0
    return model


def test_predict_and_submission_csvs_neutralise_formulas(tmp_path, hostile_model):
    images = tmp_path / "test"
    images.mkdir()
    cv2.imwrite(str(images / "1.png"), np.zeros((16, 16, 3), np.uint8))
    preds, sub = tmp_path / "p.csv", tmp_path / "s.csv"
    assert main(["predict", "--model", str(hostile_model), "--images", str(images), "--out", str(preds),
                 "--submission", str(sub), "--quiet"]) == 0
    header = read_rows(preds)[0]
    assert sorted(header[2:4]) == sorted(["'" + HOSTILE[0], "'" + HOSTILE[1]])
    assert read_rows(sub)[1][1] in ("'" + HOSTILE[0], "'" + HOSTILE[1])
    assert not any(cell.startswith(("=", "+", "@")) for row in read_rows(preds) + read_rows(sub) for cell in row)


def test_leaderboard_and_proba_submission_csvs_neutralise_formulas(tmp_path):
    board = Leaderboard([{"method": "=evil()+knn", "accuracy": 0.5, "error": "@x"}])
    text = board.to_csv()
    assert "'=evil()+knn" in text and "'@x" in text and "0.5" in text
    out = tmp_path / "s.csv"
    write_submission(out, [1], np.array([[0.25, 0.75]]), ["-x", "y"], fmt="proba")
    assert read_rows(out) == [["id", "'-x", "y"], ["1", "0.25", "0.75"]]


def test_predict_out_marks_unreadable_images_as_skipped(tmp_path, hostile_model, capsys):
    images = tmp_path / "test"
    images.mkdir()
    cv2.imwrite(str(images / "1.png"), np.zeros((16, 16, 3), np.uint8))
    (images / "2.png").write_bytes(b"not a png")
    cv2.imwrite(str(images / "3.png"), np.full((16, 16, 3), 200, np.uint8))
    preds = tmp_path / "p.csv"
    assert main(["predict", "--model", str(hostile_model), "--images", str(images), "--out", str(preds),
                 "--quiet"]) == 0
    assert "2: skipped" in capsys.readouterr().out
    rows = read_rows(preds)
    assert rows[0][-1] == "skipped" and [r[0] for r in rows[1:]] == ["1", "2", "3"]
    ok1, bad, ok3 = rows[1:]
    assert ok1[-1] == "" and ok1[1] != "" and float(ok1[2]) + float(ok1[3]) == pytest.approx(1)
    assert bad[1] == "" and bad[2:4] == ["", ""] and bad[-1]  # no class, no probabilities, a reason
    assert ok3[-1] == ""
    sub = tmp_path / "s.csv"
    assert main(["predict", "--model", str(hostile_model), "--images", str(images), "--submission", str(sub),
                 "--quiet"]) == 2
    assert "--allow-skipped" in capsys.readouterr().err and not sub.exists()
