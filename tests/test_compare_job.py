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


def test_cnn_row_options_weight_classes_under_balanced_accuracy_and_hold_out_a_validation_split():
    import numpy as np

    from cvtoolkit.methods.compare_job import cnn_row_options

    options, note = cnn_row_options(np.repeat([0, 1], [80, 30]), "balanced_accuracy")
    assert options == {"class_weight": "auto", "validation_fraction": 0.1, "early_stopping": 5}
    assert "balanced class weights" in note and "hold out 10%" in note
    options, note = cnn_row_options(np.repeat([0, 1], [80, 10]), "accuracy")
    assert options == {} and "no validation split" in note


@pytest.mark.slow
def test_cnn_rows_of_an_imbalanced_compare_get_class_weights_and_a_validation_curve(tmp_path, monkeypatch):
    from tests.conftest import write_image_folder

    data = write_image_folder(tmp_path / "shapes", n_per_class=40, size=16, classes=("circle", "square"))
    for extra in sorted((data / "square").iterdir())[:20]:
        extra.unlink()
    for i, src in enumerate(sorted((data / "circle").iterdir())[:20]):  # 60 circles against 20 squares: 3:1
        (data / "circle" / f"copy{i}.png").write_bytes(src.read_bytes())
    seen = {}
    from cvtoolkit.train import estimator

    original = estimator.KerasImageClassifier.fit

    def spy(self, X, y, **kw):
        seen.update(self.get_params())
        return original(self, X, y, **kw)

    monkeypatch.setattr(estimator.KerasImageClassifier, "fit", spy)
    said = []
    outcome = run_compare_job(_job(["--dataset", str(data), "--methods", "raw+logreg,shallownet", "--epochs", "3",
                                    "--quiet", "--no-cache", "--out", str(tmp_path / "run")], max_pixels=None),
                              say=said.append)
    assert outcome.result.sort_metric == "balanced_accuracy"
    assert seen["class_weight"] == "auto"
    assert any(line.startswith("CNN rows: balanced class weights") for line in said)
    history = outcome.result.histories["shallownet"]
    assert len(history["val_loss"]) == len(history["val_accuracy"]) == 3


def test_finetune_rows_take_compares_class_weights():
    import numpy as np

    from cvtoolkit.methods.build import make_method

    est = make_method("mobilenet+finetune", cnn_options={"class_weight": "auto", "validation_fraction": 0.1,
                                                           "early_stopping": 5})
    assert est.class_weight == "auto"
    weights = est._class_weights(np.array(["cat", "dog"]), np.array([0, 0, 0, 1]))
    assert weights == pytest.approx({0: 4 / (2 * 3), 1: 4 / (2 * 1)})
    assert make_method("mobilenet+finetune")._class_weights(np.array([0, 1]), np.array([0, 0, 1])) is None


@pytest.mark.slow
def test_finetune_rows_hold_out_a_validation_split_and_keep_the_best_epoch():
    import numpy as np

    from cvtoolkit.methods.build import make_method

    est = make_method("mobilenet+finetune",
                      feature_options={"alpha": 0.25, "weights": None},
                      cnn_options={"validation_fraction": 0.25, "early_stopping": 1, "epochs": 3, "batch_size": 8,
                                   "verbose": 0, "image_size": 32, "augment": False})
    assert est.validation_fraction == 0.25 and est.early_stopping == 1
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8)
    est.set_params(warmup_epochs=1, image_size=32)
    est.fit(X, np.arange(24) % 2)
    assert "val_loss" in est.history_ and len(est.history_["val_loss"]) >= 2  # both phases validated
    finetune_losses = est.history_["val_loss"][1:]
    assert est.best_epoch_ == 1 + int(np.argmin(finetune_losses)) + 1
    assert est.predict_proba(X).shape == (24, 2)
