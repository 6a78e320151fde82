"""The ranking metric's reason is recorded as it was decided; --dedupe is never dropped silently (issue 21)."""

from __future__ import annotations

import json

import pytest

from cvtoolkit.errors import UsageError
from cvtoolkit.methods.compare_job import CompareJob, run_compare_job
from tests.conftest import write_image_folder


@pytest.fixture
def folder(tmp_path):
    return write_image_folder(tmp_path / "data", n_per_class=8, size=32)


def _reason(out) -> str:
    return json.loads((out / "settings.json").read_text())["sort_metric_reason"]


@pytest.mark.parametrize("metric, folds, expected", [
    (None, None, "classes are balanced"),
    ("f1_macro", None, "chosen with --metric"),
    (None, 2, "classes are balanced"),
])
def test_settings_say_why_the_metric_was_chosen(folder, tmp_path, metric, folds, expected):
    out = tmp_path / "out"
    run_compare_job(CompareJob(dataset=str(folder), methods="hsv_hist+logreg", metric=metric, folds=folds,
                               out=str(out), quiet=True, no_cache=True, offline=True))
    assert _reason(out).startswith(expected)


def test_dedupe_with_folds_is_refused_before_any_work(folder, tmp_path):
    with pytest.raises(UsageError, match="--dedupe"):
        run_compare_job(CompareJob(dataset=str(folder), methods="hsv_hist+logreg", dedupe=True, folds=3,
                                   out=str(tmp_path / "out"), quiet=True, no_cache=True, offline=True))
    assert not (tmp_path / "out").exists()
