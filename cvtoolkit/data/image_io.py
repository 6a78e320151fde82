"""Decode image files into one layout: ``uint8`` RGB, ``(H, W, 3)``, upright.

libjpeg-turbo (through simplejpeg) decodes JPEGs, OpenCV everything else (and
the JPEGs simplejpeg refuses, such as CMYK); this module normalises what they
return so that every loader and descriptor sees the same thing:

- channel order RGB (OpenCV gives BGR; reordered after any resize);
- grey images become 3 identical channels; RGBA drops alpha (composited on
  black); palette and CMYK images arrive as colour;
- 16-bit and float images are scaled to ``uint8`` (16-bit: ``>> 8``);
- the EXIF orientation tag is applied (a phone photo tagged "rotate 90" is
  returned upright, as Pillow's ``exif_transpose`` shows it);
- truncated JPEG/PNG files (a decoder would silently return grey rows) and
  decompression bombs (more than ``max_pixels`` pixels) are rejected. The
  size is read from the header before decoding, for the format the file's
  first bytes name (the one OpenCV would decode, whatever the extension);
  formats whose size cannot be read before decoding (Radiance HDR, PFM, PAM,
  OpenEXR) are refused while a limit is set.

With a target size (``read_image(path, size=32)``, and ``load_images`` with
``image_size``), JPEGs are decoded at a reduced DCT scale (1/2, 1/4 or 1/8,
keeping at least :data:`REDUCED_DECODE_MARGIN` times the target) and then
area-resized once: several times less work than a full decode for small
targets, within about 2 grey levels (mean absolute difference) of a full
decode and area resize.

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

from cvtoolkit.errors import UnreadableImageError  # noqa: F401  (defined in cvtoolkit.errors; importable here as before)
from cvtoolkit.imageops import shrunk_hw, size_hw

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm", ".pbm")
"""File extensions (lower case) the folder loaders pick up."""

DEFAULT_MAX_PIXELS = 89_478_485
"""Largest decoded image accepted (width x height), Pillow's default bomb limit."""




