"""Other views of the same split: the image files read again at the size a row needs.

A compare loads its images once, at ``--image-size`` (32 px by default), the
size raw-pixel rows and small CNNs want. Dense descriptors want the images at
their natural size (the papers describe a longer side of about 300 px): the
rows that need it get the same images, same split, read again from their files.

Examples
--------
>>> import numpy as np
>>> from cvtoolkit.data import Dataset
>>> ds = Dataset(np.zeros((2, 8, 8, 3), np.uint8), np.array([0, 1]), ["a", "b"])
>>> natural_size_images(ds, ds, max_side=300) is None  # no files to read again
True
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["natural_size_images", "median_longer_side", "reread_images"]


def reread_images(train: Any, test: Any, *, desc: str, progress: bool = False, **load_options: Any):
    """``(train_images, test_images)``: both parts' files decoded again (``load_images`` options), or None.

    None when the parts have no files (``digits``, ``.npz``, a store), are not
    images, or a file cannot be read now: the caller then uses the loaded
    images. The one re-read of the split behind :func:`natural_size_images`
    and the backbone rows' view (:func:`cvtoolkit.transfer.weights_files.backbone_images`).
    """
    from cvtoolkit.data.folder import load_images

    if (train.paths is None or test.paths is None or getattr(train, "kind", None) != "images"
            or getattr(train, "images", None) is None):
        return None
    paths = list(train.paths) + list(test.paths)
    loaded, kept, _ = load_images(paths, progress=progress, desc=desc, **load_options)
    if len(kept) != len(paths):
        return None
    return loaded[:len(train)], loaded[len(train):]


def natural_size_images(train: Any, test: Any, *, max_side: int | None, progress: bool = False):
    """``(train, test)`` re-read from their files at their own size (longer side at most ``max_side``), or None.

    None as :func:`reread_images`; the caller then uses the loaded images
    (descriptors shrink them to ``max_side`` themselves).
    """
    parts = reread_images(train, test, max_side=max_side, progress=progress,
                          desc=f"images at natural size (<= {max_side} px)")
    if parts is None:
        return None
    return replace(train, images=_objects(parts[0])), replace(test, images=_objects(parts[1]))


def _objects(images: np.ndarray) -> np.ndarray:
    """Images as a 1-D object array (the varying-size form), whatever ``load_images`` stacked."""
    if images.dtype == object:
        return images
    out = np.empty(len(images), dtype=object)
    for i, image in enumerate(images):
        out[i] = image
    return out


def median_longer_side(paths: Sequence[str] | None, *, sample: int = 25) -> int | None:
    """The median longer side, in pixels, of up to ``sample`` image files (headers only), or None.

    Examples
    --------
    >>> median_longer_side(None) is None
    True
    """
    if not paths:
        return None
    from PIL import Image

    step = max(1, len(paths) // sample)
    sides = []
    for path in list(paths)[::step][:sample]:
        try:
            with Image.open(path) as im:
                sides.append(max(im.size))
        except Exception:  # an unreadable file is the loader's business, not this estimate's
            continue
    return int(np.median(sides)) if sides else None
