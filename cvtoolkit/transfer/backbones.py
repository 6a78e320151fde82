"""``keras.applications`` backbones by name, with their weights and preprocessing.

A backbone is a pretrained convolutional base without its classifier. This
module knows, for each supported name, which ``keras.applications``
constructor builds it, which ``preprocess_input`` its ImageNet weights expect,
its default input size and the exact name of the weights file Keras
downloads. It adds three things Keras leaves to the caller:

- **weights from anywhere**: ``weights="imagenet"`` (Keras's cache, else a
  download), ``None`` (random) or a local file (legacy ``.h5`` or Keras 3
  ``.weights.h5``), with one-line errors that name the file;
- **offline clarity**: with no network, :class:`~cvtoolkit.errors.MissingDownloadError`
  names the file Keras needs and the folder to put it in, at once rather
  than after a network timeout;
- **preprocessing exactly once**: :class:`BackbonePreprocessing` is a layer
  that applies the backbone's own ``preprocess_input`` to raw ``0..255`` RGB
  pixels. :func:`build_feature_extractor` puts it in front of the base, so
  callers feed plain pixels and never normalise a second time. (EfficientNet's
  ``preprocess_input`` is the identity: the network rescales inside itself.)

Examples
--------
>>> base = build_backbone("mobilenet", alpha=0.25, weights=None,
...                       input_shape=(32, 32, 3))
>>> base.output_shape
(None, 256)
>>> imagenet_weights_file("mobilenet", alpha=0.25)
'mobilenet_2_5_224_tf_no_top.h5'
"""

from __future__ import annotations

import logging
import math
import os
import socket
import urllib.error
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import keras
from keras import layers, ops

from cvtoolkit.errors import MissingDownloadError, ModelError, UnknownModelError, one_line
from cvtoolkit.registry import Registry, RegistryMapping

logger = logging.getLogger(__name__)

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "BackbonePreprocessing",
    "MirrorImages",
    "REGISTRY",
    "build_backbone",
    "build_feature_extractor",
    "get_backbone_spec",
    "has_imagenet_layout",
    "imagenet_weights_file",
    "keras_cache_dir",
    "register_backbone",
]

DOWNLOAD_HOST = "storage.googleapis.com"
"""Host every supported backbone's ImageNet weights come from."""

CONNECT_TIMEOUT_S = 5.0
"""Seconds to wait for the download host before declaring the machine offline."""

IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)
"""The extra per-channel rescaling EfficientNet adds when built for ImageNet weights."""


# --------------------------------------------------------------------------- #
# Weights file names, exactly as keras/src/applications/*.py spells them.
# --------------------------------------------------------------------------- #
def _vgg16_file(alpha: float | None, rows: int, include_top: bool) -> str:
    suffix = "" if include_top else "_notop"
    return f"vgg16_weights_tf_dim_ordering_tf_kernels{suffix}.h5"


def _resnet50_file(alpha: float | None, rows: int, include_top: bool) -> str:
    suffix = "" if include_top else "_notop"
    return f"resnet50_weights_tf_dim_ordering_tf_kernels{suffix}.h5"


def _mobilenet_file(alpha: float | None, rows: int, include_top: bool) -> str:
    alpha_text = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0"}.get(float(alpha or 1.0), "2_5")
    rows = rows if rows in (128, 160, 192, 224) else 224  # Keras falls back to 224
    suffix = "" if include_top else "_no_top"
    return f"mobilenet_{alpha_text}_{rows}_tf{suffix}.h5"


def _mobilenetv2_file(alpha: float | None, rows: int, include_top: bool) -> str:
    rows = rows if rows in (96, 128, 160, 192, 224) else 224  # Keras falls back to 224
    suffix = "" if include_top else "_no_top"
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha or 1.0)}_{rows}{suffix}.h5"


def _efficientnetb0_file(alpha: float | None, rows: int, include_top: bool) -> str:
    return "efficientnetb0.h5" if include_top else "efficientnetb0_notop.h5"


