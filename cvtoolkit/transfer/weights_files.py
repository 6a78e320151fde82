"""Which pretrained backbone weights are on disk, from file names alone (no TensorFlow).

``compare`` adds the strongest backbone row it has weights for to its
default rows: a file in Keras's cache folder (``$KERAS_HOME/models``, by
default ``~/.keras/models``) or the file given with ``--weights``. Whether a
file is there and what it holds (backbone, MobileNet width ``alpha``, with or
without the ImageNet top) is read from its name, exactly as Keras names its
downloads (``mobilenet_2_5_224_tf_no_top.h5`` is MobileNet, alpha 0.25) or as
Keras 3 names saved weights (``mobilenet_v1_0.75_224_imagenet.weights.h5``).
Nothing here imports Keras, so a classical-only ``compare`` stays light.

Examples
--------
>>> parse_weights_file("mobilenet_2_5_224_tf_no_top.h5")
WeightsFile(backbone='mobilenet', alpha=0.25, size=224, include_top=False, path=None)
>>> parse_weights_file("mobilenet_v1_0.75_224_imagenet.weights.h5").alpha
0.75
>>> infer_alpha("weights/mobilenet_1_0_224_tf.h5")
1.0
>>> parse_weights_file("my_weights.h5") is None
True
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

__all__ = [
    "BACKBONE_NAMES",
    "WeightsFile",
    "backbone_images",
    "backbone_row_options",
    "default_backbone_rows",
    "find_backbone_weights",
    "infer_alpha",
    "keras_models_dir",
    "missing_weights_hint",
    "parse_weights_file",
    "strongest_backbone_weights",
    "uses_backbone_size",
]

BACKBONE_NAMES = ("vgg16", "resnet50", "mobilenet", "mobilenetv2", "efficientnetb0")
"""Backbones of :mod:`cvtoolkit.transfer` (kept here so that checking names needs no Keras)."""

EFFICIENTNET_URL = "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5"
"""Where Keras downloads EfficientNetB0's no-top ImageNet weights from."""

# ImageNet top-1 accuracy of each backbone (Keras applications table): ranks the files found.
_TOP1 = {
    ("efficientnetb0", None): 0.771,
    ("resnet50", None): 0.749,
    ("vgg16", None): 0.713,
    ("mobilenetv2", 1.4): 0.750, ("mobilenetv2", 1.3): 0.744, ("mobilenetv2", 1.0): 0.713,
    ("mobilenetv2", 0.75): 0.698, ("mobilenetv2", 0.5): 0.652, ("mobilenetv2", 0.35): 0.603,
    ("mobilenet", 1.0): 0.704, ("mobilenet", 0.75): 0.684, ("mobilenet", 0.5): 0.633, ("mobilenet", 0.25): 0.498,
}

_MOBILENET_ALPHA = {"1_0": 1.0, "7_5": 0.75, "5_0": 0.5, "2_5": 0.25}

# (regex on the lower-cased file name, backbone); groups: alpha, size, top marker.
_PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"^mobilenet_(1_0|7_5|5_0|2_5)_(\d+)_tf(_no_top)?\.h5$"), "mobilenet"),
    (re.compile(r"^mobilenet_v1_(\d+(?:\.\d+)?)_(\d+)_imagenet(_no_top|_notop)?\.weights\.h5$"), "mobilenet"),
    (re.compile(r"^mobilenet_v2_weights_tf_dim_ordering_tf_kernels_(\d+(?:\.\d+)?)_(\d+)(_no_top)?\.h5$"),
     "mobilenetv2"),
    (re.compile(r"^mobilenet_v2_(\d+(?:\.\d+)?)_(\d+)_imagenet(_no_top|_notop)?\.weights\.h5$"), "mobilenetv2"),
    (re.compile(r"^vgg16_weights_tf_dim_ordering_tf_kernels()()(_notop)?\.h5$"), "vgg16"),
    (re.compile(r"^resnet50_weights_tf_dim_ordering_tf_kernels()()(_notop)?\.h5$"), "resnet50"),
    (re.compile(r"^efficientnetb0()()(_notop)?\.h5$"), "efficientnetb0"),
)


