"""Image preprocessors: small callables ``image -> image``, composable.

Each takes one ``(H, W, C)`` image (``uint8`` or float) and returns one image,
except :class:`TenCrop`, which returns a stack of ten. Parameters are plain
keywords; :class:`MeanSubtract` alone learns state (``fit``) and saves it as
JSON.

Examples
--------
>>> import numpy as np
>>> image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
>>> pipeline = Compose([AspectAwareResize(4), Scale()])
>>> out = pipeline(image)
>>> out.shape, out.dtype.name, float(out.max()) <= 1.0
((4, 4, 3), 'float32', True)
>>> TenCrop(4)(image).shape
(10, 4, 4, 3)
"""

from __future__ import annotations

import json
import os
from typing import Callable, Sequence

import numpy as np

from cvtoolkit.imageops import size_hw

__all__ = [
    "Compose",
    "Resize",
    "AspectAwareResize",
    "Scale",
    "MeanSubtract",
    "RandomPatch",
    "TenCrop",
    "ten_crops",
]


def check_image(image: np.ndarray, where: str = "image") -> np.ndarray:
    """``image`` as an array, or a ValueError unless it is a non-empty ``(H, W)`` / ``(H, W, C)`` image."""
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"{where} must be (H, W) or (H, W, C); got an array of shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0 or (image.ndim == 3 and image.shape[2] == 0):
        raise ValueError(f"{where} is empty (shape {image.shape}); it needs at least one pixel")
    if image.dtype.kind not in "biuf":
        raise ValueError(f"{where} has dtype {image.dtype}; expected integer, float or boolean pixels")
    return image


def _resize(image: np.ndarray, h: int, w: int, interpolation: int | None) -> np.ndarray:
    from cvtoolkit.imageops import resize_pixels  # the one resize rule

    return resize_pixels(check_image(image), (h, w), interpolation)


class Compose:
    """Apply preprocessors in order."""

    def __init__(self, steps: Sequence[Callable[[np.ndarray], np.ndarray]]):
        self.steps = list(steps)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        for step in self.steps:
            image = step(image)
        return image

    def __repr__(self) -> str:
        return f"Compose({self.steps!r})"


class Resize:
    """Resize to a fixed size, ignoring the aspect ratio.

    Parameters
    ----------
    size : int or (height, width)
    interpolation : int, optional
        An OpenCV flag; default ``INTER_AREA`` when shrinking, else linear.
    """

    def __init__(self, size: int | Sequence[int], interpolation: int | None = None):
        self.size = size
        self.interpolation = interpolation

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = size_hw(self.size)
        return _resize(image, h, w, self.interpolation)

    def __repr__(self) -> str:
        return f"Resize({self.size!r})"


class AspectAwareResize:
    """Resize the short side to ``size``, then centre-crop to ``size x size``.

    Keeps the aspect ratio (no squashing), at the cost of the borders.
    """

    def __init__(self, size: int, interpolation: int | None = None):
        self.size = size
        self.interpolation = interpolation

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if isinstance(self.size, bool) or not isinstance(self.size, (int, np.integer)) or self.size < 1:
            raise ValueError(f"AspectAwareResize size must be a positive int; got {self.size!r}")
        size = int(self.size)
        image = check_image(image)
        h, w = image.shape[:2]
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        image = _resize(image, nh, nw, self.interpolation)
        top, left = (nh - size) // 2, (nw - size) // 2
        return image[top : top + size, left : left + size]

    def __repr__(self) -> str:
        return f"AspectAwareResize({self.size!r})"


class Scale:
    """Convert to ``float32`` and multiply by ``factor`` (default ``1/255``: to [0, 1])."""

    def __init__(self, factor: float = 1.0 / 255.0):
        self.factor = factor

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return image.astype(np.float32) * np.float32(self.factor)

    def __repr__(self) -> str:
        return f"Scale({self.factor!r})"