@dataclass(frozen=True)
class BackboneSpec:
    """What cvtoolkit knows about one ``keras.applications`` backbone.

    Attributes
    ----------
    name : str
        Registry name (``"mobilenet"``).
    module : str
        ``keras.applications`` sub-module holding ``preprocess_input``.
    constructor : str
        Constructor name in ``keras.applications`` (``"MobileNet"``).
    default_size : int
        Side of the square input the ImageNet weights were trained at.
    weights_file : callable
        ``(alpha, rows, include_top) -> str``: the file name Keras downloads
        into its cache for ``weights="imagenet"``.
    imagenet_alphas : tuple of float
        Width multipliers with published ImageNet weights (empty: the
        backbone has no ``alpha``).
    imagenet_layout : bool
        True when Keras builds a different graph for ImageNet weights
        (EfficientNet adds a weightless per-channel rescaling layer).
    """

    name: str
    module: str
    constructor: str
    default_size: int
    weights_file: Callable[[float | None, int, bool], str]
    imagenet_alphas: tuple[float, ...] = ()
    imagenet_layout: bool = False

    @property
    def has_alpha(self) -> bool:
        """Whether the backbone takes a width multiplier ``alpha``."""
        return bool(self.imagenet_alphas)

    def constructor_fn(self) -> Callable[..., keras.Model]:
        """The ``keras.applications`` constructor."""
        return getattr(keras.applications, self.constructor)

    def preprocess_input(self, x: Any) -> Any:
        """The backbone's own ``keras.applications.<module>.preprocess_input``."""
        return getattr(keras.applications, self.module).preprocess_input(x)


REGISTRY = Registry("backbone", error=UnknownModelError,
                    normalize=lambda name: str(name).lower().replace("-", "").replace("_", ""))
"""Every backbone name -> its :class:`BackboneSpec` (a :class:`cvtoolkit.registry.Registry`)."""

BACKBONES: RegistryMapping = REGISTRY.as_mapping()
"""Supported backbones by name (a live view of :data:`REGISTRY`)."""


def register_backbone(name: str, target: BackboneSpec, *, overwrite: bool = False) -> None:
    """Add a ``keras.applications`` backbone under ``name`` (``overwrite=True`` to replace one).

    Examples
    --------
    >>> register_backbone("vgg16_copy", BackboneSpec("vgg16_copy", "vgg16", "VGG16", 224,
    ...                                             lambda alpha, rows, top: "vgg16.h5"))
    >>> get_backbone_spec("vgg16-copy").constructor
    'VGG16'
    >>> REGISTRY.unregister("vgg16_copy")
    """
    if not isinstance(target, BackboneSpec):
        raise TypeError(f"register_backbone({name!r}) takes a BackboneSpec; got {target!r}")
    REGISTRY.register(name, target, description=f"{target.constructor} (keras.applications)", overwrite=overwrite)


for _spec in (
    BackboneSpec("vgg16", "vgg16", "VGG16", 224, _vgg16_file),
    BackboneSpec("resnet50", "resnet50", "ResNet50", 224, _resnet50_file),
    BackboneSpec("mobilenet", "mobilenet", "MobileNet", 224, _mobilenet_file,
                 imagenet_alphas=(0.25, 0.5, 0.75, 1.0)),
    BackboneSpec("mobilenetv2", "mobilenet_v2", "MobileNetV2", 224, _mobilenetv2_file,
                 imagenet_alphas=(0.35, 0.5, 0.75, 1.0, 1.3, 1.4)),
    BackboneSpec("efficientnetb0", "efficientnet", "EfficientNetB0", 224, _efficientnetb0_file,
                 imagenet_layout=True),
):
    register_backbone(_spec.name, _spec)


def get_backbone_spec(name: str) -> BackboneSpec:
    """The :class:`BackboneSpec` registered under ``name`` (case-insensitive, ``-``/``_`` ignored).

    Raises
    ------
    UnknownModelError
        (a ``ModelError``) ``name`` is not a known backbone; the message lists the known names.

    Examples
    --------
    >>> get_backbone_spec("MobileNet").constructor
    'MobileNet'
    """
    return REGISTRY.get(str(name))


def _resolve_alpha(spec: BackboneSpec, alpha: float | None) -> float | None:
    if alpha is None:
        return 1.0 if spec.has_alpha else None
    if not spec.has_alpha:
        raise ModelError(
            f"backbone {spec.name!r} has no width multiplier (alpha={alpha}); "
            "alpha applies to mobilenet and mobilenetv2 only. Leave --alpha out."
        )
    alpha = float(alpha)
    if not alpha > 0:
        raise ModelError(f"alpha must be positive, got {alpha} for {spec.name}")
    return alpha


