"""`cvtoolkit export`: each format loaded by its own runtime predicts what the pipeline predicts."""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest

pytest.importorskip("keras")

from cvtoolkit.cli import main  # noqa: E402
from cvtoolkit.export import ExportError, export_pipeline, preprocessing_path  # noqa: E402
from cvtoolkit.methods import make_method  # noqa: E402
from cvtoolkit.methods.artifact import load_pipeline, save_pipeline  # noqa: E402

from conftest import make_class_images  # noqa: E402


def _run_savedmodel(path, x):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)  # keep it alive while its function runs
    return np.asarray(loaded.serve(x))


def _run_tflite(path, x):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Interpreter = tf.lite.Interpreter
    interp = Interpreter(model_path=path)
    runner = interp.get_signature_runner("serving_default")
    (name,) = runner.get_input_details()
    return np.asarray(next(iter(runner(**{name: x}).values())))


def _run_onnx(path, x):
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


RUNTIMES = {"savedmodel": _run_savedmodel, "tflite": _run_tflite, "onnx": _run_onnx}


def _prepared(meta, pipeline, images):
    """What the preprocessing JSON says to feed: images at its size, float32, times its `scale`."""
    assert meta["input"]["dtype"] == "float32" and meta["input"]["layout"] == "NHWC"
    x = pipeline.prepare(images)
    assert list(x.shape[1:3]) == meta["input"]["size"]
    return x.astype(np.float32) * np.float32(meta["input"]["scale"])


@pytest.fixture(scope="module")
def cnn_pipeline(tmp_path_factory):
    images, labels, names = make_class_images(8, size=16)
    est = make_method("shallownet", cnn_options={"epochs": 1, "batch_size": 8, "verbose": 0}).fit(images, labels)
    path = tmp_path_factory.mktemp("models") / "shallow"
    save_pipeline(est, path, method="shallownet", class_names=names, image_size=16, channels=3)
    return path, images


@pytest.mark.parametrize("fmt", ["savedmodel", "tflite", "onnx"])
def test_cnn_export_matches_pipeline_probabilities(cnn_pipeline, tmp_path, fmt):
    model, images = cnn_pipeline
    pipeline = load_pipeline(model)
    out = tmp_path / f"shallow_{fmt}"
    result = export_pipeline(model, fmt, out)
    meta = json.loads(preprocessing_path(result.path).read_text())
    assert meta["class_names"] == ["circle", "square", "stripes"] and meta["input"]["size"] == [16, 16]
    assert meta["input"]["scale"] == pytest.approx(1 / 255)
    expected = pipeline.predict_proba(images)
    got = RUNTIMES[fmt](result.path, _prepared(meta, pipeline, images))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.slow
def test_backbone_logreg_pipeline_folds_into_one_network(tmp_path):
    images, labels, names = make_class_images(8, size=32)
    est = make_method("mobilenet+logreg", feature_options={"alpha": 0.25, "weights": None, "image_size": 32})
    est.fit(images, labels)
    model = tmp_path / "mobile"
    save_pipeline(est, model, method="mobilenet+logreg", class_names=names, image_size=32, channels=3)
    pipeline = load_pipeline(model)
    expected = pipeline.predict_proba(images)
    assert expected.std() > 1e-3  # not a constant answer the export could match by accident
    for fmt in ("onnx",):  # the CNN test covers every runtime; this one the folding
        result = export_pipeline(model, fmt, tmp_path / "exported" / "mobile")
        meta = json.loads(preprocessing_path(result.path).read_text())
        assert meta["input"]["scale"] == 1.0 and meta["input"]["size"] == [32, 32]
        got = RUNTIMES[fmt](result.path, _prepared(meta, pipeline, images))
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_binary_logreg_head_is_the_sigmoid_as_a_softmax():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from cvtoolkit.export import _linear_head

    rng = np.random.default_rng(0)
    X, y = rng.normal(3, 2, (40, 5)), rng.integers(0, 2, 40)
    clf = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    W, b, classes = _linear_head(clf, 5)
    z = X @ W + b
    proba = np.exp(z - z.max(1, keepdims=True))
    proba /= proba.sum(1, keepdims=True)
    np.testing.assert_allclose(proba, clf.predict_proba(X), atol=1e-5)


def test_classical_pipeline_says_what_can_and_cannot_be_exported(tmp_path, capsys):
    images, labels, names = make_class_images(4, size=16)
    model = tmp_path / "hog"
    save_pipeline(make_method("raw+knn").fit(images, labels), model, method="raw+knn", class_names=names,
                  image_size=16, channels=3)
    rc = main(["export", "--model", str(model), "--format", "onnx", "--out", str(tmp_path / "x.onnx")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "skl2onnx" in err and "descriptor" in err and "classifier on feature vectors" in err
    assert not (tmp_path / "x.onnx").exists()


def test_onnx_without_tf2onnx_names_the_extra(cnn_pipeline, tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_tf2onnx(name, *args, **kwargs):
        if name.split(".")[0] == "tf2onnx":
            raise ImportError("No module named 'tf2onnx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tf2onnx)
    model, _ = cnn_pipeline
    rc = main(["export", "--model", str(model), "--format", "onnx", "--out", str(tmp_path / "x.onnx")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install -e .[export]" in err
    with pytest.raises(ExportError):
        export_pipeline(model, "onnx", tmp_path / "y.onnx")


def test_unknown_format_and_missing_model(tmp_path):
    with pytest.raises(ExportError):
        export_pipeline(tmp_path, "coreml", tmp_path / "x")
    assert main(["export", "--model", str(tmp_path / "nothing"), "--format", "tflite",
                 "--out", str(tmp_path / "x.tflite")]) == 2


def test_export_is_listed_without_importing_tensorflow():
    import subprocess
    import sys

    code = ("import sys; from cvtoolkit.cli import build_parser; "
            "text = build_parser(['export'], full=False).format_help(); "
            "heavy = ('keras', 'tensorflow', 'tf2onnx', 'mlflow'); "
            "print('export' in text, sorted(m for m in heavy if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "True []", done.stdout + done.stderr
