"""Crash-safe compare (issue 19, deliverable 4): rows on disk as they finish, ``--resume`` reuses them.

Library tests on a tiny synthetic dataset, CLI tests on a tiny folder, and
(slow) a real SIGKILL of ``python -m cvtoolkit compare`` parked inside a row,
then ``--resume``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import make_class_images, write_image_folder
from cvtoolkit.cli import main
from cvtoolkit.data import Dataset
from cvtoolkit.methods.compare import run_compare
from cvtoolkit.methods.row_store import ROW_FORMAT, RowStore, StoredRow, has_rows, is_compare_output, plan_reuse

REPO = Path(__file__).resolve().parents[1]
ROWS = ["raw+knn", "hsv_hist+logreg", "raw+logreg", "classical_ensemble"]


def _dataset() -> Dataset:
    images, labels, names = make_class_images(10, size=16)
    return Dataset(images, labels, names, source="shapes")


def _run(ds, out, *, reuse=False, **kw):
    store = RowStore.for_output(out, reuse=reuse)
    return run_compare(ds, kw.pop("methods", ROWS), out_dir=None, progress=False, check_leakage=False,
                       n_resamples=0, row_store=store, **kw)


def test_each_finished_row_is_stored_and_resume_reuses_it_without_fitting(tmp_path, monkeypatch):
    ds = _dataset()
    first = _run(ds, tmp_path)
    for name in ROWS:
        meta = json.loads((tmp_path / "rows" / f"{name}.json").read_text())
        assert meta["format"] == ROW_FORMAT and meta["method"] == name and meta["key"]
        assert (tmp_path / "rows" / f"{name}.npz").is_file()
    assert has_rows(tmp_path) and is_compare_output(tmp_path)

    import cvtoolkit.methods.compare as engine

    def no_fit(*a, **k):  # a reused row must not be fitted again
        raise AssertionError("a stored row was fitted again")

    monkeypatch.setattr(engine, "make_classifier_step", no_fit)
    monkeypatch.setattr(engine, "_fusion_row", no_fit)
    again = _run(ds, tmp_path, reuse=True)
    assert not again.failed
    assert all(r.get("reused") for r in again.rows)
    assert again.settings["reused_rows"] == sorted(ROWS)
    for name in ROWS:
        np.testing.assert_array_equal(again.predictions[name], first.predictions[name])
    by_name = {r["method"]: r for r in first.rows}
    for row in again.rows:
        for key in ("accuracy", "f1_macro", "fit_seconds", "feature_dim", "members"):
            assert row.get(key) == by_name[row["method"]].get(key), key


def test_resume_never_reuses_a_row_whose_data_split_or_settings_differ(tmp_path):
    ds = _dataset()
    _run(ds, tmp_path, methods=["raw+knn", "raw+logreg"])
    for changed in ({"seed": 7},                                  # another split and random state
                    {"search": "random"},                          # another setting of the row
                    {"feature_options": {"n_words": 17}}):         # another feature option
        res = _run(ds, tmp_path, reuse=True, methods=["raw+knn", "raw+logreg"], **changed)
        assert not any(r.get("reused") for r in res.rows), changed
        _run(ds, tmp_path, methods=["raw+knn", "raw+logreg"])  # back to the first settings
    other = Dataset(ds.images[::-1].copy(), ds.labels[::-1].copy(), ds.class_names, source="shapes")
    res = _run(other, tmp_path, reuse=True, methods=["raw+knn", "raw+logreg"])
    assert not any(r.get("reused") for r in res.rows)           # other pixels, same shapes: other data
    _run(ds, tmp_path, methods=["raw+knn", "raw+logreg"])
    res = _run(ds, tmp_path, reuse=True, methods=["raw+knn", "raw+logreg"])
    assert all(r.get("reused") for r in res.rows)                # the same once more: reused


def test_a_half_written_or_tampered_row_is_run_again(tmp_path):
    ds = _dataset()
    _run(ds, tmp_path, methods=["raw+knn", "raw+logreg"])
    rows = tmp_path / "rows"
    (rows / "raw+knn.json").unlink()                         # killed between the .npz and the .json
    with np.load(rows / "raw+logreg.npz") as npz:
        proba = npz["proba"].copy()
    proba[0] = proba[0][::-1]
    np.savez(rows / "raw+logreg.npz", proba=proba)           # not the .npz its .json committed
    res = _run(ds, tmp_path, reuse=True, methods=["raw+knn", "raw+logreg"])
    assert not any(r.get("reused") for r in res.rows)
    assert json.loads((rows / "raw+knn.json").read_text())["method"] == "raw+knn"   # stored again


def test_without_resume_a_run_clears_the_earlier_rows(tmp_path):
    ds = _dataset()
    _run(ds, tmp_path, methods=["raw+knn", "raw+logreg"])
    (tmp_path / "rows" / "notes.txt").write_text("mine")
    _run(ds, tmp_path, methods=["raw+knn"])
    assert sorted(p.name for p in (tmp_path / "rows").iterdir()) == ["notes.txt", "raw+knn.json", "raw+knn.npz"]


def test_a_late_fusion_that_must_run_runs_its_members_again(tmp_path, caplog):
    ds = _dataset()
    _run(ds, tmp_path)
    (tmp_path / "rows" / "classical_ensemble.json").unlink()
    with caplog.at_level("INFO", logger="cvtoolkit.methods.compare"):
        res = _run(ds, tmp_path, reuse=True)
    assert not res.failed
    assert not any(r.get("reused") for r in res.rows)  # members' classifiers are not stored: fitted again
    assert "classical_ensemble runs again, so its members run again too" in caplog.text
    fused = next(r for r in res.rows if r["method"] == "classical_ensemble")
    assert fused["members"]

    s = StoredRow({}, np.zeros((1, 2)))
    from cvtoolkit.methods.spec import parse_method

    specs = [parse_method(n) for n in ("raw+knn", "shallownet", "mobilenet+logreg", "deep_ensemble")]
    reused, notes = plan_reuse(specs, {"raw+knn": s, "shallownet": s, "mobilenet+logreg": s, "deep_ensemble": None})
    assert sorted(reused) == ["raw+knn", "shallownet"] and "mobilenet+logreg" in notes[0]  # a CNN is no member


def test_cli_resume_refuses_an_out_written_by_something_else(tmp_path, capsys):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=6, size=16)
    foreign = tmp_path / "theirs"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine")
    rows = foreign / "rows"
    rows.mkdir()
    (rows / "raw+knn.json").write_text(json.dumps({"format": "something else", "method": "raw+knn"}))
    code = main(["compare", "--dataset", str(folder), "--methods", "raw+knn", "--out", str(foreign), "--resume",
                 "--quiet", "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2 and "theirs" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in foreign.iterdir()) == ["rows", "thesis.tex"]


def test_cli_resume_prints_reused_rows(tmp_path, capsys):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=6, size=16)
    out = tmp_path / "out"
    args = ["compare", "--dataset", str(folder), "--methods", "raw+knn,hsv_hist+logreg", "--out", str(out),
            "--quiet", "--no-cache"]
    assert main(args) == 0
    first = json.loads((out / "leaderboard.json").read_text())
    (out / "leaderboard.json").unlink()  # as after a kill: only the rows are there
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0
    text = capsys.readouterr().out
    assert text.count("(reused: --resume)") == 2
    again = json.loads((out / "leaderboard.json").read_text())
    assert [(r["method"], r["accuracy"]) for r in again["rows"]] == [(r["method"], r["accuracy"])
                                                                     for r in first["rows"]]
    assert again["verdict"] == first["verdict"]


PARK_HOOK = """
import sys, time
from pathlib import Path

