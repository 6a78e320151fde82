"""``compare --time-budget``: run the rows cheapest first and skip those that would not fit.

Each row's cost is estimated before it starts, with a deliberately simple
model (order-of-magnitude figures from the 2-core measurements of issue 19:
``raw+linear_svm`` 395 s, ``raw+logreg`` 107 s, ``shallownet`` 385 s for 10
epochs at 64 px, MobileNet-0.25 extraction ~300 images/s without flip
averaging, on ~6500 training images of 101 classes):

- **features**: ``FEATURE_MS_PER_IMAGE[descriptor]`` x images, or nothing
  when the features are in the feature cache or an earlier row of this run
  computed them (backbones: ``BACKBONE_MS_PER_IMAGE``);
- **classifier**: ``CLASSIFIER_NS[classifier]`` nanoseconds x training
  images x feature dimensions (``FEATURE_DIMS``; ``raw``: the pixels) x the
  square root of the number of classes;
- **CNN from scratch**: ``CNN_MS_PER_IMAGE_EPOCH[model]`` at 32x32 pixels,
  scaled by the pixels, x training images x epochs (the ``epochs`` option,
  else the model's recommended count); fine-tuning: 3 forward passes of its
  backbone per training image and epoch;
- **late fusion**: its side's classifiers fitted again on 3 inner folds.

Rows run in increasing order of that estimate (late-fusion rows last: they
need the others). Before a row starts, it is skipped when its estimate is
more than the time left; reused rows (``--resume``) cost nothing. The
clock starts when the ``compare`` run starts (loading counts). The budget
is checked between rows, never inside one: a row that runs past its
estimate is not stopped, and the statistics, reports and a learning curve
after the last row are not budgeted. Rows carry ``estimated_seconds``.
On Animals at 32 px (2 cores) the estimates were within a factor of 3.5 of
the rows' time for 11 of 14 rows, 6x high for ``sift_bovw``, 5x for
``shallownet`` and 0.0 s for a 0.2 s ``raw+knn``: good enough to order rows and to
skip the clearly unaffordable ones, not a schedule.

Examples
--------
>>> parse_duration("10m"), parse_duration("600s"), parse_duration("1h"), parse_duration("90")
(600.0, 600.0, 3600.0, 90.0)
>>> budget = TimeBudget(600)
>>> budget.fits(30.0), budget.fits(3600.0)
(True, False)
"""

from __future__ import annotations

import math
import re
import time
from typing import Any, Callable, Sequence

__all__ = ["RowCosts", "TimeBudget", "estimate_row_seconds", "incomplete_sides", "order_rows", "parse_duration",
           "skip_reason"]

FEATURE_MS_PER_IMAGE = {
    "raw": 0.005, "color_stats": 0.05, "hsv_hist": 0.1, "hu": 0.1, "hog": 0.5, "lbp": 1.0, "haralick": 3.0,
    "combined": 2.0, "sift_bovw": 8.0, "rootsift_bovw": 8.0, "orb_bovw": 5.0, "dsift_spm": 40.0,
    "dsift_fisher": 40.0, "osift_fisher": 80.0,
}
"""Milliseconds per image of a descriptor (2 cores); other names: :data:`DEFAULT_FEATURE_MS`."""

DEFAULT_FEATURE_MS = 5.0

BACKBONE_MS_PER_IMAGE = {"mobilenet": 10.0, "mobilenetv2": 15.0, "efficientnetb0": 40.0, "resnet50": 80.0,
                         "vgg16": 150.0}
"""Milliseconds per image of a backbone's extraction at 224 px, flip averaging on."""

FEATURE_DIMS = {"color_stats": 6, "hsv_hist": 512, "hu": 7, "hog": 2000, "lbp": 26, "haralick": 13,
                "combined": 2600, "sift_bovw": 500, "rootsift_bovw": 500, "orb_bovw": 500, "dsift_spm": 4200,
                "dsift_fisher": 40000, "osift_fisher": 120000, "mobilenet": 256, "mobilenetv2": 1280,
                "efficientnetb0": 1280, "resnet50": 2048, "vgg16": 512}
"""Feature dimensions the classifier estimate uses (``raw``: height x width x channels; others: 1000)."""

CLASSIFIER_NS = {"knn": 0.5, "logreg": 130.0, "linear_svm": 200.0, "ridge": 30.0, "rbf_svm": 300.0,
                 "chi2_svm": 300.0, "random_forest": 330.0, "gradient_boosting": 2000.0}
"""Nanoseconds per (training image x feature dimension x sqrt(classes)); others: 300."""

CNN_MS_PER_IMAGE_EPOCH = {"shallownet": 1.5, "lenet": 2.0, "minivggnet": 8.0, "minigooglenet": 15.0,
                          "resnet": 25.0, "alexnet": 20.0}
"""Milliseconds per training image and epoch at 32x32 pixels (scaled by the pixels); others: 10."""

