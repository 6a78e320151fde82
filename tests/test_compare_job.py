"""compare's workflow as one library call (cvtoolkit.methods.compare_job): flags in, leaderboard out, no printing."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from cvtoolkit.cli import build_parser
from cvtoolkit.methods.compare_job import CompareJob, run_compare_job


def _job(argv: list[str], **overrides) -> CompareJob:
    args = build_parser(["compare", *argv]).parse_args(["compare", *argv])
    return CompareJob.from_args(args, **overrides)


def test_every_job_field_is_a_compare_flag():
    args = build_parser(["compare"]).parse_args(["compare"])
    missing = [f.name for f in dataclasses.fields(CompareJob) if not hasattr(args, f.name)]
    assert missing == []


def test_cache_folder_is_the_flag_else_the_feature_cache_default(monkeypatch, tmp_path):
    monkeypatch.setenv("CVTOOLKIT_CACHE_DIR", str(tmp_path / "env-cache"))
    assert _job([]).cache_folder() == str(tmp_path / "env-cache")
    assert _job(["--cache-dir", str(tmp_path / "mine")]).cache_folder() == str(tmp_path / "mine")
    assert _job(["--no-cache"]).cache_folder() is None
    monkeypatch.delenv("CVTOOLKIT_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Path(_job([]).cache_folder()) == tmp_path / "home" / ".cache" / "cvtoolkit" / "features"


def test_run_compare_job_prints_nothing_and_reports_through_callbacks(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CVTOOLKIT_CACHE_DIR", str(tmp_path / "cache"))
    job = _job(["--dataset", "digits", "--image-size", "8", "--methods", "raw+knn,raw+logreg", "--quiet",
                "--out", str(tmp_path / "run")], max_pixels=None)
    said, rows, datasets = [], [], []
    outcome = run_compare_job(job, say=said.append, on_dataset=datasets.append, on_row=rows.append)
    assert capsys.readouterr().out == ""
    assert said[0] == "methods (2): raw+knn, raw+logreg"
    assert said[1].startswith("split: stratified, test ") and said[2].startswith("ranking by ")
    assert [r["method"] for r in rows] == ["raw+knn", "raw+logreg"] and datasets == [outcome.dataset]
    assert outcome.out == tmp_path / "run" and outcome.methods == ["raw+knn", "raw+logreg"]
    board = json.loads((tmp_path / "run" / "leaderboard.json").read_text())
    assert {r["method"] for r in board["rows"]} == {"raw+knn", "raw+logreg"}
    assert any((tmp_path / "cache").rglob("*")), "features were cached in $CVTOOLKIT_CACHE_DIR"
    assert outcome.tracking is None and outcome.seconds > 0


def test_bad_rows_fail_before_any_work(tmp_path):
    from cvtoolkit.errors import CvToolkitError

    with pytest.raises(CvToolkitError):
        run_compare_job(_job(["--methods", "raw+knn,raw+knn", "--out", str(tmp_path / "o")]))
    assert not (tmp_path / "o").exists()