def _resolve_input_shape(spec: BackboneSpec, input_shape: Any) -> tuple[int, int, int]:
    if input_shape is None:
        return (spec.default_size, spec.default_size, 3)
    if isinstance(input_shape, int):
        return (input_shape, input_shape, 3)
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 2:
        shape = shape + (3,)
    if len(shape) != 3 or shape[2] != 3:
        raise ModelError(
            f"{spec.name} needs an input shape (height, width, 3), got {tuple(input_shape)}"
        )
    return shape  # type: ignore[return-value]


def imagenet_weights_file(
    name: str,
    *,
    alpha: float | None = None,
    input_shape: tuple[int, ...] | int | None = None,
    include_top: bool = False,
) -> str:
    """Name of the file Keras downloads for ``weights="imagenet"``.

    Parameters
    ----------
    name : str
        Backbone name (see :data:`BACKBONES`).
    alpha : float, optional
        Width multiplier (MobileNet, MobileNetV2); default 1.0.
    input_shape : tuple or int, optional
        Input shape; MobileNets have one file per input size (224 when the
        size has no file of its own, as Keras does).
    include_top : bool
        The file with the 1000-class ImageNet classifier.

    Examples
    --------
    >>> imagenet_weights_file("vgg16")
    'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5'
    >>> imagenet_weights_file("mobilenetv2", alpha=0.35, input_shape=(96, 96, 3))
    'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5'
    """
    spec = get_backbone_spec(name)
    alpha = _resolve_alpha(spec, alpha)
    shape = _resolve_input_shape(spec, input_shape)
    rows = shape[0] if shape[0] == shape[1] else -1
    return spec.weights_file(alpha, rows, include_top)


def keras_cache_dir() -> Path:
    """The folder where Keras looks for (and downloads) application weights.

    ``$KERAS_HOME/models`` when ``KERAS_HOME`` is set, else
    ``~/.keras/models``; like Keras, ``/tmp/.keras/models`` when that home is
    not writable.

    Examples
    --------
    >>> keras_cache_dir().name
    'models'
    """
    try:  # Keras's own answer (read once, when Keras was imported)
        from keras.src.backend.config import keras_home

        home = keras_home()
    except ImportError:  # pragma: no cover - private API moved
        from cvtoolkit.data.keras_home import keras_home as env_home

        home = str(env_home())
    base = os.path.expanduser(home)
    if os.path.isdir(base) and not os.access(base, os.W_OK):
        base = os.path.join("/tmp", ".keras")
    return Path(base) / "models"


def _network_available(
    host: str = DOWNLOAD_HOST, port: int = 443, timeout: float = CONNECT_TIMEOUT_S
) -> bool:
    """Whether ``host`` accepts a connection on ``port`` within ``timeout`` seconds.

    Behind an HTTP(S) proxy a direct connection proves nothing, so the check
    is skipped (True) and the download itself decides.
    """
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _is_download_failure(err: BaseException) -> bool:
    """True for what ``keras.utils.get_file`` raises when it cannot fetch a file."""
    if isinstance(err, (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError)):
        return True
    text = str(err)
    return text.startswith("URL fetch failure") or "Incomplete or corrupted file" in text


def _missing_download(spec: BackboneSpec, file_name: str, reason: str) -> MissingDownloadError:
    folder = keras_cache_dir()
    return MissingDownloadError(
        f"cannot download the ImageNet weights of {spec.name} ({reason}): put "
        f"{file_name} in {folder}{os.sep} (Keras's cache), or pass --weights PATH "
        "(weights=PATH) to a local copy"
    )


def _add_imagenet_rescaling(model: keras.Model) -> keras.Model:
    """Rebuild ``model`` with the weightless layer Keras adds for ImageNet weights.

    EfficientNet built with ``weights="imagenet"`` has, after its
    ``Normalization`` layer, a ``Rescaling(1/sqrt(stddev))`` that the
    ``weights=None`` graph lacks. Weights files carry no trace of it (it has
    no variables), so loading ImageNet weights from a local file needs it put
    back, or every input is off by a factor of about two.
    """
    done = []

    def call_function(layer, *args, **kwargs):
        out = layer(*args, **kwargs)
        if isinstance(layer, layers.Normalization) and not done:
            done.append(layer.name)
            out = layers.Rescaling(
                [1.0 / math.sqrt(s) for s in IMAGENET_STDDEV_RGB],
                name="imagenet_stddev_rescaling",
            )(out)
        return out

    rebuilt = keras.models.clone_model(model, call_function=call_function)
    if not done:  # pragma: no cover - Keras changed EfficientNet's stem
        raise ModelError(f"cannot find the Normalization layer of {model.name}")
    return rebuilt


