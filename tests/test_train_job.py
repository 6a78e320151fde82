"""Issue 21, item 2: one training job (``TrainJob`` at the workflow floor) and one CNN training path.

``cvtoolkit train``'s behaviour is covered by tests/test_train_command.py and
tests/test_train_resume_kill.py; here: the job object, its steps, the floors
it imports from, and ``+finetune`` rows fitted through
``KerasImageClassifier.build_trainer``/``fit_data`` with logs and TensorBoard.
"""

from __future__ import annotations

import argparse
import ast
import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import cvtoolkit

PACKAGE = Path(cvtoolkit.__file__).parent


# --------------------------------------------------------------------------- floors
def _cvtoolkit_imports(folder: Path) -> dict[str, set[str]]:
    """``file -> cvtoolkit modules it imports`` (module level and inside functions)."""
    found = {}
    for path in folder.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.update(f"{node.module}.{a.name}" for a in node.names)
        found[str(path.relative_to(PACKAGE.parent))] = {n for n in names if n.startswith("cvtoolkit.")}
    return found


def test_train_package_imports_nothing_from_the_workflow_floors_above():
    above = ("cvtoolkit.methods", "cvtoolkit.evaluate", "cvtoolkit.tracking", "cvtoolkit.audit",
             "cvtoolkit.commands", "cvtoolkit.cli")
    upward = {path: sorted(n for n in names if n.startswith(above))
              for path, names in _cvtoolkit_imports(PACKAGE / "train").items()}
    assert {path: names for path, names in upward.items() if names} == {}


def test_train_workflow_has_no_simplenamespace_and_no_long_functions():
    for rel in ("train/workflow.py", "methods/train_job.py"):
        tree = ast.parse((PACKAGE / rel).read_text(encoding="utf-8"))
        assert "SimpleNamespace" not in ast.dump(tree), rel
        long = {node.name: node.end_lineno - node.lineno + 1 for node in ast.walk(tree)
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and node.end_lineno - node.lineno + 1 > 80}
        assert long == {}, rel
        many = {node.name: len(node.args.args) + len(node.args.kwonlyargs) for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef) and len(node.args.args) + len(node.args.kwonlyargs) > 10}
        assert many == {}, rel


# --------------------------------------------------------------------------- the job object
def test_train_job_is_frozen_and_built_from_the_command_flags():
    from cvtoolkit.cli import build_parser
    from cvtoolkit.commands._common import max_pixels_from_args
    from cvtoolkit.methods.train_job import TrainJob

    args = build_parser(["train"]).parse_args(["train", "--dataset", "digits", "--model", "shallownet",
                                               "--epochs", "3", "--lr", "0.01", "--max-pixels", "0"])
    job = TrainJob.from_args(args, max_pixels=max_pixels_from_args(args))  # as the command builds it
    assert (job.dataset, job.model, job.epochs, job.lr, job.max_pixels) == ("digits", "shallownet", 3, 0.01, None)
    assert job.out_path() == Path("models/shallownet") and job.n_epochs() == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.epochs = 4
    # every flag of the command is a field of the job (nothing dropped on the way)
    flags = {a.dest for a in build_parser(["train"])._subparsers._group_actions[0].choices["train"]._actions
             if a.dest != "help"}
    assert flags <= {f.name for f in dataclasses.fields(TrainJob)}
    assert TrainJob(dataset="digits", model="minivggnet").n_epochs() == 30  # the network's recommended count


def test_train_job_refuses_bad_settings_before_any_work(tmp_path):
    from cvtoolkit.errors import CvToolkitError
    from cvtoolkit.methods.train_job import TrainJob

    with pytest.raises(CvToolkitError, match="--epochs must be at least 1"):
        TrainJob(dataset="digits", model="shallownet", epochs=0)
    with pytest.raises(CvToolkitError, match="--batch-size must be at least 1"):
        TrainJob.from_args(argparse.Namespace(dataset="digits", model="shallownet", batch_size=0))
    with pytest.raises(CvToolkitError, match=r"\.keras"):
        TrainJob(dataset="digits", model="shallownet", out=str(tmp_path / "m.h5")).out_path()