_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``"10m"``, ``"600s"``, ``"1h"``, ``"1.5h"`` or a plain number of seconds.

    Raises
    ------
    UsageError
        Anything else, or a duration that is not positive.

    Examples
    --------
    >>> parse_duration("2min"), parse_duration(30)
    (120.0, 30.0)
    """
    from cvtoolkit.errors import UsageError

    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*", str(text).lower())
    if not match or match.group(2) not in _UNITS:
        raise UsageError(f"--time-budget {text!r}: expected a duration such as 600s, 10m or 1h")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not seconds > 0:
        raise UsageError(f"--time-budget {text!r}: the budget must be more than 0 seconds")
    return seconds


def _feature_dim(features: str | None, image_shape: Sequence[int]) -> float:
    if features == "raw":
        return float(math.prod(int(s) for s in image_shape) or 1)
    return float(FEATURE_DIMS.get(str(features), 1000))


def estimate_row_seconds(spec: Any, *, n_images: int, n_train: int, n_classes: int, image_shape: Sequence[int],
                         features_ready: bool = False, epochs: int | None = None,
                         members: Sequence[Any] = ()) -> float:
    """The estimated seconds of one row (see the module's docstring for the model).

    ``features_ready``: the row's features are in the feature cache or were
    computed by an earlier row; ``members``: a late-fusion row's member specs.

    Examples
    --------
    >>> from cvtoolkit.methods.spec import parse_method
    >>> knn = estimate_row_seconds(parse_method("raw+knn"), n_images=1000, n_train=750, n_classes=10,
    ...                            image_shape=(32, 32, 3))
    >>> svm = estimate_row_seconds(parse_method("raw+linear_svm"), n_images=1000, n_train=750, n_classes=10,
    ...                            image_shape=(32, 32, 3))
    >>> knn < svm
    True
    """
    from cvtoolkit.methods.backbone_weights import BACKBONE_NAMES

    classes = math.sqrt(max(2, n_classes))
    if spec.kind == "ensemble":
        return 3.0 * sum(estimate_row_seconds(m, n_images=n_images, n_train=n_train, n_classes=n_classes,
                                              image_shape=image_shape, features_ready=True) for m in members)
    if spec.kind == "cnn":
        from cvtoolkit.train.estimator import RECOMMENDED_EPOCHS

        if spec.features in BACKBONE_NAMES:  # <backbone>+finetune: forward and backward passes at 224 px
            per_epoch = 3.0 * BACKBONE_MS_PER_IMAGE.get(spec.features, 80.0) / 1000.0 * n_train
            return per_epoch * float(epochs or 10) + BACKBONE_MS_PER_IMAGE.get(spec.features, 80.0) / 1000.0 * n_images
        name = str(spec.model or spec.name)
        pixels = (int(image_shape[0]) * int(image_shape[1]) / 1024.0) if len(image_shape) >= 2 else 1.0
        per_image = CNN_MS_PER_IMAGE_EPOCH.get(name, 10.0) * max(pixels, 0.25) / 1000.0
        return per_image * n_train * float(epochs or RECOMMENDED_EPOCHS.get(name, 20))
    seconds = 0.0
    if spec.kind != "stored" and not features_ready:
        ms = (BACKBONE_MS_PER_IMAGE.get(spec.features, 80.0) if spec.features in BACKBONE_NAMES
              else FEATURE_MS_PER_IMAGE.get(str(spec.features), DEFAULT_FEATURE_MS))
        seconds += ms / 1000.0 * n_images
    dim = float(image_shape[-1]) if spec.kind == "stored" and image_shape else _feature_dim(spec.features, image_shape)
    seconds += CLASSIFIER_NS.get(str(spec.classifier), 300.0) * 1e-9 * n_train * dim * classes
    return seconds


def order_rows(specs: Sequence[Any], estimate: Callable[[Any], float]) -> list[Any]:
    """``specs`` cheapest first by ``estimate`` (ties keep their order), late-fusion rows last.

    Examples
    --------
    >>> from types import SimpleNamespace as S
    >>> rows = [S(name="b", kind="cnn"), S(name="e", kind="ensemble"), S(name="a", kind="classical")]
    >>> [s.name for s in order_rows(rows, {"b": 9.0, "e": 0.0, "a": 1.0}.get)]
    ['a', 'b', 'e']
    """
    plain = [s for s in specs if s.kind != "ensemble"]
    plain = sorted(plain, key=lambda s: (float(estimate(s.name) if callable(estimate) else 0.0)))
    return plain + [s for s in specs if s.kind == "ensemble"]


def skip_reason(estimate: float, left: float) -> str:
    """The note of a row the budget skips.

    Examples
    --------
    >>> skip_reason(120.4, 30.2)
    'time budget: estimated 120 s, 30 s left'
    """
    return f"time budget: estimated {estimate:.0f} s, {max(0.0, left):.0f} s left"


class TimeBudget:
    """A wall-clock budget started at construction (``time.monotonic``).

    Parameters
    ----------
    seconds : float
        The budget (:func:`parse_duration` reads ``--time-budget``).
    started : float, optional
        ``time.monotonic()`` of the start (default: now).
    """

    def __init__(self, seconds: float, started: float | None = None) -> None:
        self.seconds = float(seconds)
        self.started = time.monotonic() if started is None else float(started)

    def left(self) -> float:
        """Seconds left (negative once spent)."""
        return self.seconds - (time.monotonic() - self.started)

    def fits(self, estimate: float) -> bool:
        """Whether a row estimated at ``estimate`` seconds fits in what is left."""
        return float(estimate) <= self.left()

    def describe(self) -> str:
        """``"600 s"``: the budget, for the settings and the reports."""
        return f"{self.seconds:.0f} s"


class RowCosts:
    """The cost estimates of one compare run's rows (:func:`estimate_row_seconds` with this run's data).

    Parameters
    ----------
    specs : sequence of MethodSpec
        The rows.
    dataset : Dataset
        The whole dataset (its size, image shape and classes).
    n_train : int
        Training images of the split.
    feature_options, cnn_options : dict
        As ``run_compare`` takes them (``epochs``).
    cache_dir : str, optional
        The feature cache: per-image descriptors whose features are there cost nothing.
    """

    def __init__(self, specs: Sequence[Any], dataset: Any, n_train: int, feature_options: dict | None,
                 cnn_options: dict | None, cache_dir: str | None) -> None:
        self.specs = list(specs)
        self.n_images = len(dataset)
        self.n_train = int(n_train)
        self.n_classes = int(dataset.n_classes)
        self.image_shape = tuple(int(s) for s in dataset.images.shape[1:]) if dataset.images.dtype != object else ()
        self.epochs = (cnn_options or {}).get("epochs")
        self.cached = _cached_descriptors(self.specs, dataset, feature_options or {}, cache_dir)

    def estimate(self, spec: Any, computed: Any = ()) -> float:
        """Seconds of ``spec``; ``computed``: descriptors an earlier row of this run already described."""
        from cvtoolkit.methods.ensemble import ENSEMBLE_ROWS
        from cvtoolkit.methods.verdict import is_deep

        members = ()
        if spec.kind == "ensemble":
            members = [s for s in self.specs
                       if s.kind not in ("cnn", "ensemble") and is_deep(s) == ENSEMBLE_ROWS[spec.name]]
        ready = spec.features in self.cached or spec.features in computed
        return estimate_row_seconds(spec, n_images=self.n_images, n_train=self.n_train, n_classes=self.n_classes,
                                    image_shape=self.image_shape, features_ready=ready, epochs=self.epochs,
                                    members=members)


def _cached_descriptors(specs: Sequence[Any], dataset: Any, options: dict, cache_dir: str | None) -> set[str]:
    """Per-image descriptors of ``specs`` whose whole-dataset features are in the feature cache."""
    if cache_dir is None or dataset.kind != "images" or dataset.images.dtype == object:
        return set()
    from pathlib import Path

    from cvtoolkit.features.cache import feature_key, is_stateless
    from cvtoolkit.features.registry import DENSE_FEATURES
    from cvtoolkit.methods.backbone_weights import BACKBONE_NAMES
    from cvtoolkit.methods.build import make_features_step

    found: set[str] = set()
    size, channels = tuple(dataset.images.shape[1:3]), (int(dataset.images.shape[-1])
                                                         if dataset.images.ndim == 4 else None)
    for spec in specs:
        name = spec.features
        if spec.kind != "classical" or name in found or name in BACKBONE_NAMES or name in DENSE_FEATURES:
            continue
        try:
            transformer = make_features_step(spec, dict(options), image_size=size, channels=channels)
            if not is_stateless(transformer):
                continue
            key, _ = feature_key(transformer, dataset)
            if (Path(cache_dir).expanduser() / f"{type(transformer).__name__.lower()}-{key}.npy").is_file():
                found.add(name)
        except Exception:  # an estimate only: the row itself names any problem
            continue
    return found


def incomplete_sides(rows: Sequence[dict]) -> dict[str, list[str]]:
    """``{"classical": [...], "deep": [...]}``: the rows a time budget skipped, by side (empty sides left out).

    Examples
    --------
    >>> incomplete_sides([{"method": "a", "deep": False, "skipped": "x"}, {"method": "b", "deep": True}])
    {'classical': ['a']}
    """
    sides: dict[str, list[str]] = {}
    for row in rows:
        if row.get("skipped"):
            sides.setdefault("deep" if row.get("deep") else "classical", []).append(str(row["method"]))
    return sides


def incomplete_note(rows: Sequence[dict]) -> str:
    """The verdict's addition when the budget skipped rows (``""`` when none).

    Examples
    --------
    >>> incomplete_note([{"method": "shallownet", "deep": True, "skipped": "x"}])
    '; incomplete: the time budget skipped 1 deep row (shallownet)'
    """
    sides = incomplete_sides(rows)
    if not sides:
        return ""
    parts = [f"{len(names)} {side} row{'s' if len(names) > 1 else ''} ({', '.join(names)})"
             for side, names in sides.items()]
    return "; incomplete: the time budget skipped " + " and ".join(parts)
