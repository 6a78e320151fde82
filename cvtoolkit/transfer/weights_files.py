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
    "DEFAULT_DOWNLOAD",
    "default_backbone_rows",
    "download_default_weights",
    "find_backbone_weights",
    "infer_alpha",
    "keras_models_dir",
    "missing_weights_hint",
    "offline_requested",
    "parse_weights_file",
    "strongest_backbone_weights",
    "uses_backbone_size",
]

BACKBONE_NAMES = ("vgg16", "resnet50", "mobilenet", "mobilenetv2", "efficientnetb0")
"""Backbones of :mod:`cvtoolkit.transfer` (kept here so that checking names needs no Keras)."""

MOBILENET_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
"""``keras.applications.mobilenet.BASE_WEIGHT_PATH``: where Keras downloads MobileNet's weights from."""

DEFAULT_DOWNLOAD = "mobilenet_2_5_224_tf_no_top.h5"
"""The weights file ``compare`` downloads (through ``keras.utils.get_file``) when Keras's cache has none.

MobileNet v1, alpha 0.25, no top: 2.1 MB, and cheap enough on a CPU to run on
every default ``compare`` (Animals at 32 px: 0.941 against 0.709 for
ShallowNet from scratch). A stronger file already in the cache
(``mobilenet_1_0_224_tf_no_top.h5``, ``efficientnetb0_notop.h5``, ...) is
used instead and nothing is downloaded.
"""

WEIGHTS_URL_ENV = "CVTOOLKIT_WEIGHTS_URL"
"""Environment variable: a mirror folder (URL) to download :data:`DEFAULT_DOWNLOAD` from instead of Keras's."""

OFFLINE_ENV = "CVTOOLKIT_OFFLINE"
"""Environment variable: ``1`` is ``--offline`` (no download of backbone weights); the test suite sets it."""

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


def offline_requested(offline: bool = False) -> bool:
    """True with ``--offline`` or ``CVTOOLKIT_OFFLINE=1`` (also ``true``/``yes``) in the environment.

    Examples
    --------
    >>> offline_requested(True)
    True
    """
    return bool(offline) or os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def default_weights_url() -> str:
    """The URL of :data:`DEFAULT_DOWNLOAD`: Keras's own, or under ``$CVTOOLKIT_WEIGHTS_URL`` (a mirror).

    Examples
    --------
    >>> default_weights_url().endswith("/mobilenet/mobilenet_2_5_224_tf_no_top.h5")
    True
    """
    base = os.environ.get(WEIGHTS_URL_ENV) or MOBILENET_BASE_URL
    return base.rstrip("/") + "/" + DEFAULT_DOWNLOAD


def _reachable(url: str, timeout: float) -> str | None:
    """None when ``url`` answers within ``timeout`` seconds, else why not (DNS included: a thread bounds it)."""
    import threading
    import urllib.error
    import urllib.request

    outcome: list = []

    def probe() -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
                outcome.append(None)
        except urllib.error.HTTPError as err:
            outcome.append(f"HTTP {err.code} {err.reason}")
        except Exception as err:  # noqa: BLE001 - any failure means: no download
            outcome.append(str(getattr(err, "reason", None) or err) or type(err).__name__)

    thread = threading.Thread(target=probe, name="cvtoolkit-weights-probe", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if not outcome:
        return f"no answer within {timeout:g} s"
    return outcome[0]


_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _on_terminal() -> bool:
    import sys

    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def download_default_weights(*, timeout: float = 5.0) -> tuple[WeightsFile | None, str]:
    """Download :data:`DEFAULT_DOWNLOAD` into Keras's cache with ``keras.utils.get_file``, if the network answers.

    The server is asked first (a ``HEAD`` request, at most ``timeout``
    seconds, name lookup included), so an offline machine loses a fraction
    of a second, never a hang. The file is fetched by Keras's own downloader
    under a temporary name (``.<pid>.part``), checked to be an HDF5 file (a
    captive portal's page is not) and renamed into place, so an interrupted
    or wrong download never looks like weights.

    Returns
    -------
    (weights, message)
        The downloaded file (``None`` when the network or the server did
        not answer) and one line for the user: what was downloaded, or which
        file to put where.
    """
    url = default_weights_url()
    folder = keras_models_dir()
    target = folder / DEFAULT_DOWNLOAD
    why = _reachable(url, timeout)
    if why is not None:
        return None, (f"offline ({why}): no pretrained backbone row; put {url} in {folder}{os.sep} or pass "
                      "--weights (--offline skips this check)")
    import socket

    import keras

    part = folder / f"{DEFAULT_DOWNLOAD}.{os.getpid()}.part"  # two runs at once never share a partial file
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(max(timeout, 30.0))  # a stalled transfer fails instead of hanging
    try:
        folder.mkdir(parents=True, exist_ok=True)  # else get_file falls back to /tmp/.keras on a fresh machine
        part.unlink(missing_ok=True)  # a download killed earlier: get_file would take it as cached
        quiet = not _on_terminal() and keras.config.is_interactive_logging_enabled()
        if quiet:  # Keras's download bar only on a terminal, not as escape codes in a log file
            keras.config.disable_interactive_logging()
        try:
            got = keras.utils.get_file(part.name, origin=url, cache_subdir="models",
                                       cache_dir=str(folder.parent))
        finally:
            if quiet:
                keras.config.enable_interactive_logging()
        with open(got, "rb") as f:
            magic = f.read(8)
        if magic != _HDF5_MAGIC:  # a captive portal's page, an error page: never let it pass as weights
            os.unlink(got)
            raise ValueError("the server's answer is not an HDF5 weights file")
        os.replace(got, target)
    except Exception as err:  # noqa: BLE001 - the run goes on without the row
        return None, (f"could not download {url} to {target}: {err}; no pretrained backbone row (put "
                      f"{DEFAULT_DOWNLOAD} there by hand, or pass --weights PATH)")
    finally:
        socket.setdefaulttimeout(previous)
    info = parse_weights_file(target)
    return replace(info, path=str(target)), f"downloaded {DEFAULT_DOWNLOAD} (ImageNet weights) from {url} to {target}"


def missing_weights_hint() -> str:
    """One short line: which file would add a pretrained-backbone row to ``compare``, and where to put it.

    Examples
    --------
    >>> "mobilenet_2_5_224_tf_no_top.h5" in missing_weights_hint()
    True
    """
    return f"no pretrained backbone row: put {default_weights_url()} in {keras_models_dir()}{os.sep} or pass --weights"


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
    from cvtoolkit.data.views import reread_images

    images = getattr(train, "images", None)
    if images is None or images.dtype == object or images.ndim != 4 or min(images.shape[1:3]) >= size:
        return None
    parts = reread_images(train, test, image_size=size, progress=progress, desc=f"images at {size}x{size}")
    if parts is None or parts[0].dtype == object:
        return None
    return replace(train, images=parts[0]), replace(test, images=parts[1])