@dataclass(frozen=True)
class WeightsFile:
    """What a weights file's name says it holds.

    ``alpha`` is the MobileNet width (None for backbones without one),
    ``size`` the input side it was trained at (None when the name says
    nothing), ``include_top`` whether the 1000-class ImageNet top is in it
    (Keras 3 ``.weights.h5`` names do not say: assumed True).
    """

    backbone: str
    alpha: float | None
    size: int | None
    include_top: bool
    path: str | None = None

    @property
    def top1(self) -> float:
        """ImageNet top-1 accuracy of this backbone (0 when unknown): how strong its features are."""
        return _TOP1.get((self.backbone, self.alpha), 0.0)


def parse_weights_file(name: str | os.PathLike) -> WeightsFile | None:
    """Backbone, alpha, size and top of a weights file, from its name; None if the name is not Keras's.

    Examples
    --------
    >>> parse_weights_file("/x/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5")
    WeightsFile(backbone='mobilenetv2', alpha=0.35, size=96, include_top=False, path=None)
    >>> parse_weights_file("efficientnetb0_notop.h5").backbone
    'efficientnetb0'
    """
    base = Path(os.fspath(name)).name.lower()
    for pattern, backbone in _PATTERNS:
        m = pattern.match(base)
        if not m:
            continue
        alpha_text, size_text, top = m.groups()
        alpha = None
        if alpha_text:
            alpha = _MOBILENET_ALPHA.get(alpha_text) or float(alpha_text)
        elif backbone in ("mobilenet", "mobilenetv2"):
            alpha = 1.0
        include_top = not top
        return WeightsFile(backbone, alpha, int(size_text) if size_text else None, include_top)
    return None


def infer_alpha(path: str | os.PathLike | None) -> float | None:
    """The MobileNet width a weights file's name gives (None when it gives none).

    Examples
    --------
    >>> infer_alpha("mobilenet_5_0_160_tf_no_top.h5"), infer_alpha("imagenet"), infer_alpha(None)
    (0.5, None, None)
    """
    if path is None or str(path).lower() in ("imagenet", "none", "random"):
        return None
    info = parse_weights_file(path)
    return info.alpha if info is not None else None


def keras_models_dir() -> Path:
    """Keras's weights cache, ``$KERAS_HOME/models`` (default ``~/.keras/models``), without importing Keras.

    Examples
    --------
    >>> keras_models_dir().name
    'models'
    """
    from cvtoolkit.data.keras_home import keras_home

    return keras_home() / "models"


def find_backbone_weights(folders: Iterable[str | os.PathLike] | None = None) -> list[WeightsFile]:
    """Weights files of known backbones in ``folders`` (default: Keras's cache), strongest first."""
    found = []
    for folder in folders if folders is not None else [keras_models_dir()]:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            info = parse_weights_file(entry.name)
            if info is not None and entry.is_file():
                found.append(replace(info, path=str(entry)))
    return sorted(found, key=lambda w: (-w.top1, w.include_top, w.path or ""))


def strongest_backbone_weights(weights: str | os.PathLike | None = None) -> WeightsFile | None:
    """The weights for the strongest backbone row: ``weights`` if its name is known, else the best cached file.

    A ``weights`` path whose name says nothing about its backbone gives None
    (the row cannot be chosen without ``--methods``).
    """
    if weights is not None and str(weights).lower() not in ("imagenet", "none", "random"):
        info = parse_weights_file(weights)
        return replace(info, path=str(weights)) if info is not None else None
    found = find_backbone_weights()
    return found[0] if found else None


def backbone_row_options(info: WeightsFile) -> dict:
    """Feature options (``weights``, ``alpha``) that make a backbone row use the file ``info``."""
    options: dict = {"weights": info.path}
    if info.alpha is not None:
        options["alpha"] = info.alpha
    return options


