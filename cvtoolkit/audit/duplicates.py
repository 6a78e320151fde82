"""Exact and near duplicates, and the pairs that leak across a train/test split.

Two images are **exact** duplicates when their decoded pixels are identical
(same BLAKE2b), **near** duplicates when their perceptual hashes are within
:data:`~cvtoolkit.audit.hashing.NEAR_THRESHOLD` bits (see
:mod:`cvtoolkit.audit.hashing` for why phash and why 6).

Examples
--------
>>> import numpy as np
>>> ph = np.array([0, 1, 0xFFFF, 0xFFFF_0000_0000_0000], dtype=np.uint64)
>>> near_pairs(ph, threshold=2).tolist()
[[0, 1]]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cvtoolkit.audit.hashing import NEAR_THRESHOLD, ImageHashes

_CHUNK_CELLS = 8_000_000  # distances computed per block (64 MB of uint64)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit distances between every hash of ``a`` (rows) and of ``b`` (columns)."""
    return np.bitwise_count(a[:, None] ^ b[None, :])


def near_pairs(phash: np.ndarray, *, threshold: int = NEAR_THRESHOLD, other: np.ndarray | None = None) -> np.ndarray:
    """Index pairs ``(i, j)`` whose hashes differ in at most ``threshold`` bits.

    Without ``other``: pairs within ``phash`` with ``i < j``. With ``other``:
    ``i`` indexes ``phash`` and ``j`` indexes ``other`` (every pair). Done in
    blocks, so memory stays bounded for tens of thousands of images.
    """
    phash = np.asarray(phash, dtype=np.uint64)
    target = phash if other is None else np.asarray(other, dtype=np.uint64)
    step = max(1, _CHUNK_CELLS // max(1, len(target)))
    found = []
    for start in range(0, len(phash), step):
        stop = min(len(phash), start + step)
        cols = target if other is not None else target[start:]
        d = hamming(phash[start:stop], cols)
        i, j = np.nonzero(d <= threshold)
        if other is None:
            j = j + start
            keep = j > i + start
            i, j = i[keep], j[keep]
        found.append(np.stack([i + start, j], axis=1))
    return np.concatenate(found) if found else np.zeros((0, 2), np.int64)


def _valid(hashes: ImageHashes) -> np.ndarray:
    return hashes.pixel != ""


MIN_NEAR_SIDE = 32
"""Smallest native side for near-duplicate matching. ``phash`` works on a
32x32 DCT: on smaller images (8x8 digits, 28x28 MNIST) the hashes of two
different writers' digits often fall within the threshold (on digits, 85 of
450 test images "matched" a training image whose pixels differed by a median
of 1.2 of 16 grey levels), so there only exact duplicates count."""


def _near_ok(hashes: ImageHashes) -> np.ndarray:
    """Samples whose perceptual hash is meaningful (readable and at least :data:`MIN_NEAR_SIDE` on each side)."""
    return _valid(hashes) & (np.minimum(hashes.height, hashes.width) >= MIN_NEAR_SIDE)


def duplicate_pairs(hashes: ImageHashes, *, threshold: int = NEAR_THRESHOLD) -> np.ndarray:
    """All pairs ``(i, j)``, ``i < j``, that are exact or near duplicates."""
    ok = np.flatnonzero(_near_ok(hashes))
    pairs = near_pairs(hashes.phash[ok], threshold=threshold)
    pairs = ok[pairs] if len(pairs) else pairs.reshape(0, 2)
    # exact copies always hash alike, but say so explicitly (phash ties are not the definition)
    exact = []
    for members in exact_groups(hashes):
        exact.extend((a, b) for k, a in enumerate(members) for b in members[k + 1:])
    if exact:
        pairs = np.unique(np.concatenate([pairs, np.asarray(exact, np.int64)]), axis=0)
    return pairs


def exact_groups(hashes: ImageHashes) -> list[list[int]]:
    """Indices of the samples sharing one pixel hash, for every hash seen twice or more."""
    order: dict[str, list[int]] = {}
    for i, h in enumerate(hashes.pixel):
        if h:
            order.setdefault(str(h), []).append(i)
    return [v for v in order.values() if len(v) > 1]


def group_duplicates(hashes: ImageHashes, labels: np.ndarray, names: Sequence[str], class_names: Sequence[str],
                     *, threshold: int = NEAR_THRESHOLD) -> tuple[list[dict], np.ndarray]:
    """Duplicate groups as plain dicts, and the duplicate pairs (see :func:`duplicate_pairs`).

    Exact groups hold samples with identical pixels. Near groups are the
    connected components of near-duplicate pairs that are not all one exact
    group. Each group is ``{"kind", "paths", "classes", "indices",
    "conflicting", "max_distance"}``; ``conflicting`` is True when its
    samples carry different labels.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    pairs = duplicate_pairs(hashes, threshold=threshold)
    groups: list[dict] = []

    def make(kind: str, members: list[int]) -> dict:
        members = sorted(members)
        ph = hashes.phash[members]
        dist = int(hamming(ph, ph).max()) if len(members) > 1 else 0
        cls = [class_names[int(labels[m])] if labels[m] >= 0 else None for m in members]
        return {"kind": kind, "paths": [names[m] for m in members], "classes": cls,
                "indices": [int(m) for m in members], "conflicting": len(set(cls)) > 1, "max_distance": dist}

    for members in exact_groups(hashes):
        groups.append(make("exact", members))
    if len(pairs):
        n = len(hashes)
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        _, comp = connected_components(graph, directed=False)
        involved = np.unique(pairs)
        by_comp: dict[int, list[int]] = {}
        for i in involved:
            by_comp.setdefault(int(comp[i]), []).append(int(i))
        for members in by_comp.values():
            if len({str(hashes.pixel[m]) for m in members}) > 1:
                groups.append(make("near", members))
    groups.sort(key=lambda g: (not g["conflicting"], g["kind"] != "exact", g["indices"][0]))
    return groups, pairs


def leakage_pairs(hashes: ImageHashes, train_idx: np.ndarray, test_idx: np.ndarray,
                  *, threshold: int = NEAR_THRESHOLD) -> dict[int, tuple[int, bool]]:
    """For each test sample with a duplicate in train: ``{test: (closest train sample, exact)}``.

    Indices are into the full dataset (the hashes).
    """
    train_idx = np.asarray(train_idx, np.int64)
    test_idx = np.asarray(test_idx, np.int64)
    ok = _valid(hashes)
    train_idx, test_idx = train_idx[ok[train_idx]], test_idx[ok[test_idx]]
    found: dict[int, tuple[int, bool]] = {}
    pixel_train: dict[str, int] = {}
    for i in train_idx:
        pixel_train.setdefault(str(hashes.pixel[i]), int(i))
    for t in test_idx:
        match = pixel_train.get(str(hashes.pixel[t]))
        if match is not None:
            found[int(t)] = (match, True)
    near = _near_ok(hashes)
    train_idx, test_idx = train_idx[near[train_idx]], test_idx[near[test_idx]]
    pairs = near_pairs(hashes.phash[test_idx], threshold=threshold, other=hashes.phash[train_idx])
    if len(pairs):
        d = np.bitwise_count(hashes.phash[test_idx[pairs[:, 0]]] ^ hashes.phash[train_idx[pairs[:, 1]]])
        for (a, b), dist in sorted(zip(pairs.tolist(), d.tolist()), key=lambda x: x[1], reverse=True):
            t = int(test_idx[a])
            if t not in found or not found[t][1]:
                found[t] = (int(train_idx[b]), False)  # closest (smallest distance) written last
    return found


def train_exact_duplicates(hashes: ImageHashes, train_idx: np.ndarray) -> list[int]:
    """Training samples whose pixels repeat an earlier training sample (to drop all but the first)."""
    seen: set[str] = set()
    drop = []
    for i in np.asarray(train_idx, np.int64):
        h = str(hashes.pixel[i])
        if not h:
            continue
        if h in seen:
            drop.append(int(i))
        seen.add(h)
    return drop
