"""``run_audit``: everything the audit finds about a dataset, as plain data.

Examples
--------
>>> from cvtoolkit.data import load_dataset
>>> ds = load_dataset("digits", progress=False)
>>> result = run_audit(ds, label_issues=False, progress=False)
>>> sorted(k for k in result.to_dict() if k in ("duplicates", "leakage", "class_counts", "skipped"))
['class_counts', 'duplicates', 'leakage', 'skipped']
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cvtoolkit.audit.duplicates import group_duplicates
from cvtoolkit.audit.hashing import BLANK_STD, HASH_SIDE, NEAR_THRESHOLD, ImageHashes, compute_hashes
from cvtoolkit.audit.leakage import leakage_report, sample_names
from cvtoolkit.data.dataset import Dataset
from cvtoolkit.errors import CvToolkitError, DatasetError

logger = logging.getLogger(__name__)

SMALL_SIDE = 32
"""Images whose shorter side is below this many pixels are listed as very small."""


@dataclass
class AuditResult:
    """What :func:`run_audit` found; :meth:`to_dict` is ``audit.json``."""

    source: str
    samples: int
    class_counts: dict[str, int]
    duplicates: list[dict[str, Any]]
    duplicate_pairs: int
    leakage: dict[str, Any] | None
    label_issues: list[dict[str, Any]] | None
    label_model: dict[str, Any] | None
    images: dict[str, Any]
    skipped: list[dict[str, str]]
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        counts = [v for v in self.class_counts.values() if v > 0]
        return {
            "source": self.source,
            "samples": self.samples,
            "settings": self.settings,
            "class_counts": self.class_counts,
            "class_balance": {"max_min_ratio": round(max(counts) / min(counts), 3) if counts else None,
                              "largest": max(self.class_counts, key=self.class_counts.get) if counts else None,
                              "smallest": min(self.class_counts, key=self.class_counts.get) if counts else None},
            "duplicates": self.duplicates,
            "duplicate_summary": summarize_duplicates(self.duplicates, self.duplicate_pairs),
            "leakage": self.leakage,
            "label_issues": self.label_issues if self.label_issues is not None else [],
            "label_model": self.label_model,
            "images": self.images,
            "skipped": self.skipped,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def summarize_duplicates(groups: list[dict], pairs: int) -> dict[str, int]:
    """Counts: pairs, groups by kind, groups across classes, images in groups."""
    return {
        "pairs": pairs,
        "groups": len(groups),
        "exact_groups": sum(g["kind"] == "exact" for g in groups),
        "near_groups": sum(g["kind"] == "near" for g in groups),
        "conflicting_groups": sum(bool(g["conflicting"]) for g in groups),
        "images_in_groups": len({i for g in groups for i in g["indices"]}),
    }


def image_stats(hashes: ImageHashes, names: list[str]) -> dict[str, Any]:
    """Size and aspect-ratio histograms, grey/colour mix, very small and blank images."""
    ok = hashes.pixel != ""
    h, w = hashes.height[ok].astype(float), hashes.width[ok].astype(float)
    out: dict[str, Any] = {"count": int(ok.sum())}
    if not ok.any():
        return out
    longest = np.maximum(h, w)
    edges = np.unique(np.percentile(longest, np.linspace(0, 100, 11)).round())
    if len(edges) < 2:
        edges = np.array([longest.min(), longest.min() + 1])
    counts, edges = np.histogram(longest, bins=edges)
    aspect = w / np.maximum(h, 1)
    a_counts, a_edges = np.histogram(aspect, bins=[0, 0.5, 0.75, 0.9, 1.0 - 1e-9, 1.0 + 1e-9, 1.12, 1.34, 2.0, np.inf])
    idx = np.flatnonzero(ok)
    small = idx[np.minimum(h, w) < SMALL_SIDE]
    blank = np.flatnonzero(ok & (hashes.std < BLANK_STD))
    out.update({
        "height": {"min": int(h.min()), "median": float(np.median(h)), "max": int(h.max())},
        "width": {"min": int(w.min()), "median": float(np.median(w)), "max": int(w.max())},
        "longest_side_histogram": {"edges": [float(e) for e in edges], "counts": counts.tolist()},
        "aspect_ratio_histogram": {"edges": [float(e) if np.isfinite(e) else None for e in a_edges],
                                   "counts": a_counts.tolist()},
        "grey": int(hashes.grey[ok].sum()),
        "colour": int((~hashes.grey[ok]).sum()),
        "very_small": {"min_side": SMALL_SIDE, "count": int(len(small)), "paths": [names[i] for i in small[:100]]},
        "blank": {"max_std": BLANK_STD, "count": int(len(blank)), "paths": [names[i] for i in blank[:100]]},
    })
    return out


def run_audit(
    dataset: Dataset,
    *,
    test_size: float | int | str = "auto",
    seed: int = 42,
    threshold: int = NEAR_THRESHOLD,
    label_issues: bool = True,
    label_features: str = "auto",
    weights: str | os.PathLike | None = None,
    alpha: float | None = None,
    folds: int = 5,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    max_pixels: int | None = None,
    progress: bool = True,
) -> AuditResult:
    """Audit an image dataset: duplicates, leakage across the compare split, label issues, statistics.

    Parameters
    ----------
    dataset : Dataset
        Any image dataset from :func:`cvtoolkit.data.load_dataset`. Hashes
        and statistics come from its files when it has paths (native size),
        else from its arrays.
    test_size, seed
        The split ``compare`` would use (same meaning as there).
    threshold : int
        Hamming distance (of 64 phash bits) for near duplicates.
    label_issues : bool
        Run the (slower) label-issue step.
    label_features, weights, alpha, folds
        See :func:`cvtoolkit.audit.label_issues.find_label_issues`.
    cache_dir : path, optional
        Feature cache folder (hashes and features are kept there).

    Raises
    ------
    DatasetError
        Stored features (nothing to look at) or an empty dataset.
    """
    from cvtoolkit.data.split import resolve_test_size, split_dataset

    if dataset.kind != "images":
        raise DatasetError(f"{dataset.source}: holds stored features, not images; audit the images it came from")
    if len(dataset) == 0:
        raise DatasetError(f"{dataset.source}: no usable images to audit")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    hashes = compute_hashes(dataset, cache_dir=cache_dir, n_jobs=n_jobs, max_pixels=max_pixels, progress=progress)
    seconds["hashes"] = time.perf_counter() - t0
    names = sample_names(dataset)
    t0 = time.perf_counter()
    groups, pairs = group_duplicates(hashes, dataset.labels, names, dataset.class_names, threshold=threshold)
    seconds["duplicates"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    resolved = resolve_test_size(dataset, test_size)
    try:
        train, test = split_dataset(dataset, test_size=resolved, seed=seed)
        leakage, found = leakage_report(hashes, names, train.attrs["split_indices"], test.attrs["split_indices"],
                                        threshold=threshold)
        leakage.update({"test_size": resolved, "seed": seed})
        leakage["duplicate_pairs_across_split"] = _pairs_across(pairs, train.attrs["split_indices"],
                                                                test.attrs["split_indices"], len(hashes))
    except DatasetError as err:
        leakage = {"test_size": resolved, "seed": seed, "error": str(err), "test_with_duplicate_in_train": None,
                   "pairs": []}
    seconds["leakage"] = time.perf_counter() - t0
    issues, model = None, None
    if label_issues:
        from cvtoolkit.audit.label_issues import find_label_issues

        t0 = time.perf_counter()
        try:
            found_issues = find_label_issues(dataset, features=label_features, weights=weights, alpha=alpha,
                                             folds=folds, seed=seed, cache_dir=cache_dir, n_jobs=n_jobs,
                                             progress=progress)
            issues, model = found_issues.issues, found_issues.to_dict()
        except CvToolkitError as err:
            if weights is not None or label_features != "auto":
                raise
            logger.warning("label issues skipped: %s", err)
            model = {"error": str(err)}
        seconds["label_issues"] = time.perf_counter() - t0
    settings = {"test_size": resolved, "seed": seed, "near_threshold_bits": threshold, "perceptual_hash": "phash",
                "hash_side": HASH_SIDE, "exact_hash": "blake2b of decoded pixels",
                "hashed_from": "files" if dataset.paths is not None else "arrays", "label_issues": label_issues}
    return AuditResult(
        source=dataset.source,
        samples=len(dataset),
        class_counts=dataset.class_counts(),
        duplicates=groups,
        duplicate_pairs=int(len(pairs)),
        leakage=leakage,
        label_issues=issues,
        label_model=model,
        images=image_stats(hashes, names),
        skipped=[{"path": s.path, "reason": s.reason} for s in dataset.skipped],
        settings=settings,
        seconds=seconds,
    )


def _pairs_across(pairs: np.ndarray, train_idx, test_idx, n: int) -> int:
    """Duplicate pairs (exact or near) with one image in train and the other in test."""
    side = np.full(n, -1, np.int8)
    side[np.asarray(train_idx, np.int64)] = 0
    side[np.asarray(test_idx, np.int64)] = 1
    if not len(pairs):
        return 0
    a, b = side[pairs[:, 0]], side[pairs[:, 1]]
    return int(np.sum((a >= 0) & (b >= 0) & (a != b)))
