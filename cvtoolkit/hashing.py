"""The content hashes cvtoolkit keys things on, in one place (BLAKE2b throughout).

Three kinds of key are stored on users' disks, and all are computed here:

- **dataset fingerprint** (:func:`dataset_fingerprint`): pixels (with their
  shape and dtype), labels and class names. :meth:`cvtoolkit.data.Dataset.fingerprint`
  returns it; the feature cache (:mod:`cvtoolkit.features.cache`) and the
  audit's hash cache key on it.
- **parameters** (:func:`stable_params`): a JSON-able, deterministic
  description of an estimator's parameters (``n_jobs``, ``progress`` and
  ``verbose`` left out: they never change the features), for the feature
  cache key (:func:`cvtoolkit.features.cache.feature_key`) and the
  ``extractor_params`` attribute of a feature store.
- **resume keys** of an interrupted extraction
  (:mod:`cvtoolkit.features.extraction`): :func:`fitted_fingerprint` (what a
  transformer learned in ``fit``) and :func:`samples_fingerprint` (the
  samples to describe: paths with size and modification time, or pixels).
- **compare row keys** (:func:`row_key`): a finished ``compare`` row stored
  in ``<out>/rows/`` (:mod:`cvtoolkit.methods.row_store`) is reused by
  ``compare --resume`` only when its data, split and settings hash match.

The values are those the three modules computed before they were gathered
here, except the feature-cache key of a dataset whose images have varying
sizes, which now uses the same fingerprint as :meth:`Dataset.fingerprint`
(one cache miss for such datasets; the cache key also holds the cvtoolkit
version, so it changes with every release anyway). The per-image hashes of
:mod:`cvtoolkit.audit.hashing` (exact and perceptual duplicates) are a
different tool and stay there.

Examples
--------
>>> import numpy as np
>>> from cvtoolkit.data import Dataset
>>> ds = Dataset(np.zeros((2, 4, 4), np.uint8), [0, 1], ["a", "b"])
>>> dataset_fingerprint(ds) == ds.fingerprint() == dataset_fingerprint(ds)
True
>>> len(digest(b"abc")), len(digest(b"abc", size=16))
(24, 32)
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

__all__ = [
    "IGNORED_PARAMS",
    "dataset_fingerprint",
    "digest",
    "feed",
    "fitted_fingerprint",
    "row_key",
    "samples_fingerprint",
    "stable_params",
    "stable_value",
]

IGNORED_PARAMS = ("n_jobs", "progress", "verbose")
"""Parameter names (or suffixes ``__name``) that never change the features."""


def digest(data: bytes, *, size: int = 12) -> str:
    """BLAKE2b of ``data``, ``size`` bytes, as hex.

    Examples
    --------
    >>> digest(b"")[:8]
    'b8e1dda3'
    """
    return hashlib.blake2b(data, digest_size=size).hexdigest()


def _pixels(arr: np.ndarray) -> Any:
    return np.ascontiguousarray(arr).view(np.uint8).reshape(-1).data


def dataset_fingerprint(dataset: Any) -> str:
    """A short hash of a dataset's content: pixels (with shape and dtype), labels, class names.

    ``dataset.images`` may be an array, an object array of images of varying
    sizes or a list of them (hashed as the object array would be). Two
    datasets with the same fingerprint hold the same samples in the same order.

    Examples
    --------
    >>> import numpy as np
    >>> from cvtoolkit.data import Dataset
    >>> a = Dataset(np.zeros((2, 4, 4), np.uint8), [0, 1], ["a", "b"])
    >>> b = Dataset(np.zeros((2, 4, 4), np.uint8), [1, 0], ["a", "b"])
    >>> dataset_fingerprint(a) == dataset_fingerprint(b)
    False
    """
    images = dataset.images
    h = hashlib.blake2b(digest_size=12)
    if isinstance(images, np.ndarray) and images.dtype != object:
        h.update(str(images.shape).encode())
        h.update(str(images.dtype).encode())
        h.update(_pixels(images))
    else:  # images of varying sizes: hash each with its shape
        h.update(str((len(images),)).encode())
        h.update(b"object")
        for im in images:
            im = np.ascontiguousarray(np.asarray(im))
            h.update(f"{im.shape}{im.dtype}".encode())
            h.update(_pixels(im))
    h.update(np.asarray(dataset.labels, np.int64).tobytes())
    h.update("\x00".join(dataset.class_names).encode())
    return h.hexdigest()


def _ignored(name: str) -> bool:
    return any(name == p or name.endswith("__" + p) for p in IGNORED_PARAMS)


def stable_value(value: Any) -> Any:
    """A JSON-able, deterministic description of a parameter value (arrays by content hash).

    Examples
    --------
    >>> stable_value((1, np.float32(0.5), {"b": None, "a": "x"}))
    [1, 0.5, {'a': 'x', 'b': None}]
    """
    from sklearn.base import BaseEstimator

    if isinstance(value, BaseEstimator):
        return {"class": f"{type(value).__module__}.{type(value).__qualname__}",
                "params": stable_params(value, deep=False)}
    if isinstance(value, np.ndarray):
        h = hashlib.blake2b(np.ascontiguousarray(value).view(np.uint8).reshape(-1).data
                            if value.dtype != object else repr(value.tolist()).encode(), digest_size=12)
        return {"ndarray": list(value.shape), "dtype": str(value.dtype), "hash": h.hexdigest()}
    if isinstance(value, dict):
        return {str(k): stable_value(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [stable_value(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if callable(value):
        return f"callable:{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    return repr(value)


def stable_params(transformer: Any, *, deep: bool = True) -> dict[str, Any]:
    """The parameters of ``transformer`` that change its output, as :func:`stable_value` descriptions.

    Examples
    --------
    >>> from cvtoolkit.features import HOG
    >>> "n_jobs" in stable_params(HOG(n_jobs=4)), stable_params(HOG(size=24))["size"]
    (False, 24)
    """
    params = transformer.get_params(deep=deep) if hasattr(transformer, "get_params") else {}
    out = {}
    for name, value in sorted(params.items()):
        if _ignored(name):
            continue
        if deep and "__" not in name and hasattr(value, "get_params"):
            continue  # a sub-estimator: its own parameters appear as name__param
        out[name] = stable_value(value)
    return out


def feed(h: Any, value: Any, depth: int = 0) -> None:
    """Add a value to the running hash ``h`` (arrays by content, estimators by their learned state)."""
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        h.update(f"{arr.shape}{arr.dtype}".encode())
        h.update(arr.tobytes() if arr.dtype != object else repr(arr.tolist()).encode())
    elif isinstance(value, (str, bytes, bool, int, float, np.generic)) or value is None:
        h.update(repr(value).encode())
    elif isinstance(value, (list, tuple)):
        for item in value:
            feed(h, item, depth)
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            h.update(str(key).encode())
            feed(h, value[key], depth)
    elif hasattr(value, "get_weights"):  # a Keras model: its weights
        for w in value.get_weights():
            feed(h, np.asarray(w), depth)
    elif hasattr(value, "get_params") and depth < 8:
        _learned(h, value, depth + 1)
    else:
        h.update(type(value).__qualname__.encode())


def _learned(h: Any, estimator: Any, depth: int) -> None:
    state = vars(estimator)
    for key in sorted(state):
        if key.endswith("_") and not key.startswith("_"):
            h.update(key.encode())
            feed(h, state[key], depth)
    for key in ("transformer_list", "steps"):  # FeatureUnion, Pipeline: their fitted parts
        for item in state.get(key) or ():
            if isinstance(item, tuple) and len(item) >= 2 and hasattr(item[1], "get_params"):
                h.update(str(item[0]).encode())
                _learned(h, item[1], depth + 1)


def fitted_fingerprint(transformer: Any, *, stateless: bool = False) -> str:
    """A hash of what ``transformer`` learned in ``fit`` ('' when ``stateless``).

    Learned state is every public attribute ending in ``_`` (arrays by
    content, Keras models by their weights), in the transformer and in the
    parts of a ``FeatureUnion`` or ``Pipeline``.

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> a = StandardScaler().fit([[0.0], [2.0]])
    >>> b = StandardScaler().fit([[0.0], [4.0]])
    >>> fitted_fingerprint(a) != fitted_fingerprint(b), fitted_fingerprint(a, stateless=True)
    (True, '')
    """
    if stateless:
        return ""
    h = hashlib.blake2b(digest_size=12)
    _learned(h, transformer, 0)
    return h.hexdigest()


def samples_fingerprint(source: Any, order: np.ndarray) -> str:
    """A hash of the samples to describe, in order, with their labels and the class names.

    ``source`` has ``class_names``, ``labels`` and either ``paths`` (hashed
    with each file's size and modification time: a file replaced in place
    changes the hash) or ``images`` (hashed by content), as
    :class:`cvtoolkit.features.chunks.ChunkSource`.
    """
    h = hashlib.blake2b(digest_size=12)
    h.update(json.dumps(source.class_names).encode())
    h.update(np.asarray(source.labels)[order].astype(np.int64).tobytes())
    if source.images is None:
        assert source.paths is not None
        for i in order:
            path = os.fspath(source.paths[i])
            try:
                st = os.stat(path)
                stamp = f"{st.st_size}:{st.st_mtime_ns}"
            except OSError:  # gone: it will be skipped (and named) when described
                stamp = "missing"
            h.update(path.encode() + b"\x00" + stamp.encode() + b"\x00")
    else:
        for start in range(0, len(order), 1024):
            block = order[start:start + 1024]
            if isinstance(source.images, np.ndarray):
                feed(h, source.images[block])
            else:
                for i in block:
                    feed(h, np.asarray(source.images[i]))
    return h.hexdigest()


def row_key(dataset_fp: str, train_indices: Any, test_indices: Any, method: str, settings: dict[str, Any]) -> str:
    """The key of one ``compare`` row: the data, the split and every setting that changes the row's result.

    ``settings`` holds the seed, the feature and CNN options, the search,
    the cvtoolkit version and, for a late-fusion row, its members' keys
    (:func:`cvtoolkit.methods.row_store.row_settings` builds it); options
    that never change a result (``verbose``, log folders) are left out by the
    caller. Values are described with :func:`stable_value`.

    Examples
    --------
    >>> a = row_key("fp", [0, 1], [2], "raw+knn", {"seed": 1})
    >>> a == row_key("fp", [0, 1], [2], "raw+knn", {"seed": 1}), a == row_key("fp", [0, 1], [2], "raw+knn", {"seed": 2})
    (True, False)
    >>> a == row_key("fp", [1, 0], [2], "raw+knn", {"seed": 1})
    False
    """
    desc = {
        "dataset": str(dataset_fp),
        "train": digest(np.asarray(train_indices, dtype=np.int64).tobytes()),
        "test": digest(np.asarray(test_indices, dtype=np.int64).tobytes()),
        "method": str(method),
        "settings": stable_value(dict(settings)),
    }
    return digest(json.dumps(desc, sort_keys=True, default=str).encode(), size=16)
