"""A disk cache of extracted features, so the same features are never computed twice.

Features are keyed by what determines them: the dataset's content
(:meth:`~cvtoolkit.data.Dataset.fingerprint`), the extractor's class and its
parameters (``get_params(deep=True)``, less those that cannot change the
result: ``n_jobs``, ``progress``, ``verbose``), the indices it was fitted
on when it learns something (a bag of visual words; stateless descriptors
ignore them), and the cvtoolkit version. Each entry is an ``.npy`` file
(written atomically) with a ``.json`` note beside it saying what it holds.

The folder is ``$CVTOOLKIT_CACHE_DIR`` if set, else
``~/.cache/cvtoolkit/features``. Deleting it is always safe.

Examples
--------
>>> import numpy as np, tempfile
>>> from cvtoolkit.data import Dataset
>>> from cvtoolkit.features import LBP
>>> ds = Dataset(np.zeros((4, 16, 16, 3), np.uint8), [0, 1, 0, 1], ["a", "b"])
>>> folder = tempfile.mkdtemp()
>>> info = {}
>>> X = cached_features(LBP(P=8, R=1), ds, cache_dir=folder, info=info)
>>> X.shape, info["hit"]
((4, 10), False)
>>> X2 = cached_features(LBP(P=8, R=1, n_jobs=2), ds, cache_dir=folder, info=info)
>>> info["hit"], bool((X == X2).all())
(True, True)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

log = logging.getLogger(__name__)

CACHE_ENV = "CVTOOLKIT_CACHE_DIR"
"""Environment variable naming the cache folder."""

IGNORED_PARAMS = ("n_jobs", "progress", "verbose")
"""Parameter names (or suffixes ``__name``) that never change the features."""


def default_cache_dir() -> Path:
    """``$CVTOOLKIT_CACHE_DIR`` or ``~/.cache/cvtoolkit/features``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "cvtoolkit" / "features"


