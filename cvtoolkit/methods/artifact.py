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
    announce: bool = True,
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
    announce : bool
        Log the ``saved ... pipeline to ...`` line at INFO (False: DEBUG, for
        a temporary folder nobody will look at).

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
    if path.exists() and not overwrite and not (path.is_dir() and (not any(path.iterdir()) or (path / MANIFEST).is_file())):
        raise ModelError(
            f"{path} exists and is not a saved pipeline (no {MANIFEST}); refusing to replace it. Choose another "
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
    logger.log(logging.INFO if announce else logging.DEBUG, "saved %s pipeline to %s", method, path)
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
    return manifest


def wrap_keras_file(path: str | os.PathLike) -> SavedPipeline:
    """A ``.keras`` model file (and its sidecar) as a :class:`SavedPipeline`, with nothing written.

    The class names and the input size come from the JSON sidecar
    (``NAME.json``, written by :meth:`cvtoolkit.train.KerasImageClassifier.save`);
    without it the classes are ``0..K-1`` and the size is the network's
    input. The model is loaded with Keras's ``safe_mode``.

    Raises
    ------
    ModelError
        Missing or unreadable model file.

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
    clf = KerasImageClassifier.load(path)
    meta: dict = {}
    side = sidecar_path(path)
    if side.is_file():
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ModelError(f"{side}: unreadable sidecar of {path.name} ({err}).") from err
    names = getattr(clf, "class_names_", None) or [str(c) for c in clf.classes_.tolist()]
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
        return wrap_keras_file(path)
    if not (path / MANIFEST).exists():
        recover_swap(path)
    manifest = read_manifest(path)
    try:
        if manifest["kind"] == "cnn":
            from cvtoolkit.train import KerasImageClassifier

            estimator = KerasImageClassifier.load(path / "model.keras")
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
    return SavedPipeline(str(path), manifest, estimator, list(manifest["class_names"]))
