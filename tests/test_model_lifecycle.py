"""One model lifecycle (issue 13): what `train` writes, `predict` and `evaluate` take; one CNN training path."""

from __future__ import annotations

import csv
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

pytest.importorskip("keras")
cv2 = pytest.importorskip("cv2")

from cvtoolkit.cli import main  # noqa: E402


@pytest.fixture
def folders(tmp_path):
    """A labelled two-class folder and an unlabelled test folder (numeric names)."""
    rng = np.random.default_rng(0)
    root, test = tmp_path / "pets", tmp_path / "test1"
    test.mkdir()
    for c, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for i in range(10):
            img = rng.integers(0, 80, (20, 18, 3), dtype=np.uint8)
            img[..., c] += 150
            cv2.imwrite(str(root / name / f"{i}.png"), img)
            if i < 2:
                cv2.imwrite(str(test / f"{2 * i + c + 1}.png"), img)
    return root, test


@pytest.mark.slow  # two trainings, TensorFlow
def test_train_writes_a_pipeline_folder_that_predict_and_evaluate_take(folders, tmp_path, capsys):
    root, test = folders
    model = tmp_path / "models" / "x"
    assert main(["train", "--dataset", str(root), "--model", "shallownet", "--epochs", "1", "--image-size", "16",
                 "--batch-size", "8", "--out", str(model), "--quiet"]) == 0
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["kind"] == "cnn" and manifest["method"] == "shallownet"
    assert manifest["class_names"] == ["cat", "dog"] and manifest["image_size"] == 16 and manifest["channels"] == 3
    assert 0.0 <= manifest["test"]["accuracy"] <= 1.0
    assert sorted(p.name for p in model.iterdir()) == ["manifest.json", "model.json", "model.keras"]
    for name in ("x.history.json", "x.history.csv", "x.history.png", "x.best.keras", "x.last.keras"):
        assert (model.parent / name).is_file(), name  # companions beside the folder
    capsys.readouterr()

    preds = tmp_path / "preds.csv"
    assert main(["predict", "--model", str(model), "--images", str(test), "--out", str(preds), "--quiet"]) == 0
    rows = list(csv.reader(preds.open()))
    assert rows[0][:4] == ["id", "predicted", "cat", "dog"] and len(rows) == 5
    from cvtoolkit.methods.artifact import load_pipeline

    loaded = load_pipeline(model)
    images = np.stack([cv2.imread(str(test / f"{i}.png"))[:, :, ::-1] for i in (1, 2, 3, 4)])
    np.testing.assert_allclose(loaded.predict_proba(images)[:, 1], [float(r[3]) for r in rows[1:]], rtol=1e-4,
                               atol=1e-5)

    report = tmp_path / "eval"
    assert main(["evaluate", "--model", str(model), "--dataset", str(root), "--out", str(report), "--grad-cam", "0",
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and (report / "report.html").is_file()
    assert json.loads((report / "report.json").read_text())["metrics"]["n_samples"] == 20

    # --resume continues the folder run from its companions and rewrites the folder.
    assert main(["train", "--dataset", str(root), "--model", "shallownet", "--epochs", "2", "--image-size", "16",
                 "--batch-size", "8", "--out", str(model), "--quiet", "--resume"]) == 0
    assert "resuming" in capsys.readouterr().out
    assert len(json.loads((model / "model.json").read_text())["history"]["loss"]) == 2


@pytest.mark.slow  # trains a CNN
def test_a_keras_file_is_wrapped_by_predict_and_evaluate(folders, tmp_path, capsys):
    root, test = folders
    out = tmp_path / "m.keras"
    assert main(["train", "--dataset", str(root), "--model", "shallownet", "--epochs", "1", "--image-size", "16",
                 "--batch-size", "8", "--test-size", "0", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(out), "--images", str(test), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "classes cat, dog" in printed and "predicted 4 image(s)" in printed
    from cvtoolkit.methods.artifact import load_pipeline

    wrapped = load_pipeline(out)
    assert wrapped.kind == "cnn" and wrapped.class_names == ["cat", "dog"] and wrapped.image_size == 16
    big = np.zeros((2, 40, 30, 3), np.uint8)  # resized to the sidecar's input size
    assert wrapped.predict_proba(big).shape == (2, 2)
    report = tmp_path / "eval"
    assert main(["evaluate", "--model", str(out), "--dataset", str(root), "--out", str(report), "--grad-cam", "1",
                 "--quiet"]) == 0
    assert (report / "errors.json").is_file()


def test_train_refuses_other_model_file_suffixes(tmp_path, capsys):
    assert main(["train", "--dataset", "digits", "--model", "shallownet", "--out", str(tmp_path / "m.h5")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pipeline folder" in err[0] and ".keras" in err[0]


@pytest.mark.slow  # a grid search, about 5 s here
def test_fit_search_fits_the_descriptor_once_and_saves_the_best_classifier(tmp_path, capsys, monkeypatch):
    from cvtoolkit.features.color import RawPixels

    calls = []
    original = RawPixels.fit
    monkeypatch.setattr(RawPixels, "fit", lambda self, X, y=None: calls.append(len(X)) or original(self, X, y))
    out = tmp_path / "digits-logreg"
    assert main(["fit", "--dataset", "digits", "--method", "raw+logreg", "--search", "grid", "--out", str(out),
                 "--quiet", "--n-jobs", "1"]) == 0
    assert "search chose" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["best_params"] and manifest["validation"]["accuracy"] > 0.8
    assert len(calls) == 1  # the search ran on described features, not the whole pipeline per candidate
    from cvtoolkit.methods.artifact import load_pipeline

    best = {k.split("__", 1)[1]: v for k, v in manifest["best_params"].items()}
    clf = load_pipeline(out).estimator.named_steps["classifier"].named_steps["clf"]
    assert all(getattr(clf, k) == v for k, v in best.items())
