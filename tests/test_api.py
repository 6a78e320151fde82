"""Issue 21, item 5: the Python front door (``import cvtoolkit as cvt; cvt.compare(...)``) and its README example."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=180)


def _readme_python_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## From Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the README's 'From Python' section has no python block"
    return blocks[0]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CVTOOLKIT_CACHE_DIR", str(tmp_path / "cache"))


# --------------------------------------------------------------------------- import costs
def test_import_cvtoolkit_stays_cheap_and_names_load_lazily():
    code = ("import sys\n"
            "import cvtoolkit as cvt\n"
            "heavy = ('tensorflow', 'keras', 'sklearn', 'pandas', 'numpy', 'cvtoolkit.api')\n"
            "print(sorted(m for m in heavy if m in sys.modules))\n"
            "assert {'compare', 'audit', 'load_dataset', 'load_model'} <= set(dir(cvt))\n"
            "f = cvt.compare\n"
            "print(f.__module__, sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
            "print(callable(cvt.audit), cvt.audit.run_audit.__name__)\n")
    lines = _run(code).stdout.strip().splitlines()
    assert lines == ["[]", "cvtoolkit.api []", "True run_audit"]


@pytest.mark.slow  # > 3 s: imports TensorFlow in a subprocess
def test_tensorflow_start_up_lines_stay_quiet_in_a_script():
    code = ("import os\n"
            "os.environ.pop('TF_CPP_MIN_LOG_LEVEL', None)\n"
            "import cvtoolkit as cvt\n"
            "import keras\n"
            "keras.ops.convert_to_numpy(keras.ops.ones((2, 2)) + 1)\n"
            "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))\n")
    done = _run(code)
    assert done.stdout.strip() == "2"
    assert [line for line in done.stderr.splitlines() if line.strip()] == [], done.stderr


# --------------------------------------------------------------------------- compare from Python
@pytest.mark.slow  # > 3 s: a compare and an audit of digits
def test_readme_from_python_example_runs_as_written(tmp_path, monkeypatch, cache):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_readme_python_example(), "README.md[From Python]", "exec"), {"__name__": "__readme__"})
    printed = out.getvalue()
    assert "Leaderboard(2 rows, ranked by accuracy)" in printed and "raw+knn" in printed
    best = re.search(r"^best: (\S+) ([0-9.]+)$", printed, re.M)
    assert best and best.group(1) == "raw+knn" and float(best.group(2)) > 0.9
    assert (tmp_path / "runs" / "digits-py" / "leaderboard.json").is_file()


@pytest.mark.slow  # > 3 s: a compare of digits and a refit
def test_compare_result_frame_predictions_html_and_refit(tmp_path, cache):
    import cvtoolkit as cvt
    import pandas as pd

    result = cvt.compare("digits", methods=["raw+logreg", "raw+knn"], out=tmp_path / "run", seed=1)
    frame = result.leaderboard
    assert isinstance(frame, pd.DataFrame) and frame.index.name == "rank"
    assert frame["method"].tolist() == [r["method"] for r in result.rows]
    assert frame.loc[1, "accuracy"] == pytest.approx(result.rows[0]["accuracy"])
    assert result.to_pandas().equals(frame)
    n_test = len(result.test)
    assert {k: v.shape for k, v in result.predictions.items()} == {"raw+logreg": (n_test, 10), "raw+knn": (n_test, 10)}
    assert result.settings["seed"] == 1 and result.settings["sort_metric"] == "accuracy"

    html = result._repr_html_()  # what a notebook shows
    assert result.verdict and result.verdict.replace("'", "&#x27;") in html
    assert "<table" in html and all(f"<td>{r['method']}</td>" in html for r in result.rows)
    assert "Comparison('digits', 2 rows" in repr(result) and result.verdict in repr(result)

    model = result.best_pipeline  # fitted again on the same training part: the same test accuracy
    accuracy = float(np.mean(model.predict(result.test.images) == result.test.labels))
    assert accuracy == pytest.approx(result.rows[0]["accuracy"])
    assert result.best_pipeline is model  # fitted once


def test_compare_refuses_unknown_options_and_bad_rows(tmp_path, cache):
    import cvtoolkit as cvt
    from cvtoolkit.errors import CvToolkitError

    with pytest.raises(TypeError, match="epoch.*valid options:.*epochs"):
        cvt.compare("digits", methods=["raw+knn"], epoch=3)
    with pytest.raises(CvToolkitError, match="hog\\+nope|nope"):
        cvt.compare("digits", methods=["hog+nope"], out=tmp_path / "x")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not cvtoolkit's")
    with pytest.raises(CvToolkitError, match="mine"):  # a folder cvtoolkit did not write is refused, as by the CLI
        cvt.compare("digits", methods=["raw+knn"], out=tmp_path / "mine")
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


def test_audit_load_dataset_and_load_model(tmp_path, cache):
    import cvtoolkit as cvt
    from cvtoolkit.methods import make_method
    from cvtoolkit.methods.artifact import save_pipeline

    digits = cvt.load_dataset("digits", image_size=16)
    assert digits.images.shape == (1797, 16, 16, 1) and digits.n_classes == 10
    found = cvt.audit(digits, label_issues=False, test_size=0.25, seed=0)
    assert found.leakage["seed"] == 0 and found.leakage["test_with_duplicate_in_train"] >= 0
    written = cvt.audit("digits", label_issues=False, out=tmp_path / "audit")
    assert (tmp_path / "audit" / "audit.json").is_file() and written.leakage["test_size"] == 0.25

    est = make_method("raw+knn", image_size=(16, 16), channels=1).fit(digits.images[:200], digits.labels[:200])
    save_pipeline(est, tmp_path / "m", method="raw+knn", class_names=digits.class_names, image_size=16, channels=1)
    model = cvt.load_model(tmp_path / "m")
    assert model.predict_proba(digits.images[:3]).shape == (3, 10)


# --------------------------------------------------------------------------- the leaderboard's own views
def test_leaderboard_repr_frame_and_html():
    from cvtoolkit.evaluate import Leaderboard

    board = Leaderboard([{"method": "hog+svm", "accuracy": 0.8, "f1_macro": 0.79, "fit_seconds": 2.0,
                          "predict_ms_per_image": 0.5},
                         {"method": "cnn", "accuracy": 0.9, "f1_macro": 0.88, "fit_seconds": 30.0,
                          "predict_ms_per_image": 1.5, "epochs": 10},
                         {"method": "broken", "error": "ValueError: no"}], sort_metric="accuracy")
    text = repr(board)
    assert text.splitlines()[0] == "Leaderboard(3 rows, ranked by accuracy, 1 failed)"
    assert text.splitlines()[2].startswith("----") and "cnn" in text.splitlines()[3]
    frame = board.to_pandas()
    assert frame["method"].tolist() == ["cnn", "hog+svm", "broken"]
    assert frame.index.tolist()[:2] == [1, 2] and frame.index.isna().tolist() == [False, False, True]
    assert frame.loc[1, "epochs"] == 10 and np.isnan(frame.loc[2, "epochs"])
    assert "error" in frame.columns
    html = board._repr_html_()
    assert html.count("<tr>") == 4 and "error: ValueError: no" in html
    assert repr(Leaderboard()) == "Leaderboard(0 rows, ranked by accuracy)"


def test_workflows_are_exported_from_methods_lazily():
    code = ("import sys\n"
            "import cvtoolkit.methods as m\n"
            "print('cvtoolkit.methods.compare' in sys.modules, 'cvtoolkit.methods.train_job' in sys.modules)\n"
            "print(m.TrainJob.__module__, m.run_compare.__module__, m.run_compare_job.__module__)\n"
            "print(sorted({'run_compare', 'run_compare_job', 'CompareJob', 'TrainJob', 'run_train_job'} - set(m.__all__)))\n")
    assert _run(code).stdout.splitlines() == [
        "False False", "cvtoolkit.methods.train_job cvtoolkit.methods.compare cvtoolkit.methods.compare_job", "[]"]