def has_imagenet_layout(model: keras.Model) -> bool:
    """Whether ``model`` (a backbone, or a model holding one) has the ImageNet-only layers.

    True for an EfficientNet built for ImageNet weights (it rescales by the
    ImageNet standard deviation after normalising); False for every other
    graph. Used to rebuild an identical graph before setting saved weights.
    """
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            if has_imagenet_layout(layer):
                return True
        elif isinstance(layer, layers.Rescaling) and not isinstance(layer.scale, (int, float)):
            return True  # per-channel scale: the stddev layer (1/255 is a float)
    return False


def _build_architecture(
    spec: BackboneSpec,
    *,
    input_shape: tuple[int, int, int],
    alpha: float | None,
    pooling: str | None,
    include_top: bool,
    classes: int,
    imagenet_layout: bool,
) -> keras.Model:
    """The backbone graph with random weights (never downloads)."""
    kwargs: dict[str, Any] = dict(
        include_top=include_top, weights=None, input_shape=input_shape, pooling=pooling,
        classes=classes,
    )
    if spec.has_alpha:
        kwargs["alpha"] = alpha
    try:
        model = spec.constructor_fn()(**kwargs)
    except ValueError as err:
        raise ModelError(f"cannot build {spec.name} with input shape {input_shape}: {err}") from err
    if imagenet_layout and spec.imagenet_layout:
        model = _add_imagenet_rescaling(model)
    return model


def _load_weights_file(model: keras.Model, path: Path, what: str) -> None:
    """Load ``path`` into ``model``; any failure becomes a :class:`ModelError`."""
    name = path.name.lower()
    if not name.endswith((".h5", ".hdf5", ".keras")):
        raise ModelError(
            f"weights file {path} has an unknown extension; expected a Keras weights "
            "file (.h5, .weights.h5 or .keras)"
        )
    try:
        with warnings.catch_warnings():
            # Keras 3 warns once per unmatched sub-layer before raising; the
            # error below says it in one line.
            warnings.simplefilter("ignore")
            model.load_weights(str(path))
    except (ValueError, KeyError, OSError, TypeError) as err:
        detail = one_line(err, 243)
        raise ModelError(
            f"cannot load weights file {path} into {what}: {detail}. The file must hold "
            "weights of the same architecture (backbone, alpha, with or without the top)"
        ) from err
    logger.info("loaded weights of %s from %s", what, path)


