"""Small image utilities shared by the data layer, the descriptors, training and the apps (NumPy + OpenCV only).

One definition each: :func:`size_hw` (an ``image_size`` as ``(height,
width)``), :func:`to_uint8` (the one float/16-bit/bool to ``uint8``
policy), :func:`to_gray` (RGB, RGBA or grey, one image or a batch, to
grey), :func:`to_rgb`, :func:`resize_image` and :func:`resize_batch`
(area averaging when shrinking, bilinear when growing: the one resize rule,
also behind :class:`cvtoolkit.data.Resize` and the decoders).

Examples
--------
>>> import numpy as np
>>> size_hw(32), size_hw((24, 48))
((32, 32), (24, 48))
>>> to_gray(np.full((2, 4, 5, 3), 255, np.uint8)).shape
(2, 4, 5)
>>> resize_batch([np.zeros((10, 20, 3), np.uint8), np.zeros((4, 4, 3), np.uint8)], (8, 8)).shape
(2, 8, 8, 3)
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np


def size_hw(image_size: int | Sequence[int], name: str = "size") -> tuple[int, int]:
    """``image_size`` as ``(height, width)``: an int is a square.

    ``name`` is the parameter named in the error message.

    Raises
    ------
    ValueError
        Not an int or a pair of ints, or not positive.

    Examples
    --------
    >>> size_hw(np.int64(8)), size_hw([3, 4], "image_size")
    ((8, 8), (3, 4))
    """
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        hw = (int(image_size), int(image_size))
    else:
        try:
            hw = tuple(int(s) for s in image_size)  # type: ignore[union-attr]
        except TypeError:
            raise ValueError(f"{name} must be an int or (height, width); got {image_size!r}") from None
        if len(hw) != 2:
            raise ValueError(f"{name} must be an int or (height, width); got {image_size!r}")
    if hw[0] < 1 or hw[1] < 1:
        raise ValueError(f"{name} must be positive; got {image_size!r}")
    return hw  # type: ignore[return-value]


def to_uint8(image: Any, *, where: str | None = None) -> np.ndarray:
    """Pixels as ``uint8`` by the one policy of cvtoolkit (docs/design.md, "Data in memory").

    ``uint8`` is kept; booleans become 0/255; ``uint16`` is 16-bit (shifted
    right by 8, as the decoders do); other integers are clipped to
    ``[0, 255]``; floats are read as ``[0, 1]`` (times 255) when every finite
    value of the array lies in ``[0, 1]``, else as ``[0, 255]``, then rounded
    half up and clipped. The decision is made once for the array handed in
    (a dataset, a batch or one image). NaN is black and infinities clip.

    Parameters
    ----------
    image : array-like
        Any shape.
    where : str, optional
        What the array is, for error messages; when given, NaN or infinities
        raise a ``ValueError`` instead (scikit-learn's input check).

    Raises
    ------
    ValueError
        Pixels that are not numbers or booleans; non-finite values when
        ``where`` is given.

    Examples
    --------
    >>> to_uint8(np.array([0.0, 0.5, 1.0])).tolist(), to_uint8(np.array([0.0, 127.6, 300.0])).tolist()
    ([0, 128, 255], [0, 128, 255])
    >>> to_uint8(np.array([65535, 256], np.uint16)).tolist(), to_uint8(np.array([-4, 300])).tolist()
    ([255, 1], [0, 255])
    """
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * np.uint8(255)
    if arr.dtype == np.uint16:
        return (arr >> 8).astype(np.uint8)
    if arr.dtype.kind in "iu":
        return np.clip(arr, 0, 255).astype(np.uint8)
    if arr.dtype.kind != "f":
        raise ValueError(f"{where or 'the image'} has dtype {arr.dtype}; expected uint8 pixels (or integers, "
                         "booleans, floats in [0, 1]); decode files with cvtoolkit.data.read_image")
    finite = np.isfinite(arr)
    if not finite.all():
        if where is not None:
            raise ValueError(f"{where} contains NaN or infinity; images must hold finite values")
        arr = np.where(np.isnan(arr), 0.0, arr)
    values = arr[finite] if not finite.all() else arr
    unit = values.size == 0 or (float(values.min()) >= 0.0 and float(values.max()) <= 1.0)
    scaled = arr.astype(np.float64) * 255.0 if unit else arr.astype(np.float64)
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


_as_uint8 = to_uint8


def to_gray(images: Any, *, keepdims: bool = False) -> np.ndarray:
    """One image or a batch to grey ``uint8`` (OpenCV's BT.601 weights, a whole batch in one call).

    Parameters
    ----------
    images : array-like
        One image ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` RGB or ``(H, W, 4)``
        RGBA, or a batch ``(N, H, W, C)`` of those. ``uint8`` is used as is;
        other types are converted by :func:`to_uint8`.
    keepdims : bool
        Keep a channel axis of 1 (``(..., H, W, 1)``); by default it is dropped.

    Raises
    ------
    ValueError
        An array that is not an image or a batch of images.

    Examples
    --------
    >>> to_gray(np.full((2, 3, 3), 255, np.uint8)).tolist()
    [[255, 255, 255], [255, 255, 255]]
    >>> to_gray(np.zeros((5, 4, 4, 3), np.uint8), keepdims=True).shape
    (5, 4, 4, 1)
    """
    images = np.asarray(images)
    if images.ndim == 2:
        grey = images
    elif images.ndim in (3, 4) and images.shape[-1] in (1, 3, 4):
        if images.shape[-1] == 1:
            grey = images[..., 0]
        else:
            code = cv2.COLOR_RGB2GRAY if images.shape[-1] == 3 else cv2.COLOR_RGBA2GRAY
            lead = images.shape[:-1]
            flat = np.ascontiguousarray(_as_uint8(images)).reshape(-1, lead[-1], images.shape[-1])
            grey = (cv2.cvtColor(flat, code) if flat.shape[0] else np.zeros(flat.shape[:2], np.uint8)).reshape(lead)
    else:
        raise ValueError(
            f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), or a batch of them; "
            f"got shape {images.shape}."
        )
    grey = np.ascontiguousarray(_as_uint8(grey))
    return grey[..., None] if keepdims else grey


def to_rgb(images: np.ndarray) -> np.ndarray:
    """Repeat a grey channel to three; RGB passes through.

    Examples
    --------
    >>> to_rgb(np.zeros((2, 2, 1), np.uint8)).shape
    (2, 2, 3)
    """
    if images.shape[-1] == 3:
        return images
    return np.repeat(images, 3, axis=-1)


_CV_RESIZE_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
"""Pixel types ``cv2.resize`` takes; others are resized through one of these."""


def shrunk_hw(hw: Sequence[int], max_side: int) -> tuple[int, int] | None:
    """``(height, width)`` scaled, aspect kept, so the longer side is ``max_side``; None when it already fits.

    The one "longer side at most N" rule: decoding with ``max_side``
    (:func:`cvtoolkit.data.read_image`) and dense descriptors use it.

    Examples
    --------
    >>> shrunk_hw((200, 400), 100), shrunk_hw((50, 60), 100)
    ((50, 100), None)
    """
    h, w = int(hw[0]), int(hw[1])
    if max(h, w) <= max_side:
        return None
    scale = max_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize_pixels(image: np.ndarray, hw: tuple[int, int], interpolation: int | None = None) -> np.ndarray:
    """Resize ``(H, W)`` or ``(H, W, C)`` to ``hw``, shape rank and dtype kept: the one resize of cvtoolkit.

    Area averaging when shrinking, bilinear when growing (unless
    ``interpolation``, an OpenCV flag, is given). Booleans are resized as
    0/255 and thresholded back; pixel types OpenCV does not take are resized
    in float64 and cast back (integers rounded).

    Examples
    --------
    >>> resize_pixels(np.ones((4, 4), np.int64), (2, 2)).dtype, resize_pixels(np.zeros((2, 2, 1), bool), (3, 3)).shape
    (dtype('int64'), (3, 3, 1))
    """
    h, w = hw
    if image.shape[0] == h and image.shape[1] == w:
        return image
    if interpolation is None:  # area when shrinking, linear when enlarging
        interpolation = cv2.INTER_AREA if h * w < image.shape[0] * image.shape[1] else cv2.INTER_LINEAR
    dtype = image.dtype
    if dtype == np.bool_:  # a mask: resize as 0/255 and threshold back
        work = image.astype(np.uint8) * np.uint8(255)
    elif dtype in _CV_RESIZE_DTYPES:
        work = image
    else:  # int8/int32/int64/float16...: resize in float64 (exact for 32-bit integers), cast back
        work = image.astype(np.float64)
    out = cv2.resize(work, (w, h), interpolation=interpolation)
    if dtype == np.bool_:
        out = out >= 128
    elif out.dtype != dtype:
        out = (np.rint(out) if dtype.kind in "iu" else out).astype(dtype)
    if out.ndim == 2 and image.ndim == 3:  # OpenCV drops a single channel axis
        out = out[:, :, None]
    return out


def resize_image(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize one ``(H, W, C)`` image to ``hw`` (:func:`resize_pixels`); a 2-D image gets a channel axis."""
    out = resize_pixels(image, hw)
    return out[:, :, None] if out.ndim == 2 else out


def resize_batch(batch: np.ndarray | list[np.ndarray], hw: tuple[int, int]) -> np.ndarray:
    """Resize every ``(H, W, C)`` image of a batch to ``hw``; returns one ``(N, h, w, C)`` array, dtype kept.

    Grey and colour images mixed in one list all become colour.
    """
    if isinstance(batch, np.ndarray) and batch.shape[1:3] == hw:
        return batch
    out = [resize_image(im, hw) for im in batch]
    if not out:
        c = batch.shape[3] if isinstance(batch, np.ndarray) else 3
        return np.zeros((0, *hw, c), np.uint8)
    if len({im.shape[2] for im in out}) > 1:
        out = [to_rgb(im) for im in out]
    return np.stack(out)
