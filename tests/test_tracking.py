"""MLflow tracking (--track), TensorBoard and CSV training logs, read back with the tools' own readers."""

from __future__ import annotations

import csv
import json
import math
import sys

import numpy as np
import pytest

from cvtoolkit.cli import main

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(autouse=True)
def _offline_mlflow(monkeypatch, tmp_path):
    """No telemetry, no URI or experiment from the environment, MLflow's global URI reset after each test.

    MLflow puts artifacts in ./mlruns of the working folder: the test's own folder, not the repository.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(var, raising=False)
    yield
    if mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def _runs(uri: str):
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["cvtoolkit"], output_format="list")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def test_parse_track_and_bad_values():
    from cvtoolkit.tracking import TrackingError, parse_track

    assert parse_track("mlflow") == "mlflow"
    assert parse_track("MLflow:sqlite:///a.db") == "MLflow:sqlite:///a.db"
    for bad in ("wandb", "mlflow:", "tensorboard:/tmp"):
        with pytest.raises(TrackingError):
            parse_track(bad)


def test_finite_metrics_takes_every_finite_number_and_nothing_else():
    from cvtoolkit.tracking import finite_metrics

    row = {"method": "raw+knn", "accuracy": 0.9, "accuracy_ci_low": 0.8, "accuracy_ci_high": 0.95,
           "balanced_accuracy": np.float64(0.85), "log_loss": float("nan"), "roc_auc": float("inf"),
           "features_cached": True, "feature_dim": np.int64(64), "error": "x", "best_params": {"C": 1}}
    assert finite_metrics(row) == {"accuracy": 0.9, "accuracy_ci_low": 0.8, "accuracy_ci_high": 0.95,
                                   "balanced_accuracy": 0.85, "feature_dim": 64.0}


@pytest.mark.slow
def test_compare_track_logs_parent_and_one_nested_run_per_row(image_folder, tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "run"
    rc = main(["compare", "--dataset", str(image_folder), "--image-size", "16", "--methods", "raw+knn,raw+logreg",
               "--out", str(out), "--no-cache", "--quiet", "--n-jobs", "1", "--track", f"mlflow:{uri}"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "logged MLflow run" in printed and uri in printed
    parents, children = _runs(uri)
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert parent.data.params["seed"] == "42" and "stratified" in parent.data.params["split"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id)}
    assert {"report.html", "report.md", "leaderboard.json", "leaderboard.csv"} <= artifacts
    board = {row["method"]: row for row in json.loads((out / "leaderboard.json").read_text())["rows"]}
    for child in children:
        name = child.data.tags["mlflow.runName"]
        row = board[name]
        assert child.data.params["method"] == name and child.data.params["features"] == "raw"
        # every finite numeric leaderboard field is a metric, with the leaderboard's value
        numeric = {k: v for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                   and math.isfinite(v)}
        assert {"accuracy", "f1_macro", "fit_seconds", "predict_ms_per_image"} <= set(numeric)
        assert set(numeric) <= set(child.data.metrics)
        for key, value in numeric.items():
            assert child.data.metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        child_files = {a.path for a in mlflow.MlflowClient().list_artifacts(child.info.run_id)}
        assert any(p.startswith("confusion_") and p.endswith(".png") for p in child_files)
    logreg = next(c for c in children if c.data.tags["mlflow.runName"] == "raw+logreg")
    assert logreg.data.params["classifier.clf.C"] == "1.0"


def test_track_without_mlflow_is_one_line_naming_the_extra(image_folder, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    rc = main(["compare", "--dataset", str(image_folder), "--methods", "raw+knn", "--quiet", "--track", "mlflow"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install -e .[mlflow]" in err and "Traceback" not in err


@pytest.mark.slow
def test_track_default_store_is_mlflows_own_in_the_working_folder(image_folder, tmp_path):
    mlflow.set_tracking_uri(None)
    default = mlflow.get_tracking_uri()  # MLflow's own default for this folder
    rc = main(["compare", "--dataset", str(image_folder), "--image-size", "16", "--methods", "raw+knn",
               "--out", str(tmp_path / "run"), "--no-cache", "--quiet", "--n-jobs", "1", "--track", "mlflow"])
    assert rc == 0
    assert mlflow.get_tracking_uri() == default
    parents, children = _runs(default)
    assert len(parents) == 1 and len(children) == 1
    if default.startswith("sqlite:"):
        assert (tmp_path / "mlflow.db").is_file()


@pytest.mark.slow
def test_train_tensorboard_csv_and_mlflow_per_epoch(image_folder, tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "models" / "shallow.keras"
    tb = tmp_path / "tb"
    rc = main(["train", "--dataset", str(image_folder), "--model", "shallownet", "--epochs", "2", "--image-size", "16",
               "--batch-size", "8", "--val-size", "0.2", "--out", str(out), "--quiet", "--tensorboard", str(tb),
               "--track", f"mlflow:{uri}"])
    assert rc == 0
    # Keras's CSVLogger: one row per epoch beside the JSON history
    with open(out.with_name("shallow.history.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    history = json.loads(out.with_name("shallow.history.json").read_text())
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert [float(r["loss"]) for r in rows] == pytest.approx(history["loss"], rel=1e-5)
    # Keras's TensorBoard callback: scalars TensorBoard's own reader finds
    acc = EventAccumulator(str(tb / "train"))
    acc.Reload()
    tags = acc.Tags()["scalars"] + acc.Tags().get("tensors", [])
    assert "epoch_loss" in tags
    try:
        events = acc.Scalars("epoch_loss")
        values = [e.value for e in events]
    except KeyError:  # TF2 summaries are stored as tensors
        events = acc.Tensors("epoch_loss")
        values = [float(np.asarray(__import__("tensorboard").util.tensor_util.make_ndarray(e.tensor_proto)))
                  for e in events]
    assert [e.step for e in events] == [0, 1]
    assert values == pytest.approx(history["loss"], rel=1e-5)
    # MLflow: per-epoch metrics logged live by mlflow.keras.MlflowCallback, plus the files and test metrics
    parents, _ = _runs(uri)
    assert len(parents) == 1
    run = parents[0]
    losses = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert sorted(m.step for m in losses) == [0, 1]
    assert sorted(m.value for m in losses) == pytest.approx(sorted(history["loss"]), rel=1e-5)
    assert "test_accuracy" in run.data.metrics and run.data.params["model"] == "shallownet"
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"shallow.keras", "shallow.history.csv"} <= files


@pytest.mark.slow
def test_compare_cnn_row_writes_history_csv_tensorboard_and_epoch_metrics(image_folder, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out, tb = tmp_path / "run", tmp_path / "tb"
    rc = main(["compare", "--dataset", str(image_folder), "--image-size", "16", "--methods", "shallownet",
               "--epochs", "2", "--batch-size", "8", "--out", str(out), "--quiet", "--tensorboard", str(tb),
               "--track", f"mlflow:{uri}"])
    assert rc == 0
    with open(out / "logs" / "shallownet" / "history.csv", newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1]
    acc = EventAccumulator(str(tb / "shallownet" / "train"))
    acc.Reload()
    assert "epoch_loss" in acc.Tags()["scalars"] + acc.Tags().get("tensors", [])
    _, children = _runs(uri)
    (child,) = children
    history = mlflow.MlflowClient().get_metric_history(child.info.run_id, "epoch_loss")
    assert sorted(m.step for m in history) == [0, 1]
    assert child.data.params["cnn.epochs"] == "2"


@pytest.mark.slow
def test_fit_track_logs_manifest_params_validation_metrics_and_pipeline(image_folder, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    model = tmp_path / "models" / "knn"
    rc = main(["fit", "--dataset", str(image_folder), "--image-size", "16", "--method", "raw+knn", "--out", str(model),
               "--quiet", "--n-jobs", "1", "--track", f"mlflow:{uri}"])
    assert rc == 0
    parents, _ = _runs(uri)
    (run,) = parents
    manifest = json.loads((model / "manifest.json").read_text())
    assert run.data.params["method"] == "raw+knn" and run.data.params["seed"] == "42"
    assert run.data.metrics["validation_accuracy"] == pytest.approx(manifest["validation"]["accuracy"])
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "pipeline")}
    assert "pipeline/manifest.json" in files
