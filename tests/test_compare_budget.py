"""``compare --time-budget`` (issue 19, deliverable 6): cheapest rows first, the rest skipped and said so."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_class_images, write_image_folder
from cvtoolkit.cli import main
from cvtoolkit.data import Dataset
from cvtoolkit.errors import UsageError
from cvtoolkit.methods.budget import RowCosts, TimeBudget, order_rows, parse_duration
from cvtoolkit.methods.compare import run_compare
from cvtoolkit.methods.spec import parse_method


def test_durations_and_bad_ones():
    assert [parse_duration(t) for t in ("10m", "600s", "1h", "45", "1.5h", " 2 min ")] == \
        [600.0, 600.0, 3600.0, 45.0, 5400.0, 120.0]
    for bad in ("", "10x", "-5m", "0s", "m", "1e3"):
        with pytest.raises(UsageError):
            parse_duration(bad)


def test_cli_refuses_a_bad_budget_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["compare", "--time-budget", "ten minutes", "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2 and "--time-budget" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_rows_are_ordered_cheapest_first_and_the_feature_cache_makes_rows_cheaper(tmp_path):
    images, labels, names = make_class_images(20, size=32)
    ds = Dataset(images, labels, names, source="shapes")
    specs = [parse_method(n) for n in ("shallownet", "classical_ensemble", "raw+random_forest", "hog+logreg",
                                       "raw+knn")]
    costs = RowCosts(specs, ds, 45, {}, {}, str(tmp_path / "cache"))
    ordered = [s.name for s in order_rows(specs, lambda n: costs.estimate(next(s for s in specs if s.name == n)))]
    assert ordered[0] == "raw+knn" and ordered[-1] == "classical_ensemble"
    assert ordered.index("raw+random_forest") < ordered.index("shallownet")
    hog = specs[3]
    cold = costs.estimate(hog)
    assert costs.estimate(hog, computed={"hog"}) < cold             # features of an earlier row: cheaper
    run_compare(ds, ["hog+logreg"], out_dir=None, progress=False, check_leakage=False, n_resamples=0,
                cache_dir=str(tmp_path / "cache"))                   # fills the feature cache
    warm = RowCosts(specs, ds, 45, {}, {}, str(tmp_path / "cache"))
    assert "hog" in warm.cached and warm.estimate(hog) < cold
    more = RowCosts(specs, Dataset(np.concatenate([images] * 4), np.concatenate([labels] * 4), names), 180, {}, {},
                    None)
    assert more.estimate(specs[0]) > costs.estimate(specs[0])       # more images: a dearer CNN
    assert RowCosts(specs, ds, 45, {}, {"epochs": 100}, None).estimate(specs[0]) > costs.estimate(specs[0])


def test_a_row_that_would_not_fit_is_skipped_and_the_verdict_says_which_side(tmp_path):
    images, labels, names = make_class_images(8, size=16)
    ds = Dataset(images, labels, names, source="shapes")
    res = run_compare(ds, ["raw+knn", "shallownet"], out_dir=tmp_path, progress=False, check_leakage=False,
                      n_resamples=0, cnn_options={"epochs": 10 ** 7}, time_budget=TimeBudget(600))
    skipped = {r["method"]: r for r in res.rows if r.get("skipped")}
    assert list(skipped) == ["shallownet"] and "estimated" in skipped["shallownet"]["skipped"]
    assert not res.failed and [r["method"] for r in res.skipped] == ["shallownet"]
    assert "shallownet" not in res.predictions
    assert res.verdict.startswith("no verdict: no deep row")
    assert res.verdict.endswith("incomplete: the time budget skipped 1 deep row (shallownet)")
    assert res.verdict_detail["skipped_rows"] == {"deep": ["shallownet"]}
    assert res.settings["time_budget_seconds"] == 600.0 and res.settings["skipped_rows"] == ["shallownet"]


def test_cli_tiny_budget_skips_rows_and_says_so_in_table_json_and_reports(tmp_path, capsys):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=8, size=16)
    out = tmp_path / "out"
    code = main(["compare", "--dataset", str(folder), "--methods", "raw+knn,hsv_hist+logreg,shallownet",
                 "--epochs", "10000000", "--time-budget", "10m", "--out", str(out), "--quiet", "--no-cache"])
    text = capsys.readouterr().out
    assert code == 0                                                  # a skipped row is not a failure
    assert "time budget 600 s" in text
    assert "shallownet                   SKIPPED: time budget: estimated" in text
    assert "skipped: time budget: estimated" in text                  # the printed table's note
    assert "incomplete: the time budget skipped 1 deep row (shallownet)" in text
    assert "skipped 1 row(s) for the time budget: shallownet" in text
    board = json.loads((out / "leaderboard.json").read_text())
    row = next(r for r in board["rows"] if r["method"] == "shallownet")
    assert row["skipped"].startswith("time budget: estimated")
    assert "incomplete" in board["verdict"] and board["verdict_detail"]["skipped_rows"] == {"deep": ["shallownet"]}
    assert sorted(r["method"] for r in board["rows"] if not r.get("error")) == ["hsv_hist+logreg", "raw+knn"]
    for report in ("report.md", "report.html"):
        body = (out / report).read_text()
        assert "skipped: time budget: estimated" in body and "incomplete: the time budget skipped" in body
    assert not (out / "rows" / "shallownet.json").exists()           # nothing stored: --resume would run it
