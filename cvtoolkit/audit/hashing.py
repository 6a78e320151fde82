"""Per-image fingerprints for the audit: a content hash, a perceptual hash and a few statistics.

Choices (measured on the 3000 Animals images, 2 shared cores; ``bench/bench_audit.py --hashes``):

- **exact duplicates**: BLAKE2b of the *decoded pixels* (with their shape),
  not of the file bytes. Two files with the same pixels but different
  metadata (EXIF, a PNG saved twice by different encoders, a lossless
  PNG/BMP/TIFF conversion) are the same training sample; hashing bytes
  would miss them. It costs one full decode per file, which the statistics
  need anyway (0.3 ms per Animals image, 0.12 ms for the hash).
- **near duplicates**: ImageHash's 64-bit DCT perceptual hash
  (``imagehash.phash``), computed on the image shrunk (``INTER_AREA``) so
  that its longest side is at most :data:`HASH_SIDE` pixels. Hashing the
  images of a compare run (resized to 32x32 by default) would throw away
  most of what distinguishes two photographs; hashing the file at full size
  gains nothing (phash itself reduces to 32x32). Resized (to 1/2 and 1/4),
  JPEG re-encoded (quality 60) and resized + re-encoded (quality 40) copies
  of 200 Animals images were all within Hamming distance 6 of their
  original (most within 2), while among the 4.5 million pairs of distinct
  Animals images only 1 was within 8 (difference hash: 9; average hash:
  927; wavelet hash: 1427). Hence :data:`NEAR_THRESHOLD` = 6 with phash.
  Speed per image (shrunk to 128 px, one thread): phash 0.20 ms, dhash
  0.11 ms, average hash 0.19 ms, wavelet hash 0.75 ms; decoding an Animals
  JPEG 0.5 ms. (cleanvision, which wraps the same ImageHash functions, was not
  installed: ImageHash alone gives the threshold and the cache key control.)
- On tiny images (8x8 digits, 28x28 MNIST) a 64-bit phash also matches
  look-alikes by different writers, not only copies, so near-duplicate
  matching needs a native side of at least 32 pixels
  (:data:`cvtoolkit.audit.duplicates.MIN_NEAR_SIDE`); smaller images count
  exact duplicates only.
- Datasets without files (``digits``, ``.npz``, pixel CSV, ``.h5`` image
  stores) are hashed from their arrays as loaded.

Hashes are cached beside the feature cache
(:func:`cvtoolkit.features.cache.default_cache_dir`), keyed on each file's
path, size and modification time (files) or on the dataset fingerprint
(arrays), so a second audit or compare does not decode anything again.

Examples
--------
>>> import numpy as np
>>> from cvtoolkit.data import Dataset
>>> rng = np.random.default_rng(0)
>>> img = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
>>> ds = Dataset(np.stack([img, img, img[::-1]]), [0, 0, 1], ["a", "b"])
>>> h = compute_hashes(ds, progress=False)
>>> h.pixel[0] == h.pixel[1], h.pixel[0] == h.pixel[2]
(True, False)
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cvtoolkit.data.dataset import Dataset
from cvtoolkit.errors import CvToolkitError

logger = logging.getLogger(__name__)

HASH_SIDE = 128
"""Longest side (pixels) an image is shrunk to before its perceptual hash."""

NEAR_THRESHOLD = 6
"""Largest Hamming distance (of 64 bits) between the phashes of two near duplicates."""

BLANK_STD = 2.0
"""A grey-level standard deviation below this marks a near-constant (blank) image."""

SCHEME = "audit-hashes-v1"
"""Cache key prefix: bump when what is hashed changes."""


@dataclass
class ImageHashes:
    """Fingerprints of every sample of a dataset, in dataset order.

    Attributes
    ----------
    pixel : ndarray of str
        BLAKE2b (128-bit, hex) of the decoded pixels and their shape; ``""``
        for a file that could no longer be read.
    phash : ndarray of uint64
        64-bit ImageHash ``phash`` of the image shrunk to :data:`HASH_SIDE`.
    height, width : ndarray of int
        Native size of each image.
    grey : ndarray of bool
        The three channels are (nearly) equal: a grey image.
    std : ndarray of float
        Standard deviation of the grey level (small: a blank image).
    """

    pixel: np.ndarray
    phash: np.ndarray
    height: np.ndarray
    width: np.ndarray
    grey: np.ndarray
    std: np.ndarray

    def __len__(self) -> int:
        return len(self.pixel)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("pixel", "phash", "height", "width", "grey", "std")}


def _imagehash():
    try:
        import imagehash
    except ImportError as err:  # pragma: no cover - a dependency
        raise CvToolkitError("the audit needs ImageHash: pip install ImageHash") from err
    return imagehash


def shrink(image: np.ndarray, side: int = HASH_SIDE) -> np.ndarray:
    """``image`` shrunk (``INTER_AREA``) so that its longest side is at most ``side``."""
    import cv2

    h, w = image.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)


def fingerprint_image(image: np.ndarray) -> tuple[str, int, int, int, bool, float]:
    """``(pixel hash, phash as int, height, width, grey, grey std)`` of one image array."""
    from PIL import Image

    img = np.ascontiguousarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    digest = hashlib.blake2b(f"{img.shape}{img.dtype}".encode(), digest_size=16)
    digest.update(img.view(np.uint8).reshape(-1).data)
    small = shrink(img if img.dtype == np.uint8 else np.clip(img, 0, 255).astype(np.uint8))
    if small.ndim == 3:
        spread = int((small.max(axis=2).astype(np.int16) - small.min(axis=2)).max()) if small.size else 0
        grey = spread <= 8  # JPEG chroma noise keeps grey photos a few levels off
        lum = small.mean(axis=2)
    else:
        grey, lum = True, small.astype(np.float64)
    ph = _imagehash().phash(Image.fromarray(small))
    value = int(np.packbits(ph.hash.reshape(-1)).view(">u8")[0])
    return digest.hexdigest(), value, int(img.shape[0]), int(img.shape[1]), bool(grey), float(lum.std())


def _fingerprint_file(path: str, max_pixels: int | None):
    from cvtoolkit.data.image_io import UnreadableImageError, read_image

    try:
        return fingerprint_image(read_image(path, max_pixels=max_pixels))
    except (UnreadableImageError, OSError) as err:
        logger.warning("%s: cannot hash (%s)", path, err)
        return "", 0, 0, 0, False, 0.0


def _cache_key(dataset: Dataset) -> str:
    h = hashlib.blake2b(SCHEME.encode(), digest_size=12)
    if dataset.paths is not None:
        for p in dataset.paths:
            try:
                st = os.stat(p)
                h.update(f"{os.path.abspath(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{p}\0missing\n".encode())
    else:
        h.update(dataset.fingerprint().encode())
    return h.hexdigest()


def _native_size(hashes: ImageHashes, dataset: Dataset) -> ImageHashes:
    """Arrays resized when loaded (8x8 digits at 32x32) keep their size before loading as the native size."""
    source = dataset.attrs.get("source_size") if dataset.paths is None else None
    if source is not None:
        hashes.height[:], hashes.width[:] = int(source[0]), int(source[1])
    return hashes


_CACHE_KINDS = {"pixel": "U", "phash": "u", "height": "i", "width": "i", "grey": "b", "std": "f"}
"""The arrays of a hash-cache entry and their dtype kinds."""


def _read_cache(cache_file: Path, n: int) -> ImageHashes:
    """The hashes stored in ``cache_file``, validated (every array, ``n`` rows, right dtype); raises on damage."""
    import zipfile

    if not zipfile.is_zipfile(cache_file):
        raise ValueError("not a NumPy .npz archive")
    with np.load(cache_file, allow_pickle=False) as z:
        if sorted(z.files) != sorted(_CACHE_KINDS):
            raise ValueError(f"holds {sorted(z.files)}, expected {sorted(_CACHE_KINDS)}")
        arrays = {k: z[k] for k in z.files}
    for key, kind in _CACHE_KINDS.items():
        a = arrays[key]
        if a.shape != (n,) or a.dtype.kind != kind:
            raise ValueError(f"{key} has {a.dtype} of shape {a.shape}, expected {n} values of kind {kind!r}")
    if not np.isfinite(arrays["std"]).all():
        raise ValueError("std holds NaN or infinite values")
    return ImageHashes(**arrays)


def compute_hashes(
    dataset: Dataset,
    *,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    max_pixels: int | None = None,
    progress: bool = True,
) -> ImageHashes:
    """Fingerprint every image of ``dataset`` (from its files when it has paths).

    Parameters
    ----------
    dataset : Dataset
        An image dataset (``kind == "images"``).
    cache_dir : path, optional
        Feature-cache folder; the hashes are kept in ``<cache_dir>/audit``.
        None: no cache.
    n_jobs : int, optional
        Threads (decoding and resizing release the GIL). Default: CPU count.
    max_pixels : int, optional
        Decompression-bomb limit when re-reading files.
    progress : bool
        tqdm progress bar.

    Returns
    -------
    ImageHashes
    """
    from tqdm.auto import tqdm

    if dataset.kind != "images":
        raise ValueError("hashes need images, not stored features")
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / "audit" / f"{_cache_key(dataset)}.npz"
        if cache_file.exists():
            try:
                hashes = _read_cache(cache_file, len(dataset))
                logger.debug("hashes from %s", cache_file)
                return _native_size(hashes, dataset)
            except Exception as err:  # any damage: discard it, recompute, say so once
                logger.warning("%s: damaged hash cache (%s); discarded, hashing the images again", cache_file, err)
                try:
                    cache_file.unlink()
                except OSError:
                    pass
    n = len(dataset)
    if dataset.paths is not None:
        items = list(dataset.paths)

        def work(i: int):
            return _fingerprint_file(items[i], max_pixels)
    else:
        images = dataset.images

        def work(i: int):
            return fingerprint_image(images[i])
    rows: list = [None] * n
    with ThreadPoolExecutor(max_workers=n_jobs or os.cpu_count() or 1) as pool, tqdm(
        total=n, desc="hashing images", unit="img", disable=not progress, leave=False
    ) as bar:
        for i, row in enumerate(pool.map(work, range(n), chunksize=64 if n > 1000 else 1)):
            rows[i] = row
            bar.update(1)
    hashes = ImageHashes(
        pixel=np.array([r[0] for r in rows], dtype="U32"),
        phash=np.array([r[1] for r in rows], dtype=np.uint64),
        height=np.array([r[2] for r in rows], dtype=np.int32),
        width=np.array([r[3] for r in rows], dtype=np.int32),
        grey=np.array([r[4] for r in rows], dtype=bool),
        std=np.array([r[5] for r in rows], dtype=np.float32),
    )
    hashes = _native_size(hashes, dataset)
    if cache_file is not None:
        from cvtoolkit.io import atomic_path

        try:
            with atomic_path(cache_file) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, **hashes.to_arrays())
        except OSError as err:
            logger.warning("cannot write the hash cache %s: %s", cache_file, err)
    return hashes