def build_backbone(
    name: str,
    *,
    input_shape: tuple[int, ...] | int | None = None,
    alpha: float | None = None,
    weights: "str | os.PathLike | None" = "imagenet",
    pooling: str | None = "avg",
    include_top: bool = False,
    classes: int = 1000,
    imagenet_layout: bool | None = None,
) -> keras.Model:
    """Build a ``keras.applications`` backbone, weights resolved the cvtoolkit way.

    The returned model is Keras's own: it expects inputs already passed
    through the backbone's ``preprocess_input`` (see
    :func:`build_feature_extractor` for a model that takes raw pixels).

    Parameters
    ----------
    name : str
        One of :data:`BACKBONES`: ``vgg16``, ``resnet50``, ``mobilenet``,
        ``mobilenetv2``, ``efficientnetb0``.
    input_shape : tuple or int, optional
        ``(height, width, 3)`` (an int means a square); default the
        backbone's ImageNet size, 224. Keras's minimum is 32.
    alpha : float, optional
        Width multiplier of MobileNet / MobileNetV2; default: the width a
        weights file's name gives (``mobilenet_2_5_224_tf_no_top.h5``: 0.25),
        else 1.0. An error for the other backbones.
    weights : "imagenet", None or path
        ``"imagenet"``: Keras's cached file, else downloaded by Keras.
        ``None``: random initialisation. A path: a local weights file, legacy
        ``.h5`` (as Keras downloads them) or Keras 3 ``.weights.h5``. For
        EfficientNet, a file named like Keras's ImageNet file
        (``efficientnetb0_notop.h5``) gets the ImageNet graph, with its extra
        input rescaling.
    pooling : {"avg", "max", None}
        Global pooling of the last feature map (no-top models only).
    include_top : bool
        Keep the ImageNet classifier (``classes`` outputs).
    classes : int
        Classes of the top (1000 for ImageNet weights).
    imagenet_layout : bool, optional
        Build the graph Keras builds for ImageNet weights even though the
        weights come from elsewhere (only EfficientNet differs). Default:
        True for ``"imagenet"`` and for a file named like Keras's ImageNet
        file, else False.

    Returns
    -------
    keras.Model

    Raises
    ------
    ModelError
        Unknown name, ``alpha`` on a backbone without one, a weights file
        that is missing or does not fit the architecture.
    MissingDownloadError
        ``weights="imagenet"``, the file is not in Keras's cache and cannot
        be downloaded; the message names the file and the folder.

    Examples
    --------
    >>> model = build_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
    >>> model.output_shape
    (None, 512)
    """
    spec = get_backbone_spec(name)
    if alpha is None and spec.has_alpha and weights is not None:
        # Keras's file names say the width: mobilenet_2_5_224_tf_no_top.h5 is alpha 0.25.
        from cvtoolkit.transfer.weights_files import infer_alpha

        alpha = infer_alpha(weights)
    alpha = _resolve_alpha(spec, alpha)
    shape = _resolve_input_shape(spec, input_shape)
    if pooling not in ("avg", "max", None):
        raise ModelError(f"pooling must be 'avg', 'max' or None, got {pooling!r}")
    what = spec.name + (f" (alpha {alpha})" if spec.has_alpha else "")
    build = dict(
        input_shape=shape, alpha=alpha, pooling=pooling, include_top=include_top,
        classes=int(classes),
    )
    if isinstance(weights, str) and weights.lower() in ("none", "random"):
        weights = None
    if weights is None:
        return _build_architecture(spec, imagenet_layout=bool(imagenet_layout), **build)

    if isinstance(weights, str) and weights == "imagenet":
        return _build_imagenet(spec, what=what, **build)

    path = Path(os.fspath(weights)).expanduser()
    if not path.is_file():
        raise ModelError(
            f"weights file {path} not found; expected a Keras weights file (.h5 or "
            f".weights.h5) for {what}. Check the path, or use weights='imagenet'"
        )
    if imagenet_layout is None:
        imagenet_layout = path.name == spec.weights_file(alpha, shape[0], include_top)
    model = _build_architecture(spec, imagenet_layout=imagenet_layout, **build)
    _load_weights_file(model, path, what)
    return model


def _build_imagenet(
    spec: BackboneSpec,
    *,
    what: str,
    input_shape: tuple[int, int, int],
    alpha: float | None,
    pooling: str | None,
    include_top: bool,
    classes: int,
) -> keras.Model:
    """``weights="imagenet"``: Keras's cache, else Keras's download, else a clear error."""
    if spec.has_alpha and alpha not in spec.imagenet_alphas:
        raise ModelError(
            f"{spec.name} has ImageNet weights for alpha "
            f"{', '.join(str(a) for a in spec.imagenet_alphas)} only, got alpha={alpha}"
        )
    rows = input_shape[0] if input_shape[0] == input_shape[1] else -1
    file_name = spec.weights_file(alpha, rows, include_top)
    cached = keras_cache_dir() / file_name
    if not cached.is_file():
        if not _network_available():
            raise _missing_download(spec, file_name, f"{DOWNLOAD_HOST} is unreachable")
        logger.info("downloading %s into %s", file_name, cached.parent)
    kwargs: dict[str, Any] = dict(
        include_top=include_top, weights="imagenet", input_shape=input_shape,
        pooling=pooling, classes=classes,
    )
    if spec.has_alpha:
        kwargs["alpha"] = alpha
    try:
        with warnings.catch_warnings():
            # "Weights for input shape (224, 224) will be loaded": expected.
            warnings.filterwarnings("ignore", message=".*will be loaded as the default")
            model = spec.constructor_fn()(**kwargs)
    except Exception as err:  # get_file raises bare Exception on URL errors
        if _is_download_failure(err):
            raise _missing_download(spec, file_name, one_line(err, None)) from err
        if isinstance(err, ValueError):
            raise ModelError(f"cannot build {what} with ImageNet weights: {err}") from err
        raise
    logger.info("loaded ImageNet weights of %s (%s)", what, file_name)
    return model


