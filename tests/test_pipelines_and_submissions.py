"""Saved pipelines (`fit`/`predict`) and Kaggle submission files."""

import csv
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from cvtoolkit.cli import main
from cvtoolkit.errors import ModelError
from cvtoolkit.kaggle import submission_rows, write_submission
from cvtoolkit.kaggle.submission import SubmissionError
from cvtoolkit.methods import make_method
from cvtoolkit.methods.artifact import load_pipeline, save_pipeline

from conftest import make_class_images


def test_submission_formats(tmp_path):
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.5, 0.5]])
    names = ["cat", "dog"]
    assert submission_rows([1, 2, 3], proba, names, fmt="label")[1:] == [["1", "cat"], ["2", "dog"], ["3", "cat"]]
    rows = submission_rows([1, 2, 3], proba, names, fmt="binary-proba", positive="dog", clip=0.2)
    assert rows[0] == ["id", "label"] and [float(r[1]) for r in rows[1:]] == [0.2, 0.7, 0.5]
    assert submission_rows([1, 2, 3], proba, names, fmt="proba")[0] == ["id", "cat", "dog"]
    digits = submission_rows([1, 2], np.eye(10)[[3, 7]], [str(i) for i in range(10)], fmt="digit-recognizer")
    assert digits == [["ImageId", "Label"], ["1", "3"], ["2", "7"]]
    with pytest.raises(SubmissionError, match="duplicate"):
        submission_rows([1, 1, 2], proba, names)
    with pytest.raises(SubmissionError, match="match"):
        submission_rows([1, 2], proba, names)
    with pytest.raises(SubmissionError, match="--positive"):
        submission_rows([1, 2, 3], proba, names, fmt="binary-proba", positive="cow")
    with pytest.raises(SubmissionError, match="missing"):
        write_submission(tmp_path / "s.csv", [1, 2, 4], proba, names, expected_ids=[1, 2, 3])
    assert not (tmp_path / "s.csv").exists()
    assert write_submission(tmp_path / "s.csv", [1, 2, 3], proba, names) == 3


def test_saved_pipeline_round_trip_and_errors(tmp_path):
    X, y, names = make_class_images(6, size=16)
    est = make_method("raw+logreg").fit(X, y)
    path = save_pipeline(est, tmp_path / "m", method="raw+logreg", class_names=names, image_size=16, channels=3)
    loaded = load_pipeline(path)
    np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X))
    # different size and grey input are brought to what the pipeline was fitted on
    big = np.stack([cv2.resize(im, (40, 40)) for im in X])
    assert loaded.predict_proba(big).shape == (len(X), 3)
    assert loaded.predict_proba(X[..., :1]).shape == (len(X), 3)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["method"] == "raw+logreg" and manifest["class_names"] == names and manifest["image_size"] == 16
    manifest["cvtoolkit_version"] = "99.0.0"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="99.0.0"):
        load_pipeline(path)
    with pytest.raises(ModelError, match="not a saved pipeline"):
        load_pipeline(tmp_path)


def test_stored_feature_pipeline_rejects_wrong_width(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 6)).astype(np.float32)
    y = np.arange(20) % 2
    from cvtoolkit.classifiers import make_classifier

    clf = make_classifier("logreg").fit(X, y)
    path = save_pipeline(clf, tmp_path / "f", method="toy+logreg", class_names=["a", "b"], image_size=None,
                         channels=None, kind="stored")
    loaded = load_pipeline(path)
    assert loaded.predict_proba(X).shape == (20, 2)
    with pytest.raises(ModelError, match="width 6"):
        loaded.predict_proba(X[:, :4])


def _write_dvc_like(root, n=6):
    train, test = root / "train", root / "test1"
    train.mkdir(parents=True)
    test.mkdir()
    X, y, _ = make_class_images(n, classes=("cat", "dog"), size=24)
    for i, (img, lab) in enumerate(zip(X, y)):
        cv2.imwrite(str(train / f"{['cat', 'dog'][lab]}.{i}.png"), img[:, :, ::-1])
    for i in range(1, 11):
        cv2.imwrite(str(test / f"{i}.png"), X[i % len(X)][:, :, ::-1])
    return train, test


@pytest.mark.parametrize("method", ["hog+linear_svm",
                                    pytest.param("minivggnet", marks=pytest.mark.slow)])  # subprocess TensorFlow
def test_fit_then_predict_in_a_fresh_process(tmp_path, method):
    train, test = _write_dvc_like(tmp_path, n=8)
    model = tmp_path / "models" / "m"
    args = ["fit", "--dataset", str(train), "--label-pattern", r"^(cat|dog)\.", "--method", method,
            "--image-size", "16", "--val-size", "0.25", "--out", str(model), "--quiet"]
    if method == "minivggnet":
        args += ["--epochs", "1", "--batch-size", "8"]
    assert main(args) == 0
    sub = tmp_path / "sub.csv"
    assert main(["predict", "--model", str(model), "--images", str(test), "--submission", str(sub),
                 "--format", "binary-proba", "--positive", "dog", "--quiet", "--out", str(tmp_path / "all.csv")]) == 0
    rows = list(csv.reader(sub.open()))
    assert rows[0] == ["id", "label"] and [int(r[0]) for r in rows[1:]] == list(range(1, 11))
    # the same probabilities after a reload in a fresh process
    code = (
        "import sys, numpy as np; from cvtoolkit.methods.artifact import load_pipeline;"
        "from cvtoolkit.commands.predict import load_inputs;"
        f"p = load_pipeline({str(model)!r}); ims, ids, kept, sk = load_inputs({str(test)!r}, progress=False);"
        "np.save(sys.argv[1], p.predict_proba(ims))"
    )
    out = tmp_path / "fresh.npy"
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, capture_output=True)
    fresh = np.load(out)
    written = np.array([float(r[1]) for r in rows[1:]])
    np.testing.assert_allclose(fresh[:, 1], written, rtol=1e-5, atol=1e-6)


def test_predict_errors_are_one_line(tmp_path, capsys):
    rc = main(["predict", "--model", str(tmp_path / "nope"), "--images", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "not a saved pipeline" in err[0]
