"""Feature options by name: ``--set KEY=VALUE`` parsing, checking against the descriptors, one extractor.

The library side of ``cvtoolkit extract`` (the command only parses flags,
calls :func:`make_extractor` and prints) and of any caller that builds
descriptors from text options; also :func:`image_size_for`, the size a
dataset is loaded at for a given descriptor (the rule itself is
:func:`cvtoolkit.data.sizes.default_image_size`).

Examples
--------
>>> parse_options(["size=96", "color_space=lab"])
{'size': 96, 'color_space': 'lab'}
>>> "orientations" in option_names(["hog"])
True
"""

from __future__ import annotations

import ast
from typing import Any

from cvtoolkit.errors import CvToolkitError, ExtractArgumentError

__all__ = [
    "build_extractor",
    "check_options",
    "check_values",
    "image_size_for",
    "make_extractor",
    "option_names",
    "parse_options",
]


def parse_options(items: list[str]) -> dict[str, Any]:
    """``["size=96", "color_space=lab"]`` to ``{"size": 96, "color_space": "lab"}``.

    Values are Python literals when they parse as one (numbers, tuples,
    True/None), else strings.

    Examples
    --------
    >>> parse_options(["size=96", "pixels_per_cell=(16, 16)", "color_space=lab"])
    {'size': 96, 'pixels_per_cell': (16, 16), 'color_space': 'lab'}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ExtractArgumentError(f"--set {item!r}: expected KEY=VALUE, e.g. --set size=96")
        try:
            out[key] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key] = value.strip()
    return out


def option_names(names: list[str]) -> list[str]:
    """The ``--set`` keys the descriptors ``names`` take (their factories' keyword parameters), sorted."""
    from cvtoolkit.features import feature_options, make_features

    keys: set[str] = set()
    for name in names:
        options = feature_options(name)
        if options is None:  # a factory taking **kwargs: the parameters of what it builds
            try:
                options = list(make_features(name).get_params(deep=False))
            except Exception:  # needs options to build: nothing more to list
                options = []
        keys.update(options)
    return sorted(keys - {"n_jobs"})


def check_options(names: list[str], options: dict[str, Any]) -> None:
    """Refuse ``--set`` keys that none of the descriptors ``names`` takes, listing the valid ones.

    Raises
    ------
    ExtractArgumentError
        An unknown key.
    """
    valid = option_names(names)
    unknown = [k for k in options if k not in valid]
    if unknown:
        raise ExtractArgumentError(
            f"--set {', '.join(unknown)}: not an option of {','.join(names)}; valid keys: {', '.join(valid)}"
        )


def check_values(transformer: Any, names: list[str]) -> None:
    """Run each descriptor's own parameter check now, not half-way through the images."""
    parts = [transformer]
    while parts:
        part = parts.pop()
        parts.extend(t for _, t in getattr(part, "transformer_list", []) or [])
        parts.extend(t for _, t in getattr(part, "steps", []) or [])
        if not type(part).__module__.startswith("cvtoolkit."):  # scikit-learn's own checks need fitting
            continue
        for check in ("_check_params", "_validate_params"):
            method = getattr(type(part), check, None)
            if callable(method) and getattr(method, "__module__", "").startswith("cvtoolkit."):
                try:
                    getattr(part, check)()
                except (TypeError, ValueError) as err:
                    valid = ", ".join(option_names(names))
                    raise ExtractArgumentError(
                        f"invalid --set value for {','.join(names)}: {err}; valid keys: {valid}"
                    ) from err


def build_extractor(names: list[str], options: dict[str, Any]) -> Any:
    """One transformer for a list of feature names (a FeatureUnion when several).

    Examples
    --------
    >>> type(build_extractor(["hog", "hsv_hist"], {})).__name__
    'FeatureUnion'
    """
    from cvtoolkit.features.registry import COMMON_OPTIONS, make_feature_union

    if len(set(names)) != len(names):
        raise ExtractArgumentError(f"--features lists a name twice: {','.join(names)}")
    common = {k: v for k, v in options.items() if k in COMMON_OPTIONS}  # --alpha, --weights, ...: for every name
    return make_feature_union(names, {k: v for k, v in options.items() if k not in common}, common=common)


def make_extractor(names: list[str], options: dict[str, Any], given: list[str] | None = None) -> Any:
    """The checked transformer for ``names``: known names, ``given`` ``KEY=VALUE`` options checked, values checked.

    Parameters
    ----------
    names : list of str
        Feature names of :data:`cvtoolkit.features.FEATURES`.
    options : dict
        Options of the command (``alpha``, ``weights``, ``image_size``, ...).
    given : list of str, optional
        ``KEY=VALUE`` texts (``--set``): parsed, refused when no descriptor takes them.

    Raises
    ------
    ExtractArgumentError
        An empty or unknown name, an unknown key, or a value a descriptor refuses.

    Examples
    --------
    >>> make_extractor(["hog"], {}, ["orientations=8"]).orientations
    8
    """
    from cvtoolkit.features import FEATURES

    if not names:
        raise ExtractArgumentError("--features is empty; give a name such as hog, or a comma list")
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ExtractArgumentError(
            f"unknown features {', '.join(map(repr, unknown))}; known: {', '.join(FEATURES)}"
        )
    options = dict(options)
    parsed = parse_options(list(given or []))
    check_options(names, parsed)
    options.update(parsed)
    # Parallelism is over chunks (each worker decodes and describes); descriptors run single-process inside.
    options["n_jobs"] = 1
    try:
        transformer = build_extractor(names, options)
    except (TypeError, ValueError) as err:
        if isinstance(err, CvToolkitError):
            raise
        raise ExtractArgumentError(f"cannot build features {','.join(names)} with {options}: {err}") from err
    check_values(transformer, names)
    return transformer


def image_size_for(spec: str, image_size: int | None, *, features: str | None = None) -> int | None:
    """The size to load ``spec`` at for the descriptor ``features`` (the rule: :func:`cvtoolkit.data.default_image_size`).

    The user's size wins; dense descriptors (``dsift_*``, ``osift_*``) read
    images at their natural size (``None``: they shrink images themselves); a
    CNN backbone gets its own input size; else the data floor's default.

    Examples
    --------
    >>> image_size_for("digits", None), image_size_for("digits", 48)
    (32, 48)
    >>> image_size_for("digits", None, features="dsift_spm") is None
    True
    """
    from cvtoolkit.data.sizes import default_image_size

    if image_size is not None:
        return image_size
    if features:
        from cvtoolkit.features.registry import DENSE_FEATURES  # names only: no scikit-learn

        if features in DENSE_FEATURES:
            return None
        try:
            from cvtoolkit.transfer.backbones import BACKBONES

            if features in BACKBONES:
                return default_image_size(spec, None, input_size=BACKBONES[features].default_size)
        except ImportError:
            pass
    return default_image_size(spec, None)
