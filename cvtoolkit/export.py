"""Export a saved CNN or backbone pipeline to SavedModel, TFLite or ONNX, with its preprocessing as JSON.

The network is exported with Keras's own ``model.export`` (``tf_saved_model``;
``litert``, which runs the TFLite converter; ``onnx``, which runs tf2onnx),
so the files are what those tools make for any Keras model. Beside the file
(``<out>.preprocessing.json``, e.g. ``vgg.onnx.preprocessing.json``) goes what a caller must do before and after:
input size, channels, scaling, layout, and the class name of each output
column.

What can be exported:

- CNN pipelines (``cvtoolkit fit --method minivggnet``) and ``.keras`` files
  from ``cvtoolkit train``: the network; its input is ``float32`` NHWC
  scaled to ``[0, 1]`` (pixels / 255).
- Backbone pipelines with a logistic-regression head (``mobilenet+logreg``):
  one network made of the backbone (its own preprocessing inside), the
  mirror average of ``flip_average``, the standardisation and the logistic
  regression folded into one softmax ``Dense`` layer; its input is
  ``float32`` pixels in ``0..255``.
- Not classical pipelines: their descriptors (HOG, LBP, SIFT, ...) are Python
  and OpenCV code that none of the formats can hold. The classifier on
  feature vectors can go to ONNX with skl2onnx (:data:`CLASSICAL_HINT`).

The converters are the optional ``[export]`` extra (tf2onnx, onnxruntime);
SavedModel and TFLite need only TensorFlow.

Examples
--------
Not run as a doctest (it needs a trained model folder)::

    export_pipeline("models/pets-vgg", "onnx", "exported/pets.onnx")
    # ExportResult(path='exported/pets.onnx', preprocessing='exported/pets.onnx.preprocessing.json', ...)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cvtoolkit.errors import ExportError  # noqa: F401  (defined in cvtoolkit.errors; importable here as before)

logger = logging.getLogger(__name__)

FORMATS = {"savedmodel": "tf_saved_model", "tflite": "litert", "onnx": "onnx"}
"""``--format`` name -> Keras ``model.export`` format."""

SUFFIXES = {"savedmodel": "", "tflite": ".tflite", "onnx": ".onnx"}

EXPORT_INSTALL = "pip install 'cvtoolkit[export]' (in a checkout: pip install -e .[export])"
"""How to get the converters, quoted when one is missing."""

CLASSICAL_HINT = (
    "what can be exported is the classifier on feature vectors, to ONNX with skl2onnx "
    "(pip install skl2onnx; skl2onnx.to_onnx(load_pipeline(DIR).estimator.named_steps['classifier'], "
    "features[:1])), with the features still computed in Python by cvtoolkit"
)


@dataclass
class ExportResult:
    """What :func:`export_pipeline` wrote."""

    path: str
    preprocessing: str
    format: str
    input_shape: tuple
    class_names: list


@dataclass
class ExportableModel:
    """A Keras network that maps prepared images to class probabilities, and how to prepare them."""

    network: Any
    input_shape: tuple  # (H, W, C)
    scale: float
    class_names: list
    method: str
    source: str
    notes: str = ""


def preprocessing_path(out: str | os.PathLike) -> Path:
    """The JSON written beside an export: its full name + ``.preprocessing.json``.

    Examples
    --------
    >>> preprocessing_path("exported/vgg.onnx").name, preprocessing_path("exported/vgg_savedmodel").name
    ('vgg.onnx.preprocessing.json', 'vgg_savedmodel.preprocessing.json')
    """
    out = Path(out)
    return out.with_name(f"{out.name}.preprocessing.json")


def _cnn_model(estimator, class_names: list, method: str, source: str) -> ExportableModel:
    classes = np.asarray(getattr(estimator, "classes_", np.arange(len(class_names))))
    names = [class_names[int(c)] if np.issubdtype(classes.dtype, np.integer) and int(c) < len(class_names)
             else str(c) for c in classes]
    shape = tuple(int(d) for d in estimator.input_shape_)
    return ExportableModel(estimator.model_, shape, 1.0 / 255.0, names, method, source)


def _linear_head(classifier, n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W, b, classes)`` with ``proba = softmax(x @ W + b)``: a StandardScaler + LogisticRegression folded.

    Raises
    ------
    ExportError
        Any other classifier.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    steps = [s for _, s in getattr(classifier, "steps", [("clf", classifier)]) if s not in (None, "passthrough")]
    *scalers, model = steps
    if not isinstance(model, LogisticRegression) or any(not isinstance(s, StandardScaler) for s in scalers):
        raise ExportError(
            f"the classifier ({' + '.join(type(s).__name__ for s in steps)}) is not a logistic regression: only "
            "<backbone>+logreg folds into one network; refit with --method <backbone>+logreg, or "
            + CLASSICAL_HINT.replace("feature vectors", "backbone features")
        )
    if getattr(model, "solver", "lbfgs") == "liblinear" and len(model.classes_) > 2:
        raise ExportError("a one-vs-rest (liblinear) logistic regression is not a softmax; refit with solver lbfgs")
    W = np.asarray(model.coef_, np.float64).T  # (D, K) or (D, 1)
    b = np.asarray(model.intercept_, np.float64)
    for scaler in reversed(scalers):  # x_scaled = (x - mean) / scale
        mean = np.zeros(n_features) if scaler.mean_ is None else scaler.mean_
        scale = np.ones(n_features) if scaler.scale_ is None else scaler.scale_
        W = W / scale[:, None]
        b = b - mean @ W
    if W.shape[1] == 1:  # binary: sigmoid(z) = softmax([0, z])[1]
        W = np.concatenate([np.zeros_like(W), W], axis=1)
        b = np.concatenate([np.zeros(1), b])
    return W.astype(np.float32), b.astype(np.float32), np.asarray(model.classes_)


def _backbone_model(estimator, class_names: list, method: str, source: str) -> ExportableModel:
    import keras

    features = estimator.named_steps["features"]
    backbone = features._model()
    W, b, classes = _linear_head(estimator.named_steps["classifier"], int(features.n_features_out_))
    h, w = features.image_size_
    inputs = keras.Input((h, w, 3), name="pixels")
    x = backbone(inputs)
    if features.flip_average:
        x = (x + backbone(keras.ops.flip(inputs, axis=2))) * 0.5
    head = keras.layers.Dense(W.shape[1], activation="softmax", name="logreg")
    outputs = head(keras.layers.Flatten()(x))
    head.set_weights([W, b])
    network = keras.Model(inputs, outputs, name=f"{method.replace('+', '_')}_export")
    names = [class_names[int(c)] for c in classes]
    notes = ("images resized to the input size as by cv2.resize (INTER_AREA when shrinking, else INTER_LINEAR); "
             "the backbone's own preprocessing is inside the network")
    return ExportableModel(network, (h, w, 3), 1.0, names, method, source, notes)


def exportable_model(path: str | os.PathLike) -> ExportableModel:
    """The network and preprocessing of a pipeline folder (``fit``) or a ``.keras`` file (``train``).

    Raises
    ------
    ExportError
        A classical or stored-features pipeline, or a backbone pipeline whose
        classifier is not a logistic regression; the message says what can be
        exported instead.
    ModelError
        Not a saved pipeline or model.
    """
    path = Path(path)
    if path.suffix == ".keras":
        from cvtoolkit.train import KerasImageClassifier

        clf = KerasImageClassifier.load(path)
        names = getattr(clf, "class_names_", None) or [str(c) for c in clf.classes_]
        return _cnn_model(clf, list(names), clf._model_name(), str(path))
    from cvtoolkit.methods.artifact import load_pipeline, read_manifest

    manifest = read_manifest(path)
    kind, method = manifest.get("kind"), manifest.get("method", "?")
    if kind == "cnn":
        pipeline = load_pipeline(path)
        return _cnn_model(pipeline.estimator, pipeline.class_names, method, str(path))
    features = manifest.get("features")
    try:
        from cvtoolkit.transfer.backbones import BACKBONES

        is_backbone = kind == "classical" and features in BACKBONES
    except ImportError:
        is_backbone = False
    if not is_backbone:
        what = ("is a classifier on stored features, made outside the pipeline" if kind == "stored" else
                f"is a classical pipeline: its {features!r} descriptor is Python code, which SavedModel, TFLite "
                "and ONNX cannot hold")
        raise ExportError(f"{path}: {method} {what}; {CLASSICAL_HINT}")
    pipeline = load_pipeline(path)
    return _backbone_model(pipeline.estimator, pipeline.class_names, method, str(path))


def _check_converters(fmt: str) -> None:
    if fmt == "onnx":
        for module in ("tf2onnx", "onnx"):
            try:
                __import__(module)
            except ImportError as err:
                raise ExportError(
                    f"--format onnx needs {module}, which is not installed ({err}); {EXPORT_INSTALL}"
                ) from None


def _export(network: Any, fmt: str, input_shape: tuple, target: Path) -> None:
    import keras

    spec = [keras.InputSpec(shape=(None, *input_shape), dtype="float32")]
    network.export(str(target), format=FORMATS[fmt], input_signature=spec, verbose=False)


def _onnx_io(path: Path) -> dict:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return {"input_name": graph.input[0].name, "output_name": graph.output[0].name}


SAVEDMODEL_ENTRIES = frozenset({"saved_model.pb", "saved_model.pbtxt", "variables", "assets", "fingerprint.pb",
                                 "keras_metadata.pb"})
"""What a SavedModel folder holds: an existing ``--out`` folder with anything else is not an export."""


def _read_preprocessing(target: Path) -> dict | None:
    try:
        meta = json.loads(preprocessing_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _is_preprocessing_json(path: Path) -> bool:
    """A ``.preprocessing.json`` this module wrote (``exported_from`` and ``model_file`` in it)."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "exported_from" in meta and "model_file" in meta


