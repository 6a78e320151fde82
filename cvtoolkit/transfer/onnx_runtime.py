"""Frozen backbones through ONNX Runtime: converted once per weights, cached beside the feature cache.

:class:`~cvtoolkit.transfer.features.BackboneFeatures` (``extract``, backbone
rows of ``compare``/``fit``, ``audit``'s label-issue features, ``predict`` of
backbone pipelines) runs its frozen network here when ONNX Runtime is
installed (the ``[export]`` extra): the Keras feature extractor is converted
with tf2onnx (through :func:`cvtoolkit.export._export`, Keras's
``model.export(format="onnx")``) the first time a weights file is used, and
the ``.onnx`` file is kept in ``<feature cache>/onnx/<key>.onnx`` (written
atomically, with ``<key>.json`` beside it). The key hashes the weights
file's bytes (or the weight arrays of an unpickled pipeline) with the
backbone, width, input size, pooling and the cvtoolkit version, so the next
run opens the cached file without building the Keras model. An ``.onnx``
file is a graph of standard operators and constant tensors: loading it runs
no code.

Without onnxruntime (or tf2onnx, when nothing is cached yet) the features
run in Keras, and one log line per process says so.
``CVTOOLKIT_BACKBONE_RUNTIME=keras`` forces Keras, ``=onnx`` makes a missing
runtime an error; the default ``auto`` takes ONNX Runtime when it can.

Measured (``bench/bench_backbone_extract.py``): see ``docs/design.md``
("Backbone inference through ONNX Runtime").

Examples
--------
>>> requested_runtime() in ("auto", "onnx", "keras")
True
>>> a = model_key({"backbone": "mobilenet", "alpha": 0.25}, "abc")
>>> a == model_key({"alpha": 0.25, "backbone": "mobilenet"}, "abc"), a == model_key({"alpha": 0.5}, "abc")
(True, False)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from cvtoolkit.errors import ModelError

logger = logging.getLogger(__name__)

__all__ = [
    "ONNX_BATCH",
    "OnnxBackbone",
    "OnnxUnavailable",
    "RUNTIME_ENV",
    "array_digest",
    "file_digest",
    "load_or_convert",
    "model_key",
    "onnx_cache_dir",
    "requested_runtime",
    "runtime_missing",
]

RUNTIME_ENV = "CVTOOLKIT_BACKBONE_RUNTIME"
"""``auto`` (default: ONNX Runtime when installed), ``onnx`` (required) or ``keras``."""

CONVERSION_TOLERANCE = 1e-4
"""Largest difference (relative to the largest feature) allowed between a fresh conversion and Keras."""

ONNX_BATCH = 8
"""Images per ONNX Runtime call (a transform batch is split). MobileNet 0.25 at 224 px, 2 busy cores:
8, 16, 32 and 64 gave 404, 368, 310 and 310 images/s (medians of 3 alternated runs, load average 7-9)."""

ONNX_THREADS: int | None = None
"""Intra-op threads of a session (None: ONNX Runtime's default, one per physical core)."""

_INSTALL = "pip install 'cvtoolkit[export]'"
_said: set[str] = set()


class OnnxUnavailable(RuntimeError):
    """ONNX Runtime cannot run this backbone here (missing package, failed conversion); the reason is the message."""


def requested_runtime() -> str:
    """``$CVTOOLKIT_BACKBONE_RUNTIME`` (``auto``, ``onnx`` or ``keras``); another value is a :class:`ModelError`."""
    value = os.environ.get(RUNTIME_ENV, "auto").strip().lower() or "auto"
    if value not in ("auto", "onnx", "keras"):
        raise ModelError(f"{RUNTIME_ENV}={value!r} is not a backbone runtime; use auto, onnx or keras")
    return value


def runtime_missing(*, converter: bool) -> str | None:
    """Why ONNX Runtime cannot be used (``None`` when it can); ``converter``: tf2onnx is needed too."""
    modules = ("onnxruntime", "tf2onnx", "onnx") if converter else ("onnxruntime",)
    for module in modules:
        try:
            __import__(module)
        except ImportError as err:
            return f"{module} is not installed ({err})"
    return None


def say_fallback(reason: str) -> None:
    """The one line (per reason and process) saying backbone features run in Keras instead."""
    if reason in _said:
        return
    _said.add(reason)
    logger.warning("backbone features run in Keras, not ONNX Runtime: %s; %s makes them about twice as fast",
                   reason, _INSTALL)


def onnx_cache_dir() -> Path:
    """``<feature cache>/onnx`` (:func:`cvtoolkit.features.cache.default_cache_dir`).

    Examples
    --------
    >>> onnx_cache_dir().name
    'onnx'
    """
    from cvtoolkit.features.cache import default_cache_dir

    return default_cache_dir() / "onnx"


def file_digest(path: str | os.PathLike) -> str:
    """BLAKE2b (16 bytes, hex) of a file's bytes, read in blocks."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def array_digest(arrays: Sequence[np.ndarray]) -> str:
    """BLAKE2b (16 bytes, hex) of weight arrays (shapes, dtypes and values).

    Examples
    --------
    >>> array_digest([np.zeros(2)]) != array_digest([np.zeros(3)])
    True
    """
    h = hashlib.blake2b(digest_size=16)
    for arr in arrays:
        arr = np.ascontiguousarray(arr)
        h.update(f"{arr.shape}{arr.dtype}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def model_key(config: dict[str, Any], weights_digest: str) -> str:
    """The cache key of one converted network: its configuration and the hash of its weights."""
    from cvtoolkit import __version__

    text = json.dumps({"config": config, "weights": weights_digest, "cvtoolkit": __version__, "format": 1},
                      sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class OnnxBackbone:
    """An ONNX Runtime session of a feature extractor: ``float32`` pixels ``(N, H, W, 3)`` -> ``(N, D)``.

    One session per process (CPU provider). Its threads do not spin while
    waiting (``session.intra_op.allow_spinning = 0``): on a shared machine
    spinning threads took cores from decoding and from other processes.
    Not picklable; :class:`~cvtoolkit.transfer.features.BackboneFeatures`
    keeps only the cache key and opens the session again where it is used.
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.inter_op_num_threads = 1
        threads = threads if threads is not None else ONNX_THREADS
        if threads:
            options.intra_op_num_threads = int(threads)
        self.path = str(path)
        self.session = ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.n_features = int(self.session.get_outputs()[0].shape[-1])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Features of a ``float32`` batch, run :data:`ONNX_BATCH` images at a time."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        out = np.empty((len(batch), self.n_features), np.float32)
        for s in range(0, len(batch), ONNX_BATCH):
            part = self.session.run(None, {self.input_name: batch[s:s + ONNX_BATCH]})[0]
            out[s:s + ONNX_BATCH] = np.asarray(part, np.float32).reshape(len(part), -1)
        return out


def _convert(model: Any, input_shape: tuple[int, int, int], target: Path) -> None:
    """Write ``model`` as ONNX to ``target`` (atomically), with Keras's ``model.export`` (tf2onnx)."""
    from cvtoolkit.export import _export  # the export command's conversion, reused
    from cvtoolkit.io import atomic_path

    with atomic_path(target) as tmp:
        _export(model, "onnx", tuple(input_shape), Path(tmp))


def load_or_convert(key: str, build_model: Callable[[], Any], input_shape: tuple[int, int, int],
                    meta: dict[str, Any], *, cache_dir: str | os.PathLike | None = None
                    ) -> tuple[OnnxBackbone, dict[str, Any]]:
    """The ONNX Runtime session of ``key`` from the cache, converting ``build_model()`` first when absent.

    Parameters
    ----------
    key : str
        :func:`model_key` of the network.
    build_model : callable
        Returns the Keras feature extractor; called only when the cache has
        no usable ``<key>.onnx``.
    input_shape : (H, W, 3)
    meta : dict
        Facts saved beside the model (``<key>.json``) and returned with the
        cached file, e.g. whether the backbone has the ImageNet layout.
    cache_dir : path, optional
        Default :func:`onnx_cache_dir`.

    Returns
    -------
    (OnnxBackbone, dict)
        The session and the saved facts (``n_features`` added).

    Raises
    ------
    OnnxUnavailable
        onnxruntime or (for a conversion) tf2onnx is missing, the conversion
        failed, or the converted network's outputs differ from Keras's by
        more than :data:`CONVERSION_TOLERANCE`. The caller runs Keras.
    """
    from cvtoolkit.io import write_json_atomic

    folder = Path(cache_dir).expanduser() if cache_dir is not None else onnx_cache_dir()
    path, info = folder / f"{key}.onnx", folder / f"{key}.json"
    missing = runtime_missing(converter=False)
    if missing:
        raise OnnxUnavailable(missing)
    if path.is_file() and info.is_file():
        try:
            saved = json.loads(info.read_text())
            return OnnxBackbone(path), saved
        except Exception as err:  # unreadable: convert again (both files are ours, replaced atomically)
            logger.warning("cached ONNX model %s cannot be opened (%s); converting it again", path, err)
    missing = runtime_missing(converter=True)
    if missing:
        raise OnnxUnavailable(f"{missing}, needed to convert the backbone once")
    model = build_model()
    logger.info("converting %s to ONNX (once for these weights): %s", getattr(model, "name", "backbone"), path)
    try:
        _convert(model, input_shape, path)
        session = OnnxBackbone(path)
    except Exception as err:  # tf2onnx cannot convert every graph
        raise OnnxUnavailable(f"the ONNX conversion failed ({type(err).__name__}: {err})") from err
    probe = np.random.default_rng(0).uniform(0, 255, (2, *input_shape)).astype(np.float32)
    want = np.asarray(model.predict_on_batch(probe), np.float32).reshape(2, -1)
    got = session(probe)
    diff = float(np.abs(want - got).max())
    if not diff <= CONVERSION_TOLERANCE * max(1.0, float(np.abs(want).max())):
        path.unlink(missing_ok=True)
        raise OnnxUnavailable(f"the ONNX conversion differs from Keras by {diff:.3g}")
    saved = {**meta, "n_features": session.n_features, "max_abs_diff_vs_keras": diff}
    write_json_atomic(info, saved)
    return session, saved