@keras.saving.register_keras_serializable(package="cvtoolkit")
class BackbonePreprocessing(layers.Layer):
    """Apply a backbone's own ``preprocess_input`` to ``0..255`` RGB pixels.

    Putting the preprocessing inside the model makes it impossible to apply
    twice: callers feed raw pixels, and the saved model carries it. The layer
    calls ``keras.applications.<module>.preprocess_input`` (``"tf"`` mode to
    ``[-1, 1]`` for MobileNets, ``"caffe"`` mode BGR mean subtraction for
    VGG16/ResNet50, the identity for EfficientNet, which rescales inside).

    Parameters
    ----------
    backbone : str
        Backbone name (see :data:`BACKBONES`).

    Examples
    --------
    >>> import numpy as np
    >>> layer = BackbonePreprocessing("mobilenet")
    >>> np.asarray(layer(np.array([[[[0.0, 127.5, 255.0]]]]))).round(3).tolist()
    [[[[-1.0, 0.0, 1.0]]]]
    """

    def __init__(self, backbone: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.backbone = get_backbone_spec(backbone).name

    def call(self, inputs: Any) -> Any:
        # Multiplying by 1 makes a fresh tensor: preprocess_input divides in
        # place, which on the torch backend would alter the caller's array.
        x = ops.multiply(ops.cast(inputs, self.compute_dtype), 1.0)
        return BACKBONES[self.backbone].preprocess_input(x)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config["backbone"] = self.backbone
        return config


@keras.saving.register_keras_serializable(package="cvtoolkit")
class MirrorImages(layers.Layer):
    """Mirror ``(N, H, W, C)`` images left-right (deterministic; for test-time flip averaging).

    Examples
    --------
    >>> import numpy as np
    >>> np.asarray(MirrorImages()(np.arange(3.0).reshape(1, 1, 3, 1))).ravel().tolist()
    [2.0, 1.0, 0.0]
    """

    def call(self, inputs: Any) -> Any:
        return ops.flip(inputs, axis=2)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


def build_feature_extractor(
    name: str,
    *,
    image_size: int | tuple[int, int] | None = None,
    alpha: float | None = None,
    weights: "str | os.PathLike | None" = "imagenet",
    pooling: str = "avg",
    imagenet_layout: bool | None = None,
) -> keras.Model:
    """A model from raw ``0..255`` RGB pixels to pooled backbone features.

    ``inputs -> BackbonePreprocessing -> base(x, training=False)``, so the
    backbone's preprocessing happens exactly once, inside the model, and
    batch-norm layers always run in inference mode.

    Parameters
    ----------
    name, alpha, weights, imagenet_layout
        As :func:`build_backbone`.
    image_size : int or (height, width), optional
        Input size; default the backbone's (224).
    pooling : {"avg", "max"}
        Global pooling, so each image gives one fixed-width row.

    Returns
    -------
    keras.Model
        Input ``(None, H, W, 3)`` float pixels in ``0..255``; output
        ``(None, D)``. Its last layer is the backbone (``model.layers[-1]``).

    Examples
    --------
    >>> model = build_feature_extractor("mobilenet", alpha=0.25, weights=None,
    ...                                 image_size=32)
    >>> model.input_shape, model.output_shape
    ((None, 32, 32, 3), (None, 256))
    """
    if pooling not in ("avg", "max"):
        raise ModelError(f"feature pooling must be 'avg' or 'max', got {pooling!r}")
    spec = get_backbone_spec(name)
    shape = _resolve_input_shape(spec, image_size)
    base = build_backbone(
        spec.name, input_shape=shape, alpha=alpha, weights=weights, pooling=pooling,
        imagenet_layout=imagenet_layout,
    )
    inputs = keras.Input(shape=shape, name="pixels")
    x = BackbonePreprocessing(spec.name, name="preprocess")(inputs)
    outputs = base(x, training=False)
    return keras.Model(inputs, outputs, name=f"{spec.name}_features")