def _stable(value: Any) -> Any:
    """A JSON-able, deterministic description of a parameter value."""
    from sklearn.base import BaseEstimator

    if isinstance(value, BaseEstimator):
        return {"class": f"{type(value).__module__}.{type(value).__qualname__}",
                "params": _params(value, deep=False)}
    if isinstance(value, np.ndarray):
        h = hashlib.blake2b(np.ascontiguousarray(value).view(np.uint8).reshape(-1).data
                            if value.dtype != object else repr(value.tolist()).encode(), digest_size=12)
        return {"ndarray": list(value.shape), "dtype": str(value.dtype), "hash": h.hexdigest()}
    if isinstance(value, dict):
        return {str(k): _stable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_stable(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if callable(value):
        return f"callable:{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    return repr(value)


def _ignored(name: str) -> bool:
    return any(name == p or name.endswith("__" + p) for p in IGNORED_PARAMS)


def _params(transformer: Any, *, deep: bool = True) -> dict[str, Any]:
    params = transformer.get_params(deep=deep) if hasattr(transformer, "get_params") else {}
    out = {}
    for name, value in sorted(params.items()):
        if _ignored(name):
            continue
        if deep and "__" not in name and hasattr(value, "get_params"):
            continue  # a sub-estimator: its own parameters appear as name__param
        out[name] = _stable(value)
    return out


def is_stateless(transformer: Any) -> bool:
    """True when ``fit`` learns nothing (the cvtoolkit descriptors, and unions/pipelines of them)."""
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.utils import get_tags

    if isinstance(transformer, FeatureUnion):
        return all(is_stateless(t) for _, t in transformer.transformer_list if t not in ("drop", "passthrough"))
    if isinstance(transformer, Pipeline):
        return all(is_stateless(t) for _, t in transformer.steps if t not in (None, "passthrough"))
    try:
        return not get_tags(transformer).requires_fit
    except Exception:
        return False


def dataset_fingerprint(dataset: Any) -> str:
    """The dataset's content hash (also for images of varying sizes in an object array)."""
    images = dataset.images
    if isinstance(images, np.ndarray) and images.dtype != object:
        return dataset.fingerprint()
    h = hashlib.blake2b(digest_size=12)
    for im in images:
        arr = np.ascontiguousarray(np.asarray(im))
        h.update(f"{arr.shape}{arr.dtype}".encode())
        h.update(arr.view(np.uint8).reshape(-1).data)
    h.update(np.asarray(dataset.labels, np.int64).tobytes())
    h.update("\x00".join(dataset.class_names).encode())
    return h.hexdigest()


def feature_key(transformer: Any, dataset: Any, fit_indices: Sequence[int] | np.ndarray | None = None
                ) -> tuple[str, dict[str, Any]]:
    """``(key, description)``: the cache key of ``transformer`` applied to ``dataset``.

    Examples
    --------
    >>> import numpy as np
    >>> from cvtoolkit.data import Dataset
    >>> from cvtoolkit.features import HOG
    >>> ds = Dataset(np.zeros((2, 8, 8, 3), np.uint8), [0, 1], ["a", "b"])
    >>> feature_key(HOG(size=16), ds)[0] == feature_key(HOG(size=16, n_jobs=4), ds)[0]
    True
    >>> feature_key(HOG(size=16), ds)[0] == feature_key(HOG(size=24), ds)[0]
    False
    """
    from cvtoolkit import __version__

    cls = type(transformer)
    desc: dict[str, Any] = {
        "dataset": dataset_fingerprint(dataset),
        "n_samples": len(dataset),
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "params": _params(transformer),
        "fit_indices": None,
        "cvtoolkit_version": __version__,
    }
    if fit_indices is not None and not is_stateless(transformer):
        idx = np.asarray(fit_indices, dtype=np.int64)
        desc["fit_indices"] = hashlib.blake2b(idx.tobytes(), digest_size=12).hexdigest()
    blob = json.dumps(desc, sort_keys=True, default=str).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest(), desc


def _index(data: Any, indices: np.ndarray) -> Any:
    if isinstance(data, np.ndarray):
        return data[indices]
    return [data[i] for i in indices]


def cached_features(
    transformer: Any,
    dataset: Any,
    *,
    cache_dir: str | os.PathLike | None = None,
    fit_indices: Sequence[int] | np.ndarray | None = None,
    info: dict[str, Any] | None = None,
) -> np.ndarray:
    """Features of every sample of ``dataset``, from the cache or computed (and stored).

    The transformer is fitted on the samples at ``fit_indices`` (all samples
    when None) with their labels, then transforms every sample, in order.
    On a cache hit nothing is fitted: the transformer stays unfitted.

    Parameters
    ----------
    transformer : scikit-learn transformer
        Unfitted (e.g. from :func:`~cvtoolkit.features.make_features`).
    dataset : Dataset
        Images (``dataset.images``), labels and class names.
    cache_dir : path, optional
        The cache folder (default :func:`default_cache_dir`).
    fit_indices : array of int, optional
        Training samples, for transformers that learn something.
    info : dict, optional
        Filled with ``hit`` (bool), ``key``, ``path``, ``seconds`` (time the
        features took to compute, then or now) and ``load_seconds``.

    Returns
    -------
    ndarray
        ``(len(dataset), D)`` ``float32``.

    Examples
    --------
    >>> # X = cached_features(make_features("hog"), dataset, fit_indices=train_idx)
    """
    from cvtoolkit.errors import DatasetError
    from cvtoolkit.io import atomic_path, write_json_atomic

    if getattr(dataset, "kind", "images") != "images":
        raise DatasetError(
            f"{getattr(dataset, 'source', '') or 'the dataset'} holds feature vectors, not images; "
            "descriptors need the images (train a classifier on stored features directly)."
        )
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    key, desc = feature_key(transformer, dataset, fit_indices)
    slug = type(transformer).__name__.lower()
    path = folder / f"{slug}-{key}.npy"
    note = path.with_suffix(".json")
    info = info if info is not None else {}
    info.update(key=key, path=str(path))
    n = len(dataset)
    t0 = time.perf_counter()
    if path.exists():
        try:
            X = np.load(path, allow_pickle=False)
            if X.ndim != 2 or len(X) != n:
                raise ValueError(f"holds shape {X.shape}, expected {n} rows")
            seconds = None
            if note.exists():
                try:
                    seconds = json.loads(note.read_text()).get("seconds")
                except (OSError, ValueError):
                    seconds = None
            load = time.perf_counter() - t0
            info.update(hit=True, load_seconds=load, seconds=float(seconds) if seconds is not None else load)
            log.debug("feature cache hit: %s (%s, %d x %d)", path, slug, *X.shape)
            return X.astype(np.float32, copy=False)
        except (OSError, ValueError, EOFError) as err:
            log.warning("feature cache entry %s is unreadable (%s); computing the features again", path, err)
    log.debug("feature cache miss: %s (%s on %d samples)", path, slug, n)
    images, labels = dataset.images, np.asarray(dataset.labels)
    if fit_indices is None:
        transformer.fit(images, labels)
    else:
        idx = np.asarray(fit_indices, dtype=np.int64)
        transformer.fit(_index(images, idx), labels[idx])
    X = np.asarray(transformer.transform(images), dtype=np.float32)
    seconds = time.perf_counter() - t0
    info.update(hit=False, seconds=seconds, load_seconds=0.0)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, X, allow_pickle=False)
        write_json_atomic(note, {**desc, "shape": list(X.shape), "seconds": seconds,
                                 "source": getattr(dataset, "source", ""),
                                 "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    except OSError as err:  # a read-only or full cache must not lose the computed features
        log.warning("could not write the feature cache %s: %s", path, err)
    return X
