"""Saved pipelines: one folder holding everything prediction needs.

``cvtoolkit fit`` writes, and ``cvtoolkit predict``/``evaluate`` read, a
folder::

    models/NAME/
        manifest.json      method, class names, input size and channels,
                           descriptor/backbone parameters (weights path),
                           classifier parameters, validation metrics,
                           cvtoolkit version and artifact format
        pipeline.skops     a fitted scikit-learn Pipeline (classical rows), saved
                           with skops.io and loaded with a list of trusted
                           types (cvtoolkit.methods.trusted): loading never
                           runs code from the file, or
        model.keras        a trained CNN (+ model.json, its sidecar), loaded
                           with Keras' safe_mode

A folder from older versions holds ``pipeline.joblib`` (a pickle): it is
refused unless the caller trusts it (``trust=True``, ``--trust-model``).

The folder is written beside its final name (``.NAME.tmp-<pid>-*``) and
swapped into place; a save killed half-way through the swap is finished
(or rolled back) by the next save or load of that folder, and stale
temporaries of dead processes are removed.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from cvtoolkit.methods import make_method
>>> rng = np.random.default_rng(0)
>>> X = rng.integers(0, 255, (12, 8, 8, 3), dtype=np.uint8); y = np.arange(12) % 2
>>> est = make_method("raw+knn").fit(X, y)
>>> path = os.path.join(tempfile.mkdtemp(), "knn")
>>> _ = save_pipeline(est, path, method="raw+knn", class_names=["a", "b"], image_size=8, channels=3)
>>> loaded = load_pipeline(path)
>>> np.allclose(loaded.predict_proba(X), est.predict_proba(X))
True
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cvtoolkit import __version__
from cvtoolkit.errors import ModelError
from cvtoolkit.io.atomic import to_jsonable

logger = logging.getLogger(__name__)

ARTIFACT_FORMAT = 1
"""Version of the folder layout; bumped when an old reader could not read a new folder."""

MANIFEST = "manifest.json"
PIPELINE_FILE = "pipeline.skops"
"""A classical pipeline, saved with skops.io (older folders: ``pipeline.joblib``, a pickle)."""
LEGACY_PIPELINE_FILE = "pipeline.joblib"
_TMP = ".tmp-"
_OLD = ".old-"


KNOWN_FILES = frozenset({MANIFEST, PIPELINE_FILE, LEGACY_PIPELINE_FILE, "model.keras", "model.json"})
"""Every file a pipeline folder of any artifact format holds (a manifest without ``files`` expects these)."""


def pipeline_folder_problem(path: str | os.PathLike) -> str:
    """Why ``path`` is not a folder cvtoolkit wrote (``""`` when it is one, or is empty).

    A saved pipeline is recognised by content only cvtoolkit writes: a
    ``manifest.json`` that is a JSON object with an integer artifact
    ``format``, a ``cvtoolkit_version``, a ``method`` and a ``kind``, and
    nothing in the folder besides the manifest and the files it lists (or,
    without a list, the files any format writes). Another program's folder
    with a ``manifest.json`` (a web app, a browser extension) is not one.

    Examples
    --------
    >>> import tempfile, json
    >>> folder = Path(tempfile.mkdtemp())
    >>> pipeline_folder_problem(folder)
    ''
    >>> _ = (folder / "manifest.json").write_text(json.dumps({"name": "my extension"}))
    >>> pipeline_folder_problem(folder)
    'its manifest.json has no cvtoolkit artifact format (format, cvtoolkit_version, method, kind)'
    """
    path = Path(path)
    try:
        entries = sorted(e.name for e in path.iterdir())
    except OSError as err:
        return f"cannot list it ({err.strerror or err})"
    if not entries:
        return ""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"it has no {MANIFEST}"
    except (OSError, ValueError):
        return f"its {MANIFEST} is not JSON"
    if not (isinstance(manifest, dict) and type(manifest.get("format")) is int
            and isinstance(manifest.get("cvtoolkit_version"), str) and isinstance(manifest.get("method"), str)
            and isinstance(manifest.get("kind"), str)):
        return f"its {MANIFEST} has no cvtoolkit artifact format (format, cvtoolkit_version, method, kind)"
    listed = manifest.get("files")
    if isinstance(listed, list) and all(isinstance(f, str) for f in listed):
        expected = {MANIFEST, *listed}
    else:
        expected = set(KNOWN_FILES)
    others = [e for e in entries if e not in expected]
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        return f"it holds files a saved pipeline does not ({shown})"
    return ""


def is_saved_pipeline_folder(path: str | os.PathLike) -> bool:
    """An empty folder, or one :func:`save_pipeline` wrote (see :func:`pipeline_folder_problem`)."""
    path = Path(path)
    return path.is_dir() and not path.is_symlink() and pipeline_folder_problem(path) == ""


def _params(estimator) -> dict:
    try:
        return {k: to_jsonable(v, default=repr) for k, v in estimator.get_params(deep=False).items()}
    except Exception:  # not an estimator
        return {}


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:2] if p.isdigit())


@dataclass
class SavedPipeline:
    """A loaded artifact: ``predict_proba(images)`` with nothing else to pass."""

    path: str
    manifest: dict
    estimator: Any
    class_names: list[str] = field(default_factory=list)

    @property
    def method(self) -> str:
        return self.manifest["method"]

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def image_size(self) -> int | None:
        return self.manifest.get("image_size")

    def prepare(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Bring images to the size and channel count the pipeline was fitted on.

        Grey and colour are converted to the fitted channel count; RGBA drops
        alpha, 16-bit and other integer or boolean images become ``uint8``
        (as :func:`cvtoolkit.data.to_rgb_uint8` does). A CNN saved without an
        image size gets its network's input size.

        Raises
        ------
        ModelError
            Something that is not an image (a feature row, 2 or 5 channels).
        """
        from cvtoolkit.data.image_io import to_rgb_uint8
        from cvtoolkit.data.preprocessing import Resize

        channels = self.manifest.get("channels")
        size = self.image_size
        shape = getattr(self.estimator, "input_shape_", None) if self.kind == "cnn" else None
        if shape is not None and len(shape) == 3:
            size = size if size is not None else [int(shape[0]), int(shape[1])]
            channels = channels if channels is not None else int(shape[2])
        out = []
        for i, im in enumerate(images):
            im = np.asarray(im)
            if im.ndim == 2:
                im = im[:, :, None]
            if im.ndim != 3 or im.shape[2] not in (1, 3, 4) or 0 in im.shape:
                hint = " (a feature vector; this pipeline was fitted on images)" if im.ndim <= 1 else ""
                raise ModelError(
                    f"{self.path}: expects images (H, W, 3) RGB or (H, W) grey; input {i} has shape "
                    f"{im.shape}{hint}. Pass an image folder, an image file or an images store "
                    "('cvtoolkit pack')."
                )
            if im.shape[2] == 4 or (im.dtype != np.uint8 and im.dtype.kind != "f"):
                rgb = to_rgb_uint8(im)
                im = rgb[:, :, :1] if im.shape[2] == 1 else rgb
            if size is not None:
                im = Resize(size)(im)
            if channels == 1 and im.shape[2] == 3:
                import cv2

                im = cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2GRAY)[:, :, None]
            elif channels == 3 and im.shape[2] == 1:
                im = np.repeat(im, 3, axis=2)
            out.append(im)
        if not out:
            raise ModelError(f"{self.path}: no images to predict.")
        from cvtoolkit.data.folder import stack_images

        return stack_images(out)

    def predict_proba(self, X: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Class probabilities ``(N, n_classes)`` for images (or feature rows for stored-feature pipelines)."""
        if self.kind == "stored":
            expected = self.manifest.get("feature_dim")
            try:
                X = np.asarray(X, dtype=np.float32)
            except (TypeError, ValueError) as err:  # ragged images, strings
                raise ModelError(
                    f"{self.path}: expects a matrix of feature vectors of width {expected} (an .h5 features "
                    f"store from 'cvtoolkit extract'), got something else ({err})."
                ) from err
            if X.ndim != 2 or (expected is not None and X.shape[1] != expected):
                raise ModelError(
                    f"{self.path}: expects feature vectors of width {expected}, got shape {X.shape}. "
                    f"Extract the same features ({self.manifest.get('features')}) with the same parameters."
                )
        else:
            X = self.prepare(X)
        from cvtoolkit.methods.build import full_proba

        proba = self.estimator.predict_proba(X)
        return full_proba(proba, getattr(self.estimator, "classes_", None), len(self.class_names))

    def predict(self, X) -> np.ndarray:
        """Predicted class indices."""
        return np.argmax(self.predict_proba(X), axis=1)


def save_pipeline(
    estimator,
    path: str | os.PathLike,
    *,
    method: str,
    class_names: Sequence[str],
    image_size: int | None,
    channels: int | None,
    kind: str | None = None,
    extra: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Save a fitted method (from :func:`cvtoolkit.methods.make_method`) as a folder.

    Parameters
    ----------
    estimator
        A fitted scikit-learn ``Pipeline``/classifier or a fitted
        :class:`cvtoolkit.train.KerasImageClassifier`.
    path : path
        The folder to create (replaced atomically if it exists).
    method : str
        The row name (``hog+linear_svm``).
    class_names : sequence of str
    image_size, channels
        What the estimator was fitted on; ``predict`` resizes to match.
    extra : dict, optional
        More manifest entries (validation metrics, source dataset, ...).
    overwrite : bool
        Replace ``path`` even if it is not a saved pipeline (by default an
        existing folder without a manifest, or a file, is refused).

    Raises
    ------
    ModelError
        ``path`` exists and is not a saved pipeline (and not ``overwrite``).
    """
    from cvtoolkit.methods.spec import parse_method

    path = Path(path)
    spec = parse_method(method)
    kind = kind or spec.kind
    manifest: dict[str, Any] = {
        "format": ARTIFACT_FORMAT,
        "cvtoolkit_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "method": method,
        "kind": kind,
        "class_names": [str(c) for c in class_names],
        "image_size": image_size,
        "channels": channels,
    }
    steps = dict(getattr(estimator, "named_steps", {}))
    if "features" in steps:
        manifest["features"] = spec.features
        manifest["feature_params"] = _params(steps["features"])
    if "classifier" in steps or kind == "stored":
        manifest["classifier"] = spec.classifier
        manifest["classifier_params"] = _params(steps.get("classifier", estimator))
    if kind == "stored":
        manifest["features"] = spec.features
        manifest["feature_dim"] = int(getattr(estimator, "n_features_in_", 0)) or None
    if kind == "cnn":
        manifest["model"] = spec.model
        manifest["cnn_params"] = _params(estimator)
    manifest.update(to_jsonable(extra or {}, default=repr))

    path.parent.mkdir(parents=True, exist_ok=True)
    recover_swap(path)
    if (path.exists() or path.is_symlink()) and not overwrite and not is_saved_pipeline_folder(path):
        why = pipeline_folder_problem(path) if path.is_dir() else "it is not a folder"
        raise ModelError(
            f"{path} exists and is not a saved pipeline ({why}); refusing to replace it. Choose another "
            "--out, or pass --overwrite to replace it."
        )
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}{_TMP}{os.getpid()}-", dir=path.parent))
    try:
        if kind == "cnn":
            estimator.save(tmp / "model.keras")
            manifest["files"] = ["model.keras", "model.json"]
        else:
            from cvtoolkit.methods.trusted import dump_pipeline

            dump_pipeline(estimator, tmp / PIPELINE_FILE)
            manifest["files"] = [PIPELINE_FILE]
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.debug("saved %s pipeline to %s", method, path)  # the commands print where they saved
    return path


