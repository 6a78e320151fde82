"""A disk cache of extracted features, so the same features are never computed twice.

Features are keyed by what determines them: the dataset's content
(:meth:`~cvtoolkit.data.Dataset.fingerprint`), the extractor's class and its
parameters (``get_params(deep=True)``, less those that cannot change the
result: ``n_jobs``, ``progress``, ``verbose``), the indices it was fitted
on when it learns something (a bag of visual words; stateless descriptors
ignore them), and the cvtoolkit version. Each entry is an ``.npy`` file
(written atomically) with a ``.json`` note beside it saying what it holds.
An entry that does not validate (not NumPy, wrong shape or width for its
note, NaN values, a missing or malformed note) is discarded and computed
again, with one warning naming the file.

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

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cvtoolkit.hashing import IGNORED_PARAMS, dataset_fingerprint, digest, stable_params  # noqa: F401  (importable here as before)

log = logging.getLogger(__name__)

CACHE_ENV = "CVTOOLKIT_CACHE_DIR"
"""Environment variable naming the cache folder."""



def default_cache_dir() -> Path:
    """``$CVTOOLKIT_CACHE_DIR`` or ``~/.cache/cvtoolkit/features``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "cvtoolkit" / "features"


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
        "params": stable_params(transformer),
        "fit_indices": None,
        "cvtoolkit_version": __version__,
    }
    if fit_indices is not None and not is_stateless(transformer):
        idx = np.asarray(fit_indices, dtype=np.int64)
        desc["fit_indices"] = digest(idx.tobytes())
    blob = json.dumps(desc, sort_keys=True, default=str).encode()
    return digest(blob, size=16), desc


def _index(data: Any, indices: np.ndarray) -> Any:
    if isinstance(data, np.ndarray):
        return data[indices]
    return [data[i] for i in indices]


def _read_entry(path: Path, note: Path, n: int) -> tuple[np.ndarray, Any]:
    """``(features, seconds)`` of a cache entry, validated against its note; raises on any damage.

    The entry must be a 2-D ``float32`` ``.npy`` (not an archive, no pickles)
    of ``n`` rows of finite numbers, and its note a JSON object whose
    ``shape`` is the array's.
    """
    try:
        desc = json.loads(note.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"its note {note.name} is missing") from None
    except (OSError, ValueError) as err:
        raise ValueError(f"its note {note.name} is not JSON: {err}") from None
    if not isinstance(desc, dict) or not isinstance(desc.get("shape"), list):
        raise ValueError(f"its note {note.name} is not a cache note (no shape)")
    with open(path, "rb") as fh:
        if fh.read(6) != b"\x93NUMPY":
            raise ValueError("not a NumPy .npy file")
    X = np.load(path, allow_pickle=False)
    if not isinstance(X, np.ndarray) or X.ndim != 2 or len(X) != n or X.dtype.kind != "f":
        raise ValueError(f"holds {getattr(X, 'dtype', type(X).__name__)} of shape {getattr(X, 'shape', '?')}, "
                         f"expected {n} rows of float features")
    if list(X.shape) != desc["shape"]:
        raise ValueError(f"holds shape {list(X.shape)} but its note says {desc['shape']}")
    if not np.isfinite(X).all():
        raise ValueError("holds NaN or infinite values")
    seconds = desc.get("seconds")
    return X.astype(np.float32, copy=False), seconds if isinstance(seconds, (int, float)) else None


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
            X, seconds = _read_entry(path, note, n)
            load = time.perf_counter() - t0
            info.update(hit=True, load_seconds=load, seconds=float(seconds) if seconds is not None else load)
            log.debug("feature cache hit: %s (%s, %d x %d)", path, slug, *X.shape)
            return X
        except Exception as err:  # any damage: discard the entry, compute again, say so once
            log.warning("feature cache entry %s is damaged or unreadable (%s); discarded, computing the features again",
                        path, err)
            for stale in (path, note):
                try:
                    stale.unlink()
                except OSError:
                    pass
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