marker, park_after = Path(sys.argv[1]), int(sys.argv[2])
import cvtoolkit.methods.compare as engine
from cvtoolkit.methods.row_store import RowStore

saved = []
original_save, original_still = RowStore.save, engine.still_running

def save(self, row, *a, **k):
    original_save(self, row, *a, **k)
    saved.append(row["method"])

class Parked:
    def __init__(self, *a, **k):
        self.inner = original_still(*a, **k)
    def __enter__(self):
        if len(saved) >= park_after and not marker.exists():
            marker.write_text(",".join(saved))
            time.sleep(600)                      # parked inside the next row's fit: the test kills us here
        return self.inner.__enter__()
    def __exit__(self, *exc):
        return self.inner.__exit__(*exc)

RowStore.save = save
engine.still_running = Parked

from cvtoolkit.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _env() -> dict:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1",
                PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_inside_a_row_loses_only_that_row_and_resume_finishes_the_same_board(tmp_path):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=10, size=16)
    methods = "raw+knn,hsv_hist+logreg,raw+logreg,hog+logreg"  # late fusion: see the library test above
    common = ["compare", "--dataset", str(folder), "--methods", methods, "--quiet", "--n-jobs", "1",
              "--cache-dir", str(tmp_path / "cache")]
    out = tmp_path / "out"
    hook = tmp_path / "park.py"
    hook.write_text(textwrap.dedent(PARK_HOOK), encoding="utf-8")
    marker = tmp_path / "parked"
    child = subprocess.Popen([sys.executable, str(hook), str(marker), "2", *common, "--out", str(out)], cwd=REPO,
                             env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), f"child never parked: {child.poll()=}"
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    done = marker.read_text().split(",")
    assert len(done) == 2
    stored = sorted(p.stem for p in (out / "rows").glob("*.json"))
    assert stored == sorted(done)                                   # the finished rows survived, whole
    assert all((out / "rows" / f"{name}.npz").is_file() for name in done)
    assert not (out / "leaderboard.json").exists()                   # the board is written only at the end
    assert not [p for p in (out / "rows").iterdir() if not p.name.startswith(".") and p.suffix not in (".json", ".npz")]

    resumed = subprocess.run([sys.executable, "-m", "cvtoolkit", *common, "--out", str(out), "--resume"], cwd=REPO,
                             env=_env(), capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    reused = [line.split()[0] for line in resumed.stdout.splitlines() if "(reused: --resume)" in line]
    assert sorted(reused) == sorted(done)                            # the two rows are reused, the rest run

    clean = tmp_path / "clean"
    fresh = subprocess.run([sys.executable, "-m", "cvtoolkit", *common, "--out", str(clean)], cwd=REPO, env=_env(),
                           capture_output=True, text=True, timeout=240)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    a = json.loads((out / "leaderboard.json").read_text())
    b = json.loads((clean / "leaderboard.json").read_text())
    assert [(r["method"], r["accuracy"], r.get("log_loss")) for r in a["rows"]] == \
        [(r["method"], r["accuracy"], r.get("log_loss")) for r in b["rows"]]
    assert (out / "predictions.csv").read_text() == (clean / "predictions.csv").read_text()


class _FakeMlflow:
    """Just enough of the ``mlflow`` module to record what the tracker logs, and when (MLflow is an extra)."""

    def __init__(self):
        self.events, self.stack, self.n = [], [], 0
        fake = self

        class Client:
            def set_terminated(self, run_id, status=None):
                fake.events.append(("terminated", run_id, status))

            def set_tag(self, run_id, key, value):
                fake.events.append(("tag", run_id, key, value))

            def log_metric(self, run_id, key, value):
                fake.events.append(("late_metric", run_id, key))

            def log_artifact(self, run_id, path):
                fake.events.append(("late_artifact", run_id, path))

        self.MlflowClient = Client

    def set_tracking_uri(self, uri):
        pass

    def get_tracking_uri(self):
        return "fake://"

    def set_experiment(self, name):
        pass

    def start_run(self, run_name=None, nested=False, tags=None):
        import contextlib
        from types import SimpleNamespace

        @contextlib.contextmanager
        def run():
            self.n += 1
            info = SimpleNamespace(info=SimpleNamespace(run_id=f"run{self.n}"))
            self.events.append(("start", run_name, nested))
            self.stack.append(run_name)
            try:
                yield info
            finally:
                self.stack.pop()
                self.events.append(("end", run_name))

        return run()

    def log_params(self, params):
        self.events.append(("params", self.stack[-1]))

    def log_metrics(self, metrics):
        self.events.append(("metrics", self.stack[-1], tuple(sorted(metrics))))

    def log_metric(self, key, value, step=None):
        self.events.append(("metric", self.stack[-1], key))

    def set_tag(self, key, value):
        self.events.append(("parent_tag", key, value))

    def log_artifact(self, path, artifact_path=None):
        self.events.append(("artifact", self.stack[-1], Path(path).name))


def test_mlflow_logs_each_row_when_it_finishes_not_at_the_end(tmp_path, monkeypatch):
    from cvtoolkit.methods.compare_job import CompareJob, run_compare_job

    fake = _FakeMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    folder = write_image_folder(tmp_path / "shapes", n_per_class=6, size=16)
    seen = []

    def on_row(row):  # called after the row is stored: its nested run must already be logged and ended
        name = row["method"]
        assert ("start", name, True) in fake.events and ("end", name) in fake.events, name
        assert any(e[0] == "metrics" and e[1] == name and "accuracy" in e[2] for e in fake.events)
        assert fake.stack == [f"compare {folder.name}"]               # the parent stays open meanwhile
        seen.append(name)

    job = CompareJob(dataset=str(folder), methods="raw+knn,hsv_hist+logreg", out=str(tmp_path / "out"),
                     quiet=True, no_cache=True, track="mlflow")
    outcome = run_compare_job(job, on_row=on_row)
    assert sorted(seen) == ["hsv_hist+logreg", "raw+knn"]
    assert outcome.tracking.startswith("logged MLflow run run1")
    ranks = sorted(e[3] for e in fake.events if e[0] == "tag" and e[2] == "rank")
    assert ranks == ["1", "2"]                                          # ranks added once every row finished
    assert fake.events[-1] == ("end", f"compare {folder.name}")


def test_resume_with_keep_reruns_a_row_whose_kept_model_is_gone(tmp_path, capsys):
    import shutil

    folder = write_image_folder(tmp_path / "shapes", n_per_class=6, size=16)
    out = tmp_path / "out"
    args = ["compare", "--dataset", str(folder), "--methods", "raw+knn,hsv_hist+logreg", "--out", str(out),
            "--quiet", "--no-cache", "--keep", "all"]
    assert main(args) == 0
    shutil.rmtree(out / "models" / "raw+knn")
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0
    text = capsys.readouterr().out
    assert [line.split()[0] for line in text.splitlines() if "(reused: --resume)" in line] == ["hsv_hist+logreg"]
    assert (out / "models" / "raw+knn" / "manifest.json").is_file()
    assert "kept model hsv_hist+logreg" in text or "kept best model hsv_hist+logreg" in text