def _replace_dir(tmp: Path, path: Path) -> None:
    """Move ``tmp`` onto ``path``; an existing folder is swapped out, then removed.

    Killed between the two renames, the folder is missing, the old one is in
    ``.NAME.old-PID`` and the new one complete in ``tmp``: :func:`recover_swap`
    finishes the swap.
    """
    old = None
    if path.is_dir() and not path.is_symlink():
        old = path.with_name(f".{path.name}{_OLD}{os.getpid()}")
        os.replace(path, old)
    elif path.exists() or path.is_symlink():  # a file (overwrite=True)
        path.unlink()
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _pid_of(name: str, marker: str) -> int | None:
    tail = name.split(marker, 1)[1] if marker in name else ""
    digits = tail.split("-", 1)[0]
    return int(digits) if digits.isdigit() else None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _complete(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return all((folder / name).exists() for name in manifest.get("files", []))
    except (OSError, ValueError):
        return False


def recover_swap(path: str | os.PathLike) -> str:
    """Finish or roll back a save of ``path`` killed half-way; remove stale temporaries.

    When ``path`` is missing but a complete new folder (``.NAME.tmp-PID-*``
    with its manifest) of a dead process is there, it is moved into place
    (finish); otherwise the previous folder (``.NAME.old-PID``) is moved
    back (roll back). Then the leftovers of dead processes are removed.
    Temporaries of running processes are left alone.

    Returns
    -------
    str
        ``"finished"``, ``"rolled back"`` or ``""`` (nothing to do).
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        entries = [e for e in parent.iterdir() if e.name.startswith(f".{path.name}.")]
    except OSError:
        return ""
    olds = [e for e in entries if e.name.startswith(f".{path.name}{_OLD}") and not _alive(_pid_of(e.name, _OLD))]
    tmps = [e for e in entries if e.name.startswith(f".{path.name}{_TMP}") and not _alive(_pid_of(e.name, _TMP))]
    done = ""
    try:
        if not path.exists():
            complete = sorted((t for t in tmps if _complete(t)), key=lambda t: t.stat().st_mtime)
            if complete:
                os.replace(complete[-1], path)
                tmps.remove(complete[-1])
                done = "finished"
            elif olds:
                newest = max(olds, key=lambda t: t.stat().st_mtime)
                os.replace(newest, path)
                olds.remove(newest)
                done = "rolled back"
        if done:
            logger.warning("%s: %s a save that was interrupted between its two renames", path, done)
        for leftover in olds + tmps:
            shutil.rmtree(leftover, ignore_errors=True)
            logger.info("removed %s, left by an interrupted save", leftover)
    except OSError as err:  # a read-only folder: load what is there
        logger.warning("cannot clean up an interrupted save of %s: %s", path, err)
    return done


KINDS = ("classical", "cnn", "stored")
"""The ``kind`` of a saved pipeline (:class:`cvtoolkit.methods.spec.MethodSpec`)."""


def _bad(where: Path, field: str, problem: str, fix: str = "re-run 'cvtoolkit fit' (or 'cvtoolkit train')") -> ModelError:
    return ModelError(f"{where}: field '{field}' {problem}; {fix}.")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_image_size(value: Any, where: Path, field: str = "image_size") -> int | list[int] | None:
    """A saved ``image_size``: None, a positive int or ``[height, width]``, within the decode pixel limit.

    A string (``"32"``) is refused rather than read as the sequence of its
    characters.

    Raises
    ------
    ModelError
        One line naming ``where`` and ``field``.

    Examples
    --------
    >>> check_image_size([32, 48], Path("m/manifest.json"))
    [32, 48]
    >>> check_image_size("32", Path("m/manifest.json"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cvtoolkit.errors.ModelError: m/manifest.json: field 'image_size' is the string '32', expected ...
    """
    from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS

    if value is None:
        return None
    if _is_int(value):
        sides = [int(value), int(value)]
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_int(v) for v in value):
        sides = [int(v) for v in value]
    else:
        kind = f"the string {value!r}" if isinstance(value, str) else f"{json.dumps(to_jsonable(value, default=repr))}"
        raise _bad(where, field, f"is {kind}, expected a positive integer or [height, width]")
    if min(sides) < 1 or sides[0] * sides[1] > DEFAULT_MAX_PIXELS:
        raise _bad(where, field, f"is {value}, expected sides of at least 1 pixel and at most "
                                 f"{DEFAULT_MAX_PIXELS} pixels in all")
    return int(value) if _is_int(value) else sides


def _check_class_names(value: Any, where: Path, field: str = "class_names") -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(c, (str, int)) and not isinstance(c, bool)
                                                           for c in value):
        shown = "missing" if value is None else f"is {json.dumps(to_jsonable(value, default=repr))[:80]}"
        raise _bad(where, field, f"{shown}, expected a non-empty list of class names")
    return [str(c) for c in value]


def validate_manifest(manifest: Any, where: str | os.PathLike) -> dict:
    """Check a loaded ``manifest.json`` against the one schema of saved pipelines.

    Checked: a JSON object; ``method`` and ``kind`` (one of :data:`KINDS`)
    strings; ``class_names`` a non-empty list; ``image_size``
    (:func:`check_image_size`); ``channels`` None, 1 or 3; ``feature_dim``
    None or a positive integer; ``files`` a list of file names.

    Returns
    -------
    dict
        ``manifest`` (``image_size`` and ``class_names`` normalised).

    Raises
    ------
    ModelError
        One line naming the file and the first bad field.

    Examples
    --------
    >>> validate_manifest({"method": "raw+knn", "kind": "classical", "class_names": None}, "m/manifest.json")
    Traceback (most recent call last):
    ...
    cvtoolkit.errors.ModelError: m/manifest.json: field 'class_names' missing, expected a non-empty list of class names; re-run 'cvtoolkit fit' (or 'cvtoolkit train').
    """
    where = Path(where)
    if not isinstance(manifest, dict):
        raise ModelError(f"{where}: expected a JSON object (a saved pipeline's manifest), found a "
                         f"{type(manifest).__name__}; re-run 'cvtoolkit fit'.")
    for key in ("method", "kind"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise _bad(where, key, "is missing or not a string")
    if manifest["kind"] not in KINDS:
        raise _bad(where, "kind", f"is {manifest['kind']!r}, expected one of {', '.join(KINDS)}")
    manifest["class_names"] = _check_class_names(manifest.get("class_names"), where)
    manifest["image_size"] = check_image_size(manifest.get("image_size"), where)
    if manifest.get("channels") not in (None, 1, 3) or isinstance(manifest.get("channels"), bool):
        raise _bad(where, "channels", f"is {manifest.get('channels')!r}, expected 1 or 3")
    dim = manifest.get("feature_dim")
    if dim is not None and not (_is_int(dim) and dim > 0):
        raise _bad(where, "feature_dim", f"is {dim!r}, expected a positive integer")
    files = manifest.get("files")
    if files is not None and not (isinstance(files, list) and all(isinstance(f, str) and f and "/" not in f
                                                                  and f not in (".", "..") for f in files)):
        raise _bad(where, "files", f"is {files!r}, expected a list of file names")
    return manifest


def read_sidecar(side: str | os.PathLike, model: str | os.PathLike) -> dict:
    """The JSON sidecar of a ``.keras`` model, checked (``{}`` when there is none).

    Raises
    ------
    ModelError
        Invalid JSON, not an object, or a bad ``class_names``, ``classes``,
        ``input_shape`` or ``image_size`` (one line naming the file and field).
    """
    side = Path(side)
    if not side.is_file():
        return {}
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"{side}: unreadable sidecar of {Path(model).name} ({err}); re-save the model.") from err
    fix = "re-save the model (cvtoolkit train, KerasImageClassifier.save)"
    if not isinstance(meta, dict):
        raise ModelError(f"{side}: expected a JSON object (the sidecar of {Path(model).name}), found a "
                         f"{type(meta).__name__}; {fix}.")
    if meta.get("class_names") is not None:
        meta["class_names"] = _check_class_names(meta["class_names"], side)
    classes = meta.get("classes")
    if classes is not None and not (isinstance(classes, list) and classes
                                    and all(isinstance(c, (int, str)) and not isinstance(c, bool) for c in classes)):
        raise _bad(side, "classes", f"is {json.dumps(to_jsonable(classes, default=repr))[:80]}, expected a "
                                    "non-empty list of labels", fix)
    shape = meta.get("input_shape")
    if shape is not None and not (isinstance(shape, list) and len(shape) == 3 and all(_is_int(d) and d > 0 for d in shape)
                                  and shape[2] in (1, 3)):
        raise _bad(side, "input_shape", f"is {json.dumps(to_jsonable(shape, default=repr))[:80]}, expected "
                                        "[height, width, channels] with 1 or 3 channels", fix)
    if shape is not None:
        check_image_size(shape[:2], side, "input_shape")
    meta["image_size"] = check_image_size(meta.get("image_size"), side)
    for key in ("params", "history"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise _bad(side, key, f"is a {type(meta[key]).__name__}, expected an object", fix)
    return meta


def check_classes(estimator: Any, class_names: Sequence[str], where: str | os.PathLike) -> None:
    """Refuse a loaded model whose outputs do not match its class names (one line naming ``where``)."""
    n = len(class_names)
    net = getattr(estimator, "model_", None)
    outputs = None
    try:
        outputs = int(net.output_shape[-1]) if net is not None else None
    except Exception:  # not a Keras model
        outputs = None
    if outputs is not None and outputs != n:
        raise ModelError(f"{where}: field 'class_names' has {n} names for a network with {outputs} outputs; "
                         "re-save the model with one name per class.")
    classes = getattr(estimator, "classes_", None)
    if outputs is None and classes is not None:
        labels = np.asarray(classes)
        if labels.dtype.kind in "iu" and len(labels) and (labels.min() < 0 or labels.max() >= n):
            raise ModelError(f"{where}: field 'class_names' has {n} names but the model predicts class "
                             f"{int(labels.max())}; re-run 'cvtoolkit fit'.")


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of a saved pipeline, checked for compatibility.

    Raises
    ------
    ModelError
        Not a saved pipeline, or written by an incompatible cvtoolkit version.
    """
    path = Path(path)
    mf = path / MANIFEST
    if not mf.is_file():
        hint = " (a .keras file: no such file)" if path.suffix == ".keras" else ""
        raise ModelError(f"{path}: not a saved pipeline (no {MANIFEST}); create one with 'cvtoolkit fit ... --out {path}'{hint}.")
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"{mf}: unreadable manifest ({err}); re-run 'cvtoolkit fit'.") from err
    if not isinstance(manifest, dict):
        validate_manifest(manifest, mf)  # one line: not an object
    fmt = manifest.get("format")
    saved = str(manifest.get("cvtoolkit_version", "?"))
    if fmt != ARTIFACT_FORMAT and str(fmt) == str(ARTIFACT_FORMAT):  # "1": edited by hand, not another format
        raise ModelError(f"{mf}: \"format\" is {json.dumps(fmt)}, a {type(fmt).__name__}; cvtoolkit writes and "
                         f"reads {json.dumps(ARTIFACT_FORMAT)}, a number. Set \"format\": "
                         f"{json.dumps(ARTIFACT_FORMAT)}, or re-fit.")
    if fmt != ARTIFACT_FORMAT or _version_tuple(saved)[:1] != _version_tuple(__version__)[:1]:
        raise ModelError(
            f"{path}: saved by cvtoolkit {saved} (artifact format {fmt!r}); this is cvtoolkit {__version__}, which "
            f"reads format {ARTIFACT_FORMAT!r}. Re-fit it with this version, or install cvtoolkit=={saved} to use it."
        )
    return validate_manifest(manifest, mf)


def wrap_keras_file(path: str | os.PathLike, *, trust: bool = False) -> SavedPipeline:
    """A ``.keras`` model file (and its sidecar) as a :class:`SavedPipeline`, with nothing written.

    The class names and the input size come from the JSON sidecar
    (``NAME.json``, written by :meth:`cvtoolkit.train.KerasImageClassifier.save`);
    without it the classes are ``0..K-1`` and the size is the network's
    input. The model is loaded with Keras's ``safe_mode`` unless ``trust``
    (``--trust-model``, which lets Keras run code from the file, such as
    ``Lambda`` layers).

    Raises
    ------
    ModelError
        Missing or unreadable model file, a damaged sidecar (one line naming
        the field), or class names that do not match the network's outputs.

    Examples
    --------
    >>> wrap_keras_file("missing.keras")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cvtoolkit.errors.ModelError: missing.keras: no such model file; ...
    """
    from cvtoolkit.train.estimator import KerasImageClassifier, sidecar_path

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file; train one with `cvtoolkit train` or KerasImageClassifier.save")
    side = sidecar_path(path)
    meta = read_sidecar(side, path)
    clf = _load_keras(path, side, trust=trust)
    names = getattr(clf, "class_names_", None) or [str(c) for c in clf.classes_.tolist()]
    check_classes(clf, names, side if meta.get("class_names") else path)
    shape = tuple(clf.input_shape_)
    size = meta.get("image_size") or [int(shape[0]), int(shape[1])]
    if isinstance(size, (list, tuple)) and len(size) == 2 and size[0] == size[1]:
        size = int(size[0])
    manifest = {
        "format": ARTIFACT_FORMAT, "cvtoolkit_version": __version__, "method": str(meta.get("model") or "keras"),
        "kind": "cnn", "class_names": list(names), "image_size": size,
        "channels": int(shape[2]) if len(shape) == 3 else None, "model": meta.get("model"),
        "source": meta.get("dataset"), "files": [path.name, side.name], "wrapped_keras_file": str(path),
    }
    return SavedPipeline(str(path), manifest, clf, list(names))


def _load_keras(path: Path, side: Path, *, trust: bool):
    """``KerasImageClassifier.load`` (safe mode unless ``trust``), its errors as one line."""
    from cvtoolkit.train.estimator import KerasImageClassifier

    try:
        return KerasImageClassifier.load(path, safe_mode=not trust)
    except ModelError as err:
        if not trust and "safe_mode" in str(err):
            raise ModelError(f"{err} If you trust its author, pass --trust-model (lifts Keras's safe_mode).") from err
        raise
    except (ValueError, TypeError, KeyError) as err:  # sidecar entries that do not fit the network
        raise ModelError(f"{side}: does not match {path.name} ({type(err).__name__}: {err}); re-save the "
                         "model.") from err


def _check_fitted(estimator: Any, where: Path) -> None:
    """Refuse an estimator that cannot predict: not an estimator, or not fitted (one line)."""
    if not callable(getattr(estimator, "predict_proba", None)):
        raise ModelError(f"{where}: holds a {type(estimator).__name__}, not a classifier with predict_proba; "
                         "re-run 'cvtoolkit fit'.")
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    steps = [step for _, step in getattr(estimator, "steps", [])] or [estimator]
    for step in steps:  # stateless descriptors say so (requires_fit=False) and pass
        try:
            check_is_fitted(step)
        except NotFittedError:
            raise ModelError(f"{where}: holds an unfitted {type(step).__name__}; it cannot predict. Re-run "
                             "'cvtoolkit fit' to save a fitted pipeline.") from None
        except TypeError:  # not an estimator inside a pipeline
            raise ModelError(f"{where}: holds a {type(step).__name__}, not a scikit-learn estimator; re-run "
                             "'cvtoolkit fit'.") from None


def load_pipeline(path: str | os.PathLike, *, trust: bool = False) -> SavedPipeline:
    """Load a folder written by :func:`save_pipeline`; never runs code from it unless ``trust``.

    A ``.keras`` file (``cvtoolkit train --out NAME.keras``,
    :meth:`cvtoolkit.train.KerasImageClassifier.save`) is wrapped on the fly
    by :func:`wrap_keras_file`.

    Parameters
    ----------
    path : path-like
        The pipeline folder, or a ``.keras`` file with its JSON sidecar.
    trust : bool
        Load types outside the trusted list, and legacy ``pipeline.joblib``
        pickles (``--trust-model``): this runs code from the file.

    Raises
    ------
    ModelError
        Not a pipeline, untrusted types (named), a legacy pickle without
        ``trust``, or an unreadable model.
    """
    path = Path(path)
    if path.suffix == ".keras" and path.is_file():
        return wrap_keras_file(path, trust=trust)
    if not (path / MANIFEST).exists():
        recover_swap(path)
    manifest = read_manifest(path)
    try:
        if manifest["kind"] == "cnn":
            from cvtoolkit.train.estimator import sidecar_path

            read_sidecar(sidecar_path(path / "model.keras"), path / "model.keras")
            estimator = _load_keras(path / "model.keras", sidecar_path(path / "model.keras"), trust=trust)
        elif (path / PIPELINE_FILE).exists() or not (path / LEGACY_PIPELINE_FILE).exists():
            from cvtoolkit.methods.trusted import load_trusted

            estimator = load_trusted(path / PIPELINE_FILE, trust=trust)
        elif not trust:
            raise ModelError(
                f"{path}: holds {LEGACY_PIPELINE_FILE}, a pickle saved by an older cvtoolkit; loading it would run "
                "any code inside it, so it is refused. Re-save it with 'cvtoolkit fit ... --out' (saves "
                f"{PIPELINE_FILE}), or, if you trust its author, pass --trust-model."
            )
        else:
            import joblib

            estimator = joblib.load(path / LEGACY_PIPELINE_FILE)
    except ModelError:
        raise
    except (OSError, EOFError, ValueError, ImportError, AttributeError) as err:
        raise ModelError(f"{path}: cannot load the saved model ({type(err).__name__}: {err}); re-run 'cvtoolkit fit'.") from err
    if manifest["kind"] != "cnn":
        _check_fitted(estimator, path / (PIPELINE_FILE if (path / PIPELINE_FILE).exists() else LEGACY_PIPELINE_FILE))
    check_classes(estimator, manifest["class_names"], path / MANIFEST)
    return SavedPipeline(str(path), manifest, estimator, list(manifest["class_names"]))