def is_export(target: Path) -> bool:
    """Whether ``target`` is an export :func:`export_pipeline` wrote (or an empty folder).

    A ``.tflite``/``.onnx`` file or a SavedModel folder counts only with its
    preprocessing JSON beside it naming it, and a folder only when it holds
    nothing but SavedModel's own entries: ``export`` replaces nothing else
    without ``--overwrite``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> is_export(folder)
    True
    >>> _ = (folder / "thesis.tex").write_text("precious")
    >>> is_export(folder)
    False
    """
    if target.is_dir():
        entries = {p.name for p in target.iterdir()}
        if not entries:
            return True
        if not entries <= SAVEDMODEL_ENTRIES:
            return False
    meta = _read_preprocessing(target)
    return meta is not None and "exported_from" in meta and meta.get("model_file") == target.name


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def export_target(model: str | os.PathLike, fmt: str, out: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """The path :func:`export_pipeline` writes, checked before anything is loaded.

    Adds the format's suffix when missing (``exported/vgg`` -> ``exported/vgg.tflite``).

    Raises
    ------
    OutputError
        ``out`` is the folder holding the model (or the model itself), the
        current folder or one above it, a folder where a file is expected, an
        unwritable place, or an output (or preprocessing JSON) cvtoolkit did
        not write and ``overwrite`` is False.

    Examples
    --------
    >>> import tempfile
    >>> export_target("models/vgg.keras", "tflite", Path(tempfile.mkdtemp()) / "vgg").suffix
    '.tflite'
    """
    from cvtoolkit.errors import OutputError
    from cvtoolkit.io.outputs import check_output_location

    raw = Path(out)
    if str(out) == "":
        raise OutputError("--out is empty; give a path.")
    suffix = SUFFIXES[fmt]
    if suffix and (raw.is_dir() or raw.name in ("", ".", "..")):
        raise OutputError(f"--out {out}: a folder, not a file; --format {fmt} writes one file. Give a file path "
                          f"such as {raw / ('model' + suffix)}.")
    target = raw if not suffix or raw.suffix == suffix else raw.with_name(raw.name + suffix)
    where = Path(os.path.realpath(target))
    source = Path(os.path.realpath(model))
    if _within(source, where):
        raise OutputError(
            f"--out {out}: {'is' if source == where else 'holds'} the model being exported ({model}); writing "
            f"there would replace it. Choose another --out, e.g. {where.parent / ('exported' + suffix)}."
        )
    if not suffix and _within(Path.cwd(), where):
        raise OutputError(
            f"--out {out}: the current folder{'' if where == Path.cwd() else ' or one holding it'}; a SavedModel "
            f"export replaces the whole folder. Give a new folder, e.g. {raw / 'model_savedmodel'}."
        )
    check_output_location(target, kind="file" if suffix else "folder", overwrite=overwrite, ours=is_export,
                          what=f"a {fmt} export")
    pre = preprocessing_path(target)
    if Path(os.path.realpath(pre)) == source:
        raise OutputError(f"--out {out}: its preprocessing JSON {pre} would replace the model; choose another --out.")
    check_output_location(pre, kind="file", overwrite=overwrite, ours=_is_preprocessing_json,
                          what="the preprocessing JSON of an export")
    return target


def export_pipeline(model: str | os.PathLike, fmt: str, out: str | os.PathLike, *,
                    overwrite: bool = False) -> ExportResult:
    """Export a saved CNN/backbone pipeline and write its preprocessing JSON beside it.

    Parameters
    ----------
    model : path
        A pipeline folder from ``cvtoolkit fit`` or a ``.keras`` model from
        ``cvtoolkit train``.
    fmt : {"savedmodel", "tflite", "onnx"}
    out : path
        A folder for ``savedmodel``, a ``.tflite`` or ``.onnx`` file
        otherwise (the suffix is added when missing). Checked before the
        model is loaded (:func:`export_target`), locked while written
        (:func:`cvtoolkit.io.lock.output_lock`), and written atomically.
    overwrite : bool
        Replace an ``out`` (or preprocessing JSON) that cvtoolkit did not
        write (``--overwrite``). Never the model itself, nor a folder holding
        it.

    Returns
    -------
    ExportResult

    Raises
    ------
    ExportError
        Unknown format, a model that cannot be exported, a missing converter.
    OutputError
        An ``out`` that must not be written (see :func:`export_target`).
    StoreError
        Another cvtoolkit process is writing ``out``.

    Examples
    --------
    Not run as a doctest (it needs a trained model folder)::

        res = export_pipeline("models/vgg", "tflite", "exported/vgg")
        res.path, res.input_shape  # ('exported/vgg.tflite', (32, 32, 3))
    """
    from cvtoolkit.io.lock import output_lock

    fmt = str(fmt).lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    target = export_target(model, fmt, out, overwrite=overwrite)
    with output_lock(target):  # before any work: a second export to the same --out stops here
        return _export_locked(model, fmt, target)


def _export_locked(model: str | os.PathLike, fmt: str, target: Path) -> ExportResult:
    _check_converters(fmt)
    spec = exportable_model(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        staged = tmp_dir / (target.name if SUFFIXES[fmt] else "savedmodel")
        try:
            _export(spec.network, fmt, spec.input_shape, staged)
        except ImportError as err:
            raise ExportError(f"--format {fmt}: a converter is missing ({err}); {EXPORT_INSTALL}") from None
        io_names = _onnx_io(staged) if fmt == "onnx" else (
            {"signature": "serve"} if fmt == "savedmodel" else {"signature": "serving_default"})
        if target.is_dir() and not SUFFIXES[fmt]:
            old = tmp_dir / "old"
            os.replace(target, old)
        os.replace(staged, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    h, w, c = spec.input_shape
    from cvtoolkit import __version__
    from cvtoolkit.io import write_json_atomic

    meta = {
        "format": fmt,
        "model_file": target.name,
        "exported_from": spec.source,
        "method": spec.method,
        "cvtoolkit_version": __version__,
        "input": {
            "shape": [None, h, w, c], "dtype": "float32", "layout": "NHWC",
            "color": "RGB" if c == 3 else "grey", "size": [h, w],
            "scale": spec.scale, "offset": 0.0,
            "formula": f"x = float32(pixels) * {spec.scale!r}" if spec.scale != 1.0 else "x = float32(pixels)",
            **io_names,
        },
        "output": "class probabilities (softmax), one column per class_names entry",
        "class_names": spec.class_names,
        "notes": spec.notes or "images resized to the input size as by cv2.resize (INTER_AREA when shrinking, "
                               "else INTER_LINEAR), grey <-> RGB converted to the channel count",
    }
    pre = preprocessing_path(target)
    write_json_atomic(pre, meta)
    logger.info("exported %s to %s (%s)", spec.method, target, fmt)
    return ExportResult(str(target), str(pre), fmt, spec.input_shape, spec.class_names)
