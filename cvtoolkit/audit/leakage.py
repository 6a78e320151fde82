"""The leakage pre-flight of ``compare`` and ``fit``: test images with a copy in the training split.

Cheap by design: the per-image hashes (cached) and one test-by-train
comparison of 64-bit hashes; no model is fitted.

Examples
--------
>>> from cvtoolkit.data import load_dataset, split_dataset
>>> ds = load_dataset("digits", progress=False)
>>> train, test = split_dataset(ds, test_size=0.25, seed=42)
>>> train2, test2, info = preflight_leakage(ds, train, test, progress=False)
>>> sorted(info)[:4]
['dedupe', 'dropped_test', 'dropped_train', 'exact']
>>> leakage_line(info).startswith("leakage: ")
True
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from cvtoolkit.audit.duplicates import MIN_NEAR_SIDE, _near_ok, leakage_pairs, train_exact_duplicates
from cvtoolkit.audit.hashing import NEAR_THRESHOLD, ImageHashes, compute_hashes
from cvtoolkit.data.dataset import Dataset

logger = logging.getLogger(__name__)


def sample_names(dataset: Dataset) -> list[str]:
    """One name per sample: its file path, else ``<source>[<index>]`` (``digits[123]``)."""
    if dataset.paths is not None:
        return [str(p) for p in dataset.paths]
    stem = Path(str(dataset.source).rstrip("/\\")).name or "sample"
    return [f"{stem}[{i}]" for i in range(len(dataset))]


def leakage_report(hashes: ImageHashes, names: list[str], train_idx: np.ndarray, test_idx: np.ndarray, *,
                   threshold: int = NEAR_THRESHOLD) -> tuple[dict, dict[int, tuple[int, bool]]]:
    """The leakage dict (``test_with_duplicate_in_train``, ``n_test``, ``pairs``, ...) and the raw matches."""
    found = leakage_pairs(hashes, train_idx, test_idx, threshold=threshold)
    order = sorted(found)
    info = {
        "test_with_duplicate_in_train": len(found),
        "exact": sum(1 for t in order if found[t][1]),
        "n_test": int(len(test_idx)),
        "n_train": int(len(train_idx)),
        "threshold": threshold,
        "near_checked": int(np.count_nonzero(_near_ok(hashes)[np.asarray(test_idx, np.int64)])),
        "pairs": [[names[t], names[found[t][0]]] for t in order],
    }
    small = np.asarray(test_idx, np.int64)[~_near_ok(hashes)[np.asarray(test_idx, np.int64)]]
    sides = {(int(hashes.height[i]), int(hashes.width[i])) for i in small if hashes.height[i] > 0}
    if sides:  # hashes see the source pixels, not the loaded size: say which size was too small
        info["near_unchecked_size"] = "x".join(map(str, max(sides))) if len(sides) == 1 else \
            f"up to {'x'.join(map(str, max(sides)))}"
    return info, found


def preflight_leakage(
    dataset: Dataset,
    train: Dataset,
    test: Dataset,
    *,
    dedupe: bool = False,
    test_size: float | int | str | None = None,
    seed: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    threshold: int = NEAR_THRESHOLD,
    progress: bool = True,
) -> tuple[Dataset, Dataset, dict | None]:
    """Count the test images with an exact or near duplicate in train; optionally drop them.

    Parameters
    ----------
    dataset : Dataset
        The full dataset ``train`` and ``test`` were split from (by
        :func:`cvtoolkit.data.split_dataset`, which records
        ``attrs["split_indices"]``).
    train, test : Dataset
        The split.
    dedupe : bool
        Drop the test images that have a duplicate in train, and the exact
        duplicates within train (all but the first copy).
    test_size, seed
        Recorded in the returned dict.
    cache_dir : path, optional
        Feature cache folder (the hashes are cached there).

    Returns
    -------
    train, test : Dataset
        Unchanged, or deduplicated when ``dedupe``.
    leakage : dict or None
        ``{"test_with_duplicate_in_train", "exact", "n_test", "n_train",
        "pairs": [[test, train], ...], "dedupe", "dropped_test",
        "dropped_train", "threshold", "test_size", "seed"}``; None for
        stored features (nothing to hash).
    """
    if dataset.kind != "images" or "split_indices" not in train.attrs or "split_indices" not in test.attrs:
        return train, test, None
    hashes = compute_hashes(dataset, cache_dir=cache_dir, progress=progress)
    names = sample_names(dataset)
    train_idx = np.asarray(train.attrs["split_indices"], np.int64)
    test_idx = np.asarray(test.attrs["split_indices"], np.int64)
    info, found = leakage_report(hashes, names, train_idx, test_idx, threshold=threshold)
    info.update({"test_size": test_size, "seed": seed, "dedupe": bool(dedupe), "dropped_test": 0,
                 "dropped_train": 0})
    if dedupe:
        drop_test = set(found)
        drop_train = set(train_exact_duplicates(hashes, train_idx))
        keep_test = [k for k, i in enumerate(test_idx) if int(i) not in drop_test]
        keep_train = [k for k, i in enumerate(train_idx) if int(i) not in drop_train]
        if len(keep_test) < len(test_idx):
            test = test.subset(keep_test)
            test.attrs["split_indices"] = test_idx[keep_test]
        if len(keep_train) < len(train_idx):
            train = train.subset(keep_train)
            train.attrs["split_indices"] = train_idx[keep_train]
        info["dropped_test"] = len(test_idx) - len(keep_test)
        info["dropped_train"] = len(train_idx) - len(keep_train)
    logger.debug("%s", leakage_line(info))
    return train, test, info


def leakage_line(info: dict | None) -> str:
    """The one line ``compare`` and ``fit`` print (``leakage: 23 of 340 test images have ...``)."""
    if info is None:
        return "leakage: not checked (stored features have no images to compare)"
    n, total = info["test_with_duplicate_in_train"], info["n_test"]
    line = f"leakage: {n} of {total} test images have a near-duplicate in train"
    if info.get("near_checked", total) < total:
        size = info.get("near_unchecked_size") or "smaller"
        line += (f" ({total - info['near_checked']} of them are {size} in the source data, under {MIN_NEAR_SIDE} px "
                 "whatever the loaded size: too small for a perceptual hash, exact copies only)")
    if n:
        line += f" ({info.get('exact', 0)} exact)"
    if info.get("dedupe"):
        line += (f"; --dedupe dropped {info['dropped_test']} test and {info['dropped_train']} "
                 "exact-duplicate training images")
    elif n:
        line += "; --dedupe drops them"
    return line