def test_split_step_gives_disjoint_stratified_parts():
    from cvtoolkit.methods.train_job import split_indices

    labels = np.repeat([0, 1, 2], 20)
    parts = split_indices(labels, test_size=0.25, val_size=0.2, seed=3, class_names=["a", "b", "c"])
    together = np.concatenate([parts.fit, parts.val, parts.test])
    assert sorted(together.tolist()) == list(range(60))
    assert len(parts.test) == 15 and len(parts.val) == 9
    assert np.bincount(labels[parts.test]).tolist() == [5, 5, 5]
    none = split_indices(labels, test_size=0, val_size=0, seed=3, class_names=["a", "b", "c"])
    assert none.test is None and none.val is None and len(none.fit) == 60


@pytest.mark.slow  # > 3 s: trains a CNN for one epoch
def test_run_train_job_on_digits_writes_the_pipeline(tmp_path):
    from cvtoolkit.methods.artifact import load_pipeline
    from cvtoolkit.methods.train_job import TrainJob, run_train_job

    lines = []
    job = TrainJob(dataset="digits", model="shallownet", out=str(tmp_path / "m"), epochs=1, val_size=0.1,
                   test_size=0.2, quiet=True, tensorboard=str(tmp_path / "tb"))
    result = run_train_job(job, echo=lines.append)
    assert result.report is not None and result.report.metrics["accuracy"] > 0.2
    assert any(line.startswith("split: ") for line in lines) and any(line.startswith("saved ") for line in lines)
    split = next(line for line in lines if line.startswith("split: "))
    n_fit, n_val, n_test = (int(word) for word in split.replace(",", " ").split() if word.isdigit())
    assert n_fit + n_val + n_test == 1797 and n_val > 0 and n_test > 0
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert json.dumps(manifest).count(f'"train_samples": {n_fit}') == 1
    assert load_pipeline(tmp_path / "m").predict_proba(np.zeros((2, 8, 8, 1), np.uint8)).shape == (2, 10)
    assert (tmp_path / "m.history.csv").is_file() and list((tmp_path / "tb").rglob("events.out.tfevents.*"))


# --------------------------------------------------------------------------- +finetune through the one path
@pytest.mark.slow  # > 3 s: builds a (tiny) MobileNet and trains two phases
def test_finetune_rows_fit_through_build_trainer_and_fit_data_with_logs(tmp_path, monkeypatch):
    from cvtoolkit.train import KerasImageClassifier
    from cvtoolkit.transfer.finetune import FineTuneClassifier

    calls = []
    original = KerasImageClassifier.fit_data

    def spy(self, *args, **kwargs):
        calls.append((kwargs.get("initial_epoch"), self.epochs, self.learning_rate))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(KerasImageClassifier, "fit_data", spy)
    X = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    clf = FineTuneClassifier("mobilenet", alpha=0.25, weights=None, image_size=32, warmup_epochs=1, epochs=2,
                             batch_size=4, verbose=0, log_dir=str(tmp_path / "logs"),
                             tensorboard_dir=str(tmp_path / "tb"))
    clf.fit(X, [0, 1] * 4)
    assert calls == [(0, 1, 1e-2), (1, 3, 5e-4)]  # the two phases: warm-up, then epochs 2..3 at finetune_lr
    assert len(clf.history_["loss"]) == 3
    with open(tmp_path / "logs" / "mobilenet+finetune" / "history.csv", newline="") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1", "2"]
    assert list((tmp_path / "tb" / "mobilenet+finetune").rglob("events.out.tfevents.*"))


def test_compare_passes_log_options_to_finetune_rows():
    from cvtoolkit.methods import make_method

    est = make_method("mobilenet+finetune", cnn_options={"epochs": 1, "log_dir": "runs/x/logs",
                                                         "tensorboard_dir": "tb"})
    assert (est.log_dir, est.tensorboard_dir, est.epochs) == ("runs/x/logs", "tb", 1)
