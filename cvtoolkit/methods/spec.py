"""Parsing and validating method row names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from cvtoolkit.errors import MethodError  # noqa: F401  (defined in cvtoolkit.errors; importable here as before)

FEATURE_STORE_PREFIX = "features"
"""Row prefix used on a feature store whose extractor name is unknown."""

DEFAULT_CLASSICAL_ROWS = (
    "raw+knn",
    "raw+logreg",
    "raw+linear_svm",
    "raw+random_forest",
    "color_stats+random_forest",
    "hsv_hist+random_forest",
    "hog+linear_svm",
    "lbp+rbf_svm",
    "hu+random_forest",
    "haralick+random_forest",
    "sift_bovw+linear_svm",
    "combined+random_forest",
    "combined+rbf_svm",
)
"""Default classical rows on image data: raw pixels and one row per descriptor family."""

DEFAULT_DENSE_ROWS = ("osift_fisher+ridge", "classical_ensemble")
"""The strongest classical system: dense colour SIFT with Fisher vectors, and the late fusion of every classical row.
Default rows when the images are at least :data:`DENSE_MIN_SIDE` pixels (see :func:`default_dense_rows`)."""

FUSION_MAX_IMAGES = 4000
"""Images above which ``classical_ensemble`` leaves the default rows: its inner folds refit every classical row
(101 classes, 8080 images: 485 s, more than any other row, and 0.728 against its best member's 0.763)."""

DENSE_MIN_SIDE = 96
"""Median longer side (pixels) from which dense-descriptor rows join the default rows (patches are 16-32 px)."""

STRONGEST_CLASSICAL_FAMILY = "dense SIFT encodings (spatial pyramids, Fisher vectors)"
"""What the verdict names when that family did not run."""

DEFAULT_CNN_ROWS = ("shallownet",)
"""Default CNN rows (small enough to train in seconds on a CPU)."""

DEFAULT_FEATURE_STORE_CLASSIFIERS = ("logreg", "linear_svm", "knn", "random_forest")

ENSEMBLES = ("classical_ensemble", "deep_ensemble")
"""Late-fusion rows (:mod:`cvtoolkit.methods.ensemble`): the other rows of one side, combined."""

FINETUNE = "finetune"
"""``<backbone>+finetune``: a pretrained backbone fine-tuned end to end (a CNN row)."""


@dataclass(frozen=True)
class MethodSpec:
    """A parsed row name.

    ``kind`` is ``"classical"`` (features + classifier), ``"cnn"`` (a network
    trained end to end: a model name, or ``<backbone>+finetune`` with the
    backbone in ``features``), ``"stored"`` (a classifier on stored features)
    or ``"ensemble"`` (``classical_ensemble``/``deep_ensemble``: late fusion of
    the other rows of one side).
    """

    name: str
    kind: str
    features: str | None = None
    classifier: str | None = None
    model: str | None = None


def _known() -> tuple[list[str], list[str]]:
    from cvtoolkit.classifiers import CLASSIFIERS
    from cvtoolkit.features import FEATURES

    return list(FEATURES), list(CLASSIFIERS)


def _known_models(name: str | None = None) -> list[str]:
    from cvtoolkit.nn.names import BUILTIN_MODELS, model_names

    # Keras (and its backend) is imported only for a name that is not a built-in CNN (a registered one?).
    return model_names(load_registry=name is not None and name not in BUILTIN_MODELS)


def did_you_mean(word: str | None, choices: Sequence[str]) -> str:
    """``" did you mean 'x'?"`` for the closest of ``choices`` to a misspelt ``word``, else ``""``.

    Examples
    --------
    >>> did_you_mean("linear_svn", ["linear_svm", "rbf_svm", "knn"])
    " did you mean 'linear_svm'?"
    >>> did_you_mean("zzz", ["knn"])
    ''
    """
    import difflib

    close = difflib.get_close_matches(str(word or ""), list(choices), n=1, cutoff=0.6)
    return f" did you mean {close[0]!r}?" if close else ""


def parse_method(name: str, *, stored_features: str | None = None) -> MethodSpec:
    """Split a row name into its parts (without checking that they exist).

    Parameters
    ----------
    name : str
        ``features+classifier`` or a CNN name.
    stored_features : str, optional
        On a feature store: the stored extractor's name. A row whose
        features part equals it (or is ``features``) is a ``"stored"`` row.
    """
    name = name.strip()
    if name in ENSEMBLES:
        return MethodSpec(name, "ensemble")
    if "+" in name:
        feat, clf = (part.strip() for part in name.split("+", 1))
        if not feat or not clf:
            raise MethodError(f"method {name!r}: expected <features>+<classifier>, e.g. hog+linear_svm")
        if stored_features is not None and feat in (stored_features, FEATURE_STORE_PREFIX):
            return MethodSpec(name, "stored", features=feat, classifier=clf)
        if clf == FINETUNE:  # a network trained end to end: a CNN row whose features name the backbone
            return MethodSpec(name, "cnn", features=feat, model=name)
        return MethodSpec(name, "classical", features=feat, classifier=clf)
    return MethodSpec(name, "cnn", model=name)


def validate_methods(names: Sequence[str], *, stored_features: str | None = None,
                     source: str | None = None) -> list[MethodSpec]:
    """Parse and check every name, raising one error that lists all unknown parts.

    ``source`` names the dataset in the message about stored features.
    """
    features, classifiers = _known()
    specs, problems = [], []
    where = source or "this dataset"
    for name in names:
        spec = parse_method(name, stored_features=stored_features)
        if spec.kind == "ensemble":
            pass  # late fusion of the other rows: nothing of its own to check
        elif stored_features is not None and spec.kind != "stored":
            problems.append(
                f"{name!r} ({where} holds stored {stored_features!r} features, not images: "
                f"use {stored_features}+<classifier>, or pass the images for image rows)"
            )
        elif spec.kind == "cnn" and spec.features is not None:
            from cvtoolkit.transfer.weights_files import BACKBONE_NAMES

            if spec.features not in BACKBONE_NAMES:
                problems.append(f"{name!r} (fine-tuning needs a pretrained backbone;"
                                f"{did_you_mean(spec.features, BACKBONE_NAMES)} backbones: "
                                f"{', '.join(f'{b}+{FINETUNE}' for b in BACKBONE_NAMES)})")
        elif spec.kind == "cnn" and spec.model not in (models := _known_models(spec.model)):
            problems.append(f"{name!r} (not a CNN;{did_you_mean(spec.model, [*models, *DEFAULT_CLASSICAL_ROWS])} "
                            f"CNNs: {', '.join(models)}; or use <features>+<classifier>)")
        elif spec.kind == "classical" and spec.features not in features:
            problems.append(f"{name!r} (unknown features {spec.features!r};{did_you_mean(spec.features, features)} "
                            f"features: {', '.join(features)})")
        elif spec.kind in ("classical", "stored") and spec.classifier not in classifiers:
            problems.append(
                f"{name!r} (unknown classifier {spec.classifier!r};{did_you_mean(spec.classifier, classifiers)} "
                f"classifiers: {', '.join(classifiers)})"
            )
        specs.append(spec)
    if problems:
        raise MethodError("unknown method(s): " + "; ".join(problems))
    return specs


def split_methods(text: str | None) -> list[str] | None:
    """The rows of a ``--methods`` value; ``None`` when not given (the defaults apply).

    Raises
    ------
    MethodError
        An empty value, an empty entry (``a,,b``) or a row given twice.

    Examples
    --------
    >>> split_methods("raw+knn, hog+linear_svm")
    ['raw+knn', 'hog+linear_svm']
    >>> split_methods(None) is None
    True
    """
    if text is None:
        return None
    rows = [m.strip() for m in str(text).split(",")]
    if not any(rows):
        raise MethodError(f"--methods {text!r} names no method; give rows such as raw+knn,hog+linear_svm "
                          "(or leave --methods out for the default rows)")
    if not all(rows):
        raise MethodError(f"--methods {text!r} has an empty entry; remove the extra comma(s)")
    seen: set[str] = set()
    twice = [m for m in rows if m.lower() in seen or seen.add(m.lower())]
    if twice:
        raise MethodError(f"--methods lists {', '.join(map(repr, dict.fromkeys(twice)))} more than once; "
                          "each row runs once (its files would overwrite each other)")
    return rows


def default_methods(*, stored_features: str | None = None) -> list[str]:
    """The default row list: classical + CNN rows on images, classifiers on a feature store."""
    if stored_features is not None:
        return [f"{stored_features}+{clf}" for clf in DEFAULT_FEATURE_STORE_CLASSIFIERS]
    return list(DEFAULT_CLASSICAL_ROWS) + list(DEFAULT_CNN_ROWS)


def default_dense_rows(dataset) -> tuple[list[str], str]:
    """``(rows, line)``: the strongest classical rows when the images are large enough, and one line saying so.

    They join the default rows when the images' natural size (the files'
    median longer side, or the loaded size for data without files) is at
    least :data:`DENSE_MIN_SIDE` pixels; otherwise ``[]`` and a line saying
    the family was skipped, and why. ``classical_ensemble`` joins only up to
    :data:`FUSION_MAX_IMAGES` images.

    Examples
    --------
    >>> import numpy as np
    >>> from cvtoolkit.data import Dataset
    >>> rows, line = default_dense_rows(Dataset(np.zeros((2, 8, 8, 3), np.uint8), np.array([0, 1]), ["a", "b"]))
    >>> rows, line.startswith("classical rows without dense SIFT")
    ([], True)
    """
    from cvtoolkit.data.views import median_longer_side

    side = median_longer_side(getattr(dataset, "paths", None))
    where = "the files' median longer side"
    if side is None and getattr(dataset, "kind", "images") == "images" and dataset.images.dtype != object:
        side, where = int(max(dataset.images.shape[1:3])), "the images' size (no files to read at their own size)"
    if side is not None and side >= DENSE_MIN_SIDE:
        rows = list(DEFAULT_DENSE_ROWS)
        line = (f"classical rows include the strongest family, {STRONGEST_CLASSICAL_FAMILY}: "
                f"{', '.join(rows)} ({where}: {side} px)")
        if len(dataset) > FUSION_MAX_IMAGES and "classical_ensemble" in rows:
            rows.remove("classical_ensemble")
            line = (f"classical rows include the strongest family, {STRONGEST_CLASSICAL_FAMILY}: {', '.join(rows)} "
                    f"({where}: {side} px); classical_ensemble left out above {FUSION_MAX_IMAGES} images (its inner "
                    "folds refit every classical row; add it with --methods)")
        return rows, line
    return [], (f"classical rows without dense SIFT encodings: {where} is {side if side is not None else 'unknown'} "
                f"px, under {DENSE_MIN_SIDE} (add them with --methods osift_fisher+ridge,classical_ensemble)")
