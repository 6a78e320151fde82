"""Decode image files into one layout: ``uint8`` RGB, ``(H, W, 3)``.

OpenCV decodes; this module normalises what it returns so that every loader
and descriptor sees the same thing:

- channel order RGB (OpenCV gives BGR);
- grey images become 3 identical channels; RGBA drops alpha (composited on
  black); palette and CMYK images arrive as colour;
- 16-bit and float images are scaled to ``uint8`` (16-bit: ``>> 8``);
- truncated JPEG/PNG files (a decoder would silently return grey rows) and
  decompression bombs (more than ``max_pixels`` pixels) are rejected.

Problems are reported as :class:`UnreadableImageError`, whose message is the
reason a loader records in its skip list.

Examples
--------
>>> import numpy as np, cv2, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "red.png")
>>> _ = cv2.imwrite(path, np.dstack([np.zeros((4, 5), np.uint8)] * 2
...                                 + [np.full((4, 5), 255, np.uint8)]))  # BGR
>>> img = read_image(path)
>>> img.shape, img.dtype.name, img[0, 0].tolist()
((4, 5, 3), 'uint8', [255, 0, 0])
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm", ".pbm")
"""File extensions (lower case) the folder loaders pick up."""

DEFAULT_MAX_PIXELS = 89_478_485
"""Largest decoded image accepted (width x height), Pillow's default bomb limit."""


class UnreadableImageError(ValueError):
    """A file that cannot be decoded into an image; ``str(err)`` is the reason."""


def _header_pixels(data: bytes) -> tuple[int, str] | None:
    """(pixel count, "WxH") from the file header without decoding pixels, if known."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            return w * h, f"{w}x{h}"
    except Image.DecompressionBombError as err:
        # Pillow refuses to open anything over twice its own limit before the
        # size can be asked: the count is in its message (at least that limit).
        found = re.search(r"\((\d+) pixels\)", str(err))
        n = int(found.group(1)) if found else 2 * int(Image.MAX_IMAGE_PIXELS or 0) + 1
        return n, str(n)
    except Exception:  # not every format OpenCV reads is known to Pillow
        return None


def _is_truncated(data: bytes) -> bool:
    """True when a JPEG lacks its end-of-image marker or a PNG its IEND chunk."""
    if data[:3] == b"\xff\xd8\xff":
        # In entropy-coded JPEG data 0xFF is always stuffed, so FFD9 only
        # appears as the real end marker (possibly followed by padding).
        return b"\xff\xd9" not in data[-4096:]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in data[-64:]
    return False


def to_rgb_uint8(image: np.ndarray, *, bgr: bool = False) -> np.ndarray:
    """Normalise an array from a decoder to ``uint8`` RGB ``(H, W, 3)``.

    Parameters
    ----------
    image : ndarray
        ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``; ``uint8``,
        ``uint16`` or float in ``[0, 1]``.
    bgr : bool
        True when the channels are in OpenCV's BGR(A) order.

    Examples
    --------
    >>> import numpy as np
    >>> to_rgb_uint8(np.full((2, 2), 65535, np.uint16))[0, 0].tolist()
    [255, 255, 255]
    """
    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype.kind == "f":
        img = np.clip(np.nan_to_num(img) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    elif img.dtype.kind in "iu" and img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)  # negative values are black, not wrapped
    elif img.dtype != np.uint8:
        raise UnreadableImageError(f"unsupported pixel type {img.dtype} (expected integers, floats or booleans)")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise UnreadableImageError(f"unsupported image shape {image.shape}")
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    if img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.uint16)
        img = ((img[:, :, :3].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
    if bgr:
        img = img[:, :, ::-1]
    return np.ascontiguousarray(img)


def decode_image(data: bytes, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes to ``uint8`` RGB ``(H, W, 3)``.

    Raises
    ------
    UnreadableImageError
        Empty, truncated, not an image, or larger than ``max_pixels``.
    """
    if len(data) == 0:
        raise UnreadableImageError("empty file (0 bytes)")
    if max_pixels is not None:
        header = _header_pixels(data)
        if header is not None and header[0] > max_pixels:
            raise UnreadableImageError(
                f"{header[1]} pixels exceeds the limit of {max_pixels} "
                "(possible decompression bomb; raise max_pixels to accept it)"
            )
    if _is_truncated(data):
        raise UnreadableImageError("truncated image file (end marker missing)")
    buf = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise UnreadableImageError("not an image (OpenCV cannot decode it)")
    return to_rgb_uint8(img, bgr=img.ndim == 3 and img.shape[2] in (3, 4))


def read_image(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as ``uint8`` RGB ``(H, W, 3)``.

    The file is read in Python and decoded from memory, so paths with any
    unicode characters work on every platform.

    Parameters
    ----------
    path : path-like
        The image file.
    max_pixels : int or None
        Refuse images with more pixels than this (decompression bombs).

    Raises
    ------
    UnreadableImageError
        The reason the file cannot be used.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise UnreadableImageError(f"cannot read file ({err.strerror or err})") from err
    return decode_image(data, max_pixels=max_pixels)


def is_image_file(path: str | os.PathLike) -> bool:
    """True when the file name has one of :data:`IMAGE_EXTENSIONS`."""
    return str(path).lower().endswith(IMAGE_EXTENSIONS)