class MeanSubtract:
    """Subtract per-channel means learned on the training split.

    Parameters
    ----------
    means : sequence of float, optional
        Per-channel (RGB) means; set by :meth:`fit` or :meth:`load`.

    Examples
    --------
    >>> import numpy as np
    >>> ms = MeanSubtract().fit(np.full((2, 3, 3, 3), 10, np.uint8))
    >>> ms.means
    [10.0, 10.0, 10.0]
    >>> float(ms(np.full((3, 3, 3), 12, np.uint8))[0, 0, 0])
    2.0
    """

    def __init__(self, means: Sequence[float] | None = None):
        self.means = None if means is None else [float(m) for m in means]

    def fit(self, images: np.ndarray | Sequence[np.ndarray]) -> "MeanSubtract":
        """Learn the per-channel means of a batch ``(N, H, W, C)`` / ``(N, H, W)`` or a list of images.

        Grey images (no channel axis) give one mean.
        """
        if isinstance(images, np.ndarray) and images.dtype != object and images.ndim in (3, 4):
            if images.size == 0:
                raise ValueError(f"MeanSubtract.fit needs at least one pixel; got images of shape {images.shape}")
            channels = images.shape[-1] if images.ndim == 4 else 1
            sums = images.reshape(-1, channels).astype(np.float64).mean(axis=0)
        else:
            totals, count = None, 0
            for i, im in enumerate(images):
                im = check_image(im, f"image {i}")
                flat = im.astype(np.float64).reshape(-1, im.shape[2] if im.ndim == 3 else 1)
                if totals is not None and flat.shape[1] != len(totals):
                    raise ValueError(
                        f"image {i} has {flat.shape[1]} channel(s), earlier images {len(totals)}; "
                        "convert them to one channel count first (cvtoolkit.data.to_rgb_uint8)"
                    )
                totals = flat.sum(axis=0) if totals is None else totals + flat.sum(axis=0)
                count += flat.shape[0]
            if not count:
                raise ValueError("MeanSubtract.fit needs at least one image")
            sums = totals / count
        self.means = [float(m) for m in sums]
        return self

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self.means is None:
            raise ValueError("MeanSubtract has no means: call fit(train_images) or load(path) first")
        image = check_image(image)
        channels = image.shape[2] if image.ndim == 3 else 1
        means = np.asarray(self.means, np.float32)
        if len(means) not in (1, channels):
            raise ValueError(
                f"MeanSubtract has {len(means)} channel means but the image has {channels} channel(s) "
                f"(shape {image.shape}); fit it on images like these, or convert them first"
            )
        if image.ndim == 2:
            return image.astype(np.float32) - means[0]
        return image.astype(np.float32) - means

    def save(self, path: str | os.PathLike) -> None:
        """Write the means as JSON (``{"means": [r, g, b]}``), atomically."""
        from cvtoolkit.io import write_json_atomic

        write_json_atomic(path, {"means": self.means, "order": "RGB"})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MeanSubtract":
        """Read means written by :meth:`save`."""
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh)["means"])

    def __repr__(self) -> str:
        return f"MeanSubtract({self.means!r})"


class RandomPatch:
    """Crop a random ``size`` patch (training-time augmentation).

    Parameters
    ----------
    size : int or (height, width)
    seed : int, optional
        Seed of the preprocessor's own random generator.
    """

    def __init__(self, size: int | Sequence[int], seed: int | None = None):
        self.size = size
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = size_hw(self.size)
        image = check_image(image)
        H, W = image.shape[:2]
        if h > H or w > W:
            raise ValueError(f"RandomPatch size {h}x{w} is larger than the image {H}x{W}")
        top = int(self._rng.integers(0, H - h + 1))
        left = int(self._rng.integers(0, W - w + 1))
        return image[top : top + h, left : left + w]

    def __repr__(self) -> str:
        return f"RandomPatch({self.size!r}, seed={self.seed!r})"


def ten_crops(image: np.ndarray, size: int | Sequence[int]) -> np.ndarray:
    """The four corner crops, the centre crop, and their horizontal mirrors.

    Returns an array ``(10, h, w, C)``: corners top-left, top-right,
    bottom-left, bottom-right, then centre, then the same five mirrored.
    """
    h, w = size_hw(size)
    image = check_image(image)
    H, W = image.shape[:2]
    if h > H or w > W:
        raise ValueError(f"crop size {h}x{w} is larger than the image {H}x{W}")
    top, left = (H - h) // 2, (W - w) // 2
    boxes = [(0, 0), (0, W - w), (H - h, 0), (H - h, W - w), (top, left)]
    crops = [image[y : y + h, x : x + w] for y, x in boxes]
    crops += [c[:, ::-1] for c in crops]
    return np.stack(crops)


class TenCrop:
    """Callable form of :func:`ten_crops` (over-sampling at test time)."""

    def __init__(self, size: int | Sequence[int]):
        self.size = size

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return ten_crops(image, self.size)

    def __repr__(self) -> str:
        return f"TenCrop({self.size!r})"