_FORMATS = (
    # (name, test on the first bytes, Pillow's name for the format or None: size unknown before decoding)
    ("JPEG", lambda b: b[:3] == b"\xff\xd8\xff", "JPEG"),
    ("PNG", lambda b: b[:8] == b"\x89PNG\r\n\x1a\n", "PNG"),
    ("BMP", lambda b: b[:2] == b"BM", "BMP"),
    ("GIF", lambda b: b[:6] in (b"GIF87a", b"GIF89a"), "GIF"),
    ("TIFF", lambda b: b[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"), "TIFF"),
    ("WebP", lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP", "WEBP"),
    ("JPEG 2000", lambda b: b[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or b[:4] == b"\xffO\xffQ", "JPEG2000"),
    ("AVIF", lambda b: b[4:8] == b"ftyp", "AVIF"),
    ("Sun raster", lambda b: b[:4] == b"\x59\xa6\x6a\x95", "SUN"),
    ("PNM", lambda b: len(b) > 2 and b[:1] == b"P" and b[1:2] in b"123456" and b[2:3].isspace(), "PPM"),
    ("PAM", lambda b: b[:2] == b"P7", None),
    ("PFM", lambda b: b[:2] in (b"PF", b"Pf"), None),
    ("Radiance HDR", lambda b: b[:6] == b"#?RGBE" or b[:10] == b"#?RADIANCE", None),
    ("OpenEXR", lambda b: b[:4] == b"\x76\x2f\x31\x01", None),
)
"""Formats OpenCV may decode, told apart by their first bytes as OpenCV's own decoders do."""

DECODER_VERSION = 2
"""Bumped whenever decoded pixels change (2: reduced-scale JPEG decoding, EXIF orientation applied).
Stores and caches keyed on file paths record it, so that features decoded by another version are not reused."""

REDUCED_DECODE_MARGIN = 1.0
"""With a target size, JPEGs are decoded at the smallest DCT scale of 1/8, 1/4, 1/2 (or 1) that keeps at
least this many decoded pixels per target pixel along each side, then area-resized once. libjpeg-turbo's
scaled decoding keeps the low frequencies of each 8x8 block (an antialiased shrink for a fraction of a full
decode's work). Scales other than powers of two are not used: they cost as much as a full decode and differ
more from it. On the 3000 Animals images at 32x32 (one thread), margins 1, 1.5 and 2 cost 155, 163 and
179 us of CPU an image (OpenCV's full decode and area resize: 269), differ from full decoding + area
resize by 2.45, 1.82 and 0.86 grey levels on average, and moved raw+knn / hog+linear_svm accuracy by
+0.8/+0.3, +0.4/-1.2 and 0.0/+0.1 points (750 test images; none significant, McNemar p >= 0.18)."""

_ORIENTATION_TAG = 0x0112

# EXIF orientation -> the array operation that shows the image upright (as Pillow's exif_transpose).
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: a.swapaxes(0, 1)[:, ::-1],
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: a.swapaxes(0, 1)[::-1],
}


def sniff_format(data: bytes) -> tuple[str, str | None] | None:
    r"""``(name, Pillow format)`` of encoded image bytes from their signature, or None if unknown.

    The Pillow format is None for formats whose size cannot be read before decoding.

    Examples
    --------
    >>> sniff_format(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n")
    ('Radiance HDR', None)
    >>> sniff_format(b"\x89PNG\r\n\x1a\n....")
    ('PNG', 'PNG')
    """
    head = bytes(data[:16])
    for name, test, pillow_format in _FORMATS:
        if test(head):
            return name, pillow_format
    return None


def _pillow_header(data: bytes, pillow_format: str) -> tuple[int, str, int] | None:
    """(pixel count, "WxH", EXIF orientation) read by Pillow as ``pillow_format`` from the header alone.

    None when Pillow cannot read it as that format (so the size OpenCV would decode is unknown).
    """
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return None
    try:
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as im:
            w, h = im.size
            try:
                orientation = int(im.getexif().get(_ORIENTATION_TAG, 1) or 1)
            except Exception:  # a malformed EXIF block does not make the pixels unreadable
                orientation = 1
            return w * h, f"{w}x{h}", orientation
    except Image.DecompressionBombError as err:
        # Pillow refuses to open anything over twice its own limit before the
        # size can be asked: the count is in its message (at least that limit).
        found = re.search(r"\((\d+) pixels\)", str(err))
        n = int(found.group(1)) if found else 2 * int(Image.MAX_IMAGE_PIXELS or 0) + 1
        return n, str(n), 1
    except Exception:
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


def _as_uint8(image: np.ndarray) -> np.ndarray:
    """Pixels scaled to ``uint8`` and alpha composited on black; channel order and count kept (1 or 3)."""
    from cvtoolkit.imageops import to_uint8  # the one policy: 16-bit shifted, floats [0, 1] or [0, 255], ...

    try:
        img = to_uint8(image)
    except ValueError:
        raise UnreadableImageError(f"unsupported pixel type {np.asarray(image).dtype} "
                                   "(expected integers, floats or booleans)") from None
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise UnreadableImageError(f"unsupported image shape {image.shape}")
    if img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.uint16)
        img = ((img[:, :, :3].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
    return img


def _to_rgb(img: np.ndarray, bgr: bool) -> np.ndarray:
    """A ``uint8`` image of 1 or 3 channels (from :func:`_as_uint8`) as contiguous RGB."""
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    if bgr:
        return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img)


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
    return _to_rgb(_as_uint8(image), bgr)


def _resize(img: np.ndarray, hw: tuple[int, int] | None) -> np.ndarray:
    """Resize to ``hw`` by :func:`cvtoolkit.imageops.resize_pixels` (area shrinking, linear enlarging)."""
    from cvtoolkit.imageops import resize_pixels  # the one resize rule

    return img if hw is None else resize_pixels(img, hw)


def _jpeg_header(data: bytes) -> tuple[int, int] | None:
    """(height, width) of a JPEG as libjpeg-turbo (the decoder used) reads it, or None."""
    try:
        import simplejpeg
    except ImportError:  # pragma: no cover - simplejpeg is a dependency
        return None
    try:
        h, w, _, _ = simplejpeg.decode_jpeg_header(data)
    except Exception:
        return None
    return int(h), int(w)


def _decode_jpeg(data: bytes, hw: tuple[int, int] | None, stored: tuple[int, int]) -> np.ndarray | None:
    """RGB pixels by libjpeg-turbo, at the DCT scale chosen by ``REDUCED_DECODE_MARGIN`` for target ``hw``.

    ``stored`` is the (height, width) in the JPEG header. None when simplejpeg
    cannot decode the file (CMYK, damaged data...): OpenCV then tries.
    """
    try:
        import simplejpeg
    except ImportError:  # pragma: no cover - simplejpeg is a dependency
        return None
    kwargs = {}
    if hw is not None:
        H, W = stored
        th, tw = REDUCED_DECODE_MARGIN * hw[0], REDUCED_DECODE_MARGIN * hw[1]
        k = next((k for k in (8, 4, 2) if H / k >= th and W / k >= tw), 1)
        if k > 1:  # libjpeg-turbo picks the smallest scale N/8 that keeps these: exactly 1/k
            kwargs = {"min_height": -(-H // k), "min_width": -(-W // k)}
    try:
        return simplejpeg.decode_jpeg(data, colorspace="RGB", **kwargs)
    except Exception:
        return None


def _too_large(n: int, shown: str, max_pixels: int) -> UnreadableImageError:
    return UnreadableImageError(
        f"{shown} pixels exceeds the limit of {max_pixels} "
        "(possible decompression bomb; raise max_pixels to accept it)"
    )


def decode_image(
    data: bytes,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    size: int | tuple[int, int] | None = None,
    max_side: int | None = None,
) -> np.ndarray:
    """Decode encoded image bytes to ``uint8`` RGB ``(H, W, 3)``, upright.

    The size is read from the header before any pixel is decoded, by the codec
    that decodes the file (libjpeg-turbo for JPEG; for other formats Pillow, made
    to read the format that OpenCV will decode, named by the file's first bytes):
    files over ``max_pixels`` are refused, and so are formats whose size cannot
    be read before decoding (Radiance HDR, PFM, PAM, OpenEXR) unless
    ``max_pixels`` is None. The EXIF orientation tag is applied (as Pillow's
    ``exif_transpose``). With ``size``, the image is resized to it (area when
    shrinking, linear when enlarging, as :class:`~cvtoolkit.data.preprocessing.Resize`)
    before channels are reordered, and JPEGs are decoded at a reduced DCT scale
    (libjpeg-turbo, 1/2 to 1/8, keeping ``REDUCED_DECODE_MARGIN`` times ``size``) first.

    Parameters
    ----------
    data : bytes
        The encoded file.
    max_pixels : int or None
        Refuse images with more pixels than this (decompression bombs).
    size : int or (height, width), optional
        Return the image resized to this size (height and width of the upright image).
    max_side : int, optional
        Without ``size``: shrink (never enlarge) the image, keeping its aspect
        ratio, so its longer side is at most this many pixels (JPEGs are then
        decoded at a reduced DCT scale too). Dense descriptors read images so.

    Raises
    ------
    UnreadableImageError
        Empty, truncated, not an image, of a format whose size cannot be
        checked, or larger than ``max_pixels``.

    Examples
    --------
    >>> import numpy as np, cv2
    >>> ok, png = cv2.imencode(".png", np.zeros((40, 60, 3), np.uint8))
    >>> decode_image(png.tobytes(), size=(10, 15)).shape
    (10, 15, 3)
    >>> decode_image(png.tobytes(), max_side=30).shape
    (20, 30, 3)
    >>> try:
    ...     decode_image(png.tobytes(), max_pixels=100)
    ... except UnreadableImageError as err:
    ...     print(err)
    60x40 pixels exceeds the limit of 100 (possible decompression bomb; raise max_pixels to accept it)
    """
    if len(data) == 0:
        raise UnreadableImageError("empty file (0 bytes)")
    hw = None if size is None else size_hw(size)
    sniffed = sniff_format(data)
    if sniffed is None:
        raise UnreadableImageError("not an image (unknown file format)")
    name, pillow_format = sniffed
    if _is_truncated(data):
        raise UnreadableImageError("truncated image file (end marker missing)")
    orientation = 1
    jpeg_hw = _jpeg_header(data) if name == "JPEG" else None
    if jpeg_hw is not None:
        if max_pixels is not None and jpeg_hw[0] * jpeg_hw[1] > max_pixels:
            raise _too_large(jpeg_hw[0] * jpeg_hw[1], f"{jpeg_hw[1]}x{jpeg_hw[0]}", max_pixels)
        if b"Exif\x00\x00" in data:  # only then can there be an orientation tag (an APP1 Exif segment)
            header = _pillow_header(data, "JPEG")
            orientation = header[2] if header is not None else 1
    elif pillow_format is not None:
        header = _pillow_header(data, pillow_format)
        if header is not None:
            if max_pixels is not None and header[0] > max_pixels:
                raise _too_large(*header[:2], max_pixels)
            # OpenCV's TIFF decoder applies the orientation tag itself, even with IMREAD_UNCHANGED
            orientation = 1 if name == "TIFF" else header[2]
        elif max_pixels is not None:
            raise UnreadableImageError(f"not an image ({name} header unreadable, so its size cannot be checked)")
    elif max_pixels is not None:
        raise UnreadableImageError(
            f"{name} image refused: its size cannot be read before decoding, so the pixel limit cannot be "
            "enforced (convert it to PNG, or lift the limit: max_pixels=None, --max-pixels 0)"
        )
    if orientation not in _ORIENT:
        orientation = 1
    if hw is None and max_side is not None and jpeg_hw is not None:
        hw = shrunk_hw(jpeg_hw, max_side)  # the stored frame's; upright below (the longer side is the same)
        if orientation >= 5 and hw is not None:
            hw = (hw[1], hw[0])
    # the target in the stored frame: transposed for orientations that swap the sides
    stored_hw = hw if hw is None or orientation < 5 else (hw[1], hw[0])
    img = _decode_jpeg(data, stored_hw, jpeg_hw) if jpeg_hw is not None else None
    if img is not None:
        img = _resize(img, stored_hw)
        if img.ndim == 2 or img.shape[2] == 1:
            img = _to_rgb(img, bgr=False)
    else:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None or img.size == 0:
            raise UnreadableImageError("not an image (OpenCV cannot decode it)")
        if max_pixels is not None and img.shape[0] * img.shape[1] > max_pixels:  # the header said otherwise
            raise _too_large(img.shape[0] * img.shape[1], f"{img.shape[1]}x{img.shape[0]}", max_pixels)
        bgr = img.ndim == 3 and img.shape[2] in (3, 4)
        img = _to_rgb(_resize(_as_uint8(img), stored_hw), bgr)
    if orientation != 1:
        img = np.ascontiguousarray(_ORIENT[orientation](img))
    if size is None and max_side is not None:
        img = _resize(img, shrunk_hw(img.shape[:2], max_side))
    return img


def read_image(
    path: str | os.PathLike,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    size: int | tuple[int, int] | None = None,
    max_side: int | None = None,
) -> np.ndarray:
    """Read an image file as ``uint8`` RGB ``(H, W, 3)``, upright (EXIF orientation applied).

    The file is read in Python and decoded from memory, so paths with any
    unicode characters work on every platform.

    Parameters
    ----------
    path : path-like
        The image file.
    max_pixels : int or None
        Refuse images with more pixels than this (decompression bombs), and
        formats whose size cannot be read before decoding.
    size : int or (height, width), optional
        Resize to this size; JPEGs are then decoded at reduced scale (see
        :func:`decode_image`), several times faster for small targets.
    max_side : int, optional
        Without ``size``: shrink so the longer side is at most this (see :func:`decode_image`).

    Raises
    ------
    UnreadableImageError
        The reason the file cannot be used.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise UnreadableImageError(f"cannot read file ({err.strerror or err})") from err
    return decode_image(data, max_pixels=max_pixels, size=size, max_side=max_side)


def is_image_file(path: str | os.PathLike) -> bool:
    """True when the file name has one of :data:`IMAGE_EXTENSIONS`."""
    return str(path).lower().endswith(IMAGE_EXTENSIONS)
