"""Descriptors by name: ``make_features("hog")`` returns an unfitted transformer.

The names live in :data:`REGISTRY` (a :class:`cvtoolkit.registry.Registry`).
A preset is a ``functools.partial`` of its class (``make_hog`` is
``partial(HOG, size=96, pixels_per_cell=16, cells_per_block=2)``), so its
parameters are the class's, declared once. :func:`make_features` refuses a
keyword the named descriptor does not take (a typo such as ``orientation=12``
would otherwise go unnoticed); options that a command offers to every name
(``n_jobs=``, ``alpha=``, ``weights=``, ``image_size=``: see
:data:`COMMON_OPTIONS`) go in ``common=`` and each name takes those it knows.
Entries of other rooms (CNN backbones) are ``"module:function"`` strings
imported on first use: a missing module breaks only that name.

Examples
--------
>>> from cvtoolkit.features import FEATURES, make_features
>>> "hog" in FEATURES and "combined" in FEATURES
True
>>> make_features("hog", orientations=12, common={"n_jobs": 2, "weights": "imagenet"}).orientations
12
>>> make_features("hog", orientation=12)
Traceback (most recent call last):
...
cvtoolkit.errors.UnknownFeaturesError: features 'hog' take no option 'orientation' (did you mean 'orientations'?); valid: ...
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable, Mapping

from cvtoolkit.errors import UnknownFeaturesError  # noqa: F401  (defined in cvtoolkit.errors; importable here as before)
from cvtoolkit.registry import Entry, Registry

FeatureEntry = Entry
"""Old name of a registry entry (``pass_name`` is now ``entry.metadata["pass_name"]``)."""

COMMON_OPTIONS = ("n_jobs", "progress", "alpha", "weights", "image_size", "batch_size")
"""Options a command hands to every feature name it builds (``make_features(name, common=...)``)."""


_BACKBONE = "cvtoolkit.transfer.features:make_backbone_features"
_BOVW = "cvtoolkit.features.bovw"

REGISTRY = Registry("features", error=UnknownFeaturesError)
"""Every descriptor name; entries with ``metadata["pass_name"]`` are called as ``factory(name, **options)``."""

FEATURES: list[str] = []
"""Names :func:`make_features` knows, in registration order (kept up to date in place)."""


def register_features(name: str, target: Callable[..., Any] | str, description: str = "", *,
                      pass_name: bool = False, common_options: tuple[str, ...] | None = None,
                      overwrite: bool = False, replace: bool = False) -> None:
    """Add a descriptor to the registry (``target``: a factory or ``"module:function"``).

    ``pass_name``: call the factory as ``factory(name, **options)``.
    ``common_options``: the command-level options (:data:`COMMON_OPTIONS`)
    this name takes from ``make_features(..., common=)``, when its factory
    has a parameter of the same name that means something else (default:
    every one its signature takes). ``overwrite=True`` replaces a registered
    name (``replace=`` is its old spelling, deprecated: a ``DeprecationWarning``).

    Examples
    --------
    >>> from functools import partial
    >>> from cvtoolkit.features.presets import make_hog
    >>> register_features("hog16", partial(make_hog, orientations=16), "HOG, 16 orientations")
    >>> make_features("hog16").orientations
    16
    >>> unregister_features("hog16")
    """
    if replace:
        import warnings

        warnings.warn("register_features(replace=...) is deprecated; use overwrite=True (the one keyword of "
                      "every cvtoolkit registry)", DeprecationWarning, stacklevel=2)
    REGISTRY.register(name, target, description=description, overwrite=overwrite or replace, pass_name=pass_name,
                      common_options=common_options)
    FEATURES[:] = REGISTRY.names()


def unregister_features(name: str) -> None:
    """Remove a registry entry (no error if absent)."""
    REGISTRY.unregister(name)
    FEATURES[:] = REGISTRY.names()


_PRESET_NAMES = ("make_raw", "make_color_stats", "make_hsv_hist", "make_hog", "make_lbp", "make_hu", "make_haralick",
                 "make_combined", "make_dsift_spm", "make_dsift_fisher", "make_osift_fisher")
_P = "cvtoolkit.features.presets"  # imported on first use: the names stay cheap (no scikit-learn)
_PRESETS = (
    ("raw", f"{_P}:make_raw", "Raw pixels: 32x32 RGB resized and flattened, scaled to [0, 1]"),
    ("color_stats", f"{_P}:make_color_stats", "Colour statistics: mean and standard deviation of each HSV channel"),
    ("hsv_hist", f"{_P}:make_hsv_hist", "HSV colour histogram: joint 8x8x8 bins, L1-normalised"),
    ("hog", f"{_P}:make_hog", "HOG: 96x96 grey, 9 orientations, 16x16-pixel cells, 2x2-cell blocks, L2-Hys"),
    ("lbp", f"{_P}:make_lbp", "LBP: uniform patterns, 8 points at radius 1, histograms over a 4x4 grid of cells"),
    ("hu", f"{_P}:make_hu", "Hu moments: the seven log-scaled invariants of the grey image"),
    ("haralick", f"{_P}:make_haralick",
     "Haralick: 7 GLCM properties at distances 1, 2, 4, averaged over 4 angles, 32 grey levels"),
    ("combined", f"{_P}:make_combined",
     "Combined: HSV histogram (8x8x8) + coarse HOG (96x96, 16-pixel cells) + LBP (24 points, 3x3 grid), "
     "as a FeatureUnion"),
)
for _name, _factory, _description in _PRESETS:
    register_features(_name, _factory, _description)
# batch_size of a bag of words is its k-means mini-batch, not a command's (CNN) batch size.
for _name, _desc in (("sift", "SIFT"), ("rootsift", "RootSIFT"), ("orb", "ORB")):
    register_features(f"{_name}_bovw", f"{_BOVW}:make_{_name}_bovw", f"{_desc} keypoints + bag of visual words",
                      common_options=("n_jobs", "progress"))
# Dense descriptors + encodings: fitted on the training images (a vocabulary), read at their natural size.
_DENSE = (
    ("dsift_spm", "Dense RootSIFT (16-px patches every 8 px, longer side 300 px) + 400 visual words over a "
     "1x1/2x2/4x4 spatial pyramid (Lazebnik et al. 2006); use with chi2_svm"),
    ("dsift_fisher", "Dense multi-scale RootSIFT (16/24/32-px patches every 8 px, longer side 300 px) + improved "
     "Fisher vectors (PCA 64, 64 Gaussians, 1x1 + 2x2 pyramid); use with ridge"),
    ("osift_fisher", "Dense multi-scale opponent-colour RootSIFT + improved Fisher vectors (as dsift_fisher, three "
     "colour channels); use with ridge"),
)
for _name, _desc in _DENSE:
    register_features(_name, f"{_P}:make_{_name}", _desc, common_options=("n_jobs", "progress"))

DENSE_FEATURES = tuple(name for name, _ in _DENSE)
"""Names whose descriptor reads images at their natural size (``max_side``) and learns a vocabulary in ``fit``."""

for _name, _desc in (("vgg16", "VGG16"), ("resnet50", "ResNet50"), ("mobilenet", "MobileNet"),
                     ("mobilenetv2", "MobileNetV2"), ("efficientnetb0", "EfficientNetB0")):
    register_features(_name, _BACKBONE, f"{_desc} ImageNet features (Keras, pooled)", pass_name=True)


def _entry(name: str) -> Entry:
    return REGISTRY.entry(name)


def _keywords(factory: Callable[..., Any], *, skip_first: bool = False) -> set[str] | None:
    """The keyword names ``factory`` takes (``None``: any, it has ``**kwargs`` or no signature)."""
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        return None
    if skip_first and params:
        params = params[1:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (inspect.Parameter.KEYWORD_ONLY,
                                                  inspect.Parameter.POSITIONAL_OR_KEYWORD)}


def accepted_options(factory: Callable[..., Any], options: Mapping[str, Any], *, skip_first: bool = False
                     ) -> dict[str, Any]:
    """The subset of ``options`` that ``factory`` accepts (all of them if it takes ``**kwargs``)."""
    names = _keywords(factory, skip_first=skip_first)
    return dict(options) if names is None else {k: v for k, v in options.items() if k in names}


def feature_options(name: str) -> list[str] | None:
    """The keywords :func:`make_features` accepts for ``name`` (``None``: its factory takes any).

    Examples
    --------
    >>> "orientations" in feature_options("hog") and "P" in feature_options("lbp")
    True
    """
    entry = REGISTRY.entry(name)
    names = _keywords(REGISTRY.get(name), skip_first=entry.metadata.get("pass_name", False))
    return None if names is None else sorted(names)


def make_features(name: str, /, *, common: Mapping[str, Any] | None = None, **options: Any) -> Any:
    """An unfitted scikit-learn transformer for a registered descriptor name.

    Parameters
    ----------
    name : str
        One of :data:`FEATURES`.
    common : mapping, optional
        Options offered to every name (see :data:`COMMON_OPTIONS`): each is
        passed only if the descriptor takes it, so a command can give
        ``alpha=`` or ``weights=`` (for CNN backbones) with any name.
    **options
        Parameters of the named descriptor; one it does not take raises.

    Raises
    ------
    UnknownFeaturesError
        ``name`` is not registered, its module cannot be imported, or an
        option in ``options`` is not a parameter of the descriptor (the
        message lists the valid ones).

    Examples
    --------
    >>> make_features("lbp", P=8, R=1, common={"alpha": 0.25}).get_params()["P"]
    8
    """
    entry = REGISTRY.entry(name)
    pass_name = entry.metadata.get("pass_name", False)
    factory = REGISTRY.get(name)
    valid = _keywords(factory, skip_first=pass_name)
    unknown = [] if valid is None else [k for k in options if k not in valid]
    if unknown:
        hints = [m for k in unknown for m in difflib.get_close_matches(k, sorted(valid or ()), n=1)]
        hint = f" (did you mean {', '.join(map(repr, hints))}?)" if hints else ""
        raise UnknownFeaturesError(
            f"features {entry.name!r} take no option {', '.join(map(repr, unknown))}{hint}; "
            f"valid: {', '.join(sorted(valid or ()))}"
        )
    takes = entry.metadata.get("common_options")
    offered = {k: v for k, v in (common or {}).items() if takes is None or k in takes}
    kwargs = accepted_options(factory, offered, skip_first=pass_name)
    kwargs.update(options)
    if pass_name:
        return factory(entry.name, **kwargs)
    return factory(**kwargs)


def make_feature_union(names: list[str], options: Mapping[str, Any] | None = None, *,
                       common: Mapping[str, Any] | None = None) -> Any:
    """One transformer for several names (a ``FeatureUnion``; the transformer itself for one name).

    Each of ``options`` must be a parameter of at least one of the names
    (each name gets those it takes); ``common`` is offered to every name as
    in :func:`make_features`.

    Raises
    ------
    UnknownFeaturesError
        An unknown name, or an option none of the names takes.

    Examples
    --------
    >>> union = make_feature_union(["hog", "lbp"], {"orientations": 12, "P": 16})
    >>> union.get_params()["hog__orientations"], union.get_params()["lbp__P"]
    (12, 16)
    """
    options = dict(options or {})
    valid = {name: feature_options(name) for name in names}
    if any(v is None for v in valid.values()):  # a factory taking **kwargs: it takes anything
        taken = set(options)
    else:
        taken = {k for v in valid.values() for k in (v or ())}
    unknown = [k for k in options if k not in taken]
    if unknown:
        every = sorted(taken)
        hints = [m for k in unknown for m in difflib.get_close_matches(k, every, n=1)]
        hint = f" (did you mean {', '.join(map(repr, hints))}?)" if hints else ""
        raise UnknownFeaturesError(
            f"no features among {', '.join(names)} take option {', '.join(map(repr, unknown))}{hint}; "
            f"valid: {', '.join(every)}"
        )
    parts = [(name, make_features(name, common=common,
                                  **{k: v for k, v in options.items() if valid[name] is None or k in valid[name]}))
             for name in names]
    if len(parts) == 1:
        return parts[0][1]
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(parts)


def describe_features(name: str) -> str:
    """A one-line description of a registered name (with its width when cheap to know).

    Examples
    --------
    >>> describe_features("hsv_hist")
    'hsv_hist: HSV colour histogram: joint 8x8x8 bins, L1-normalised (512 values)'
    """
    entry = REGISTRY.entry(name)
    text = f"{name}: {entry.description.rstrip('.')}"
    if callable(entry.target) or str(entry.target).startswith(_P + ":"):
        try:
            transformer = REGISTRY.get(name)()
            width = len(transformer.get_feature_names_out())
            text += f" ({width} values)"
        except Exception:  # a factory without defaults or names: description only
            pass
    return text


def __getattr__(name: str) -> Any:
    """The presets (``make_hog``, ...) stay importable from here, loaded on first use."""
    if name in _PRESET_NAMES:
        from cvtoolkit.features import presets

        return getattr(presets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