def missing_weights_hint() -> str:
    """One line: which file would add the strongest deep row to ``compare``, and where to put it."""
    best = "efficientnetb0_notop.h5"
    return (f"no backbone weights found in {keras_models_dir()}{os.sep}: put {best} there "
            f"({EFFICIENTNET_URL}; any Keras application file such as "
            "mobilenet_2_5_224_tf_no_top.h5 works) or pass --weights PATH to add a pretrained-backbone row "
            "(<backbone>+logreg), the strongest deep baseline")


def default_backbone_rows(weights: str | os.PathLike | None = None,
                          classifier: str = "logreg") -> tuple[list[str], dict, str]:
    """The backbone row ``compare`` adds to its default rows, the options it needs, and one line to print.

    Parameters
    ----------
    weights : path, optional
        The ``--weights`` file; else the strongest file in Keras's cache.
    classifier : str
        Classifier of the row (logistic regression: the standard linear probe).

    Returns
    -------
    (rows, feature_options, message)
        ``rows`` is ``[]`` when no weights were found; ``message`` then says
        which file would add the strongest deep row and where to put it.

    Examples
    --------
    >>> rows, options, _ = default_backbone_rows("w/mobilenet_2_5_224_tf_no_top.h5")
    >>> rows, options
    (['mobilenet+logreg'], {'weights': 'w/mobilenet_2_5_224_tf_no_top.h5', 'alpha': 0.25})
    """
    info = strongest_backbone_weights(weights)
    if info is None:
        if weights is not None and str(weights).lower() not in ("imagenet", "none", "random"):
            return [], {}, (f"--weights {weights}: the file name does not say which backbone it is for, so no "
                            "backbone row was added; name one with --methods (e.g. mobilenet+logreg)")
        return [], {}, missing_weights_hint()
    row = f"{info.backbone}+{classifier}"
    width = f", alpha {info.alpha:g}" if info.alpha is not None else ""
    return [row], backbone_row_options(info), f"deep row {row}: {info.backbone}{width} ImageNet weights {info.path}"


def uses_backbone_size(methods: Iterable[str]) -> str | None:
    """The backbone whose input size images should be loaded at, or None.

    When every row is a backbone row, a ``+finetune`` row or a descriptor
    that resizes images itself (not ``raw`` pixels, not a CNN trained from
    scratch at the loaded size), loading at the backbone's own size (224)
    keeps the detail the backbone was trained on.

    Examples
    --------
    >>> uses_backbone_size(["mobilenet+logreg", "mobilenet+finetune", "combined+random_forest"])
    'mobilenet'
    >>> uses_backbone_size(["mobilenet+logreg", "raw+knn"]) is None
    True
    """
    backbone = None
    for name in methods:
        feat, plus, _ = str(name).strip().partition("+")
        if not plus or feat == "raw":
            return None
        if feat in BACKBONE_NAMES and backbone is None:
            backbone = feat
    return backbone


BACKBONE_INPUT_SIZE = 224
"""Input side every supported backbone's ImageNet weights were trained at."""


def backbone_images(train: Any, test: Any, *, size: int = BACKBONE_INPUT_SIZE, progress: bool = False):
    """``(train, test)`` re-read from their files at the backbone's input size, or None.

    A backbone sees detail that a 32x32 load has thrown away (Animals,
    ``compare --image-size 32``, MobileNet 0.25 + logistic regression: 0.856
    on the 32x32 images blown up to 224, 0.941 on the files read again at
    224). When both parts were loaded
    from files (``paths``) at a smaller size, backbone rows get the same
    images, same split, read again at ``size``; otherwise (no paths, images
    already large enough, a file unreadable now) None: use the loaded ones.
    """
    from cvtoolkit.data.folder import load_images

    images = getattr(train, "images", None)
    if (train.paths is None or test.paths is None or getattr(train, "kind", None) != "images"
            or images is None or images.dtype == object or images.ndim != 4 or min(images.shape[1:3]) >= size):
        return None
    paths = list(train.paths) + list(test.paths)
    loaded, kept, _ = load_images(paths, image_size=size, progress=progress, desc=f"images at {size}x{size}")
    if len(kept) != len(paths) or loaded.dtype == object:
        return None
    n = len(train)
    return replace(train, images=loaded[:n]), replace(test, images=loaded[n:])
