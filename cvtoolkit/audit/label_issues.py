"""Suspected label errors: out-of-fold probabilities of a cheap model, ranked by cleanlab.

The model is the best cheap row available: ImageNet backbone features
(a ``keras.applications`` MobileNet, ...) with logistic regression when the
backbone's weights are already on disk (Keras's cache or ``weights=PATH``),
else the ``combined`` descriptors (HSV histogram + HOG + LBP) with logistic
regression. Features are stateless, so they are computed once (through the
feature cache) and only the logistic regression is cross-validated
(stratified K-fold, :func:`sklearn.model_selection.cross_val_predict`).
:func:`cleanlab.filter.find_label_issues` ranks the samples whose given
label disagrees with those out-of-fold probabilities.

Examples
--------
>>> import numpy as np
>>> from cvtoolkit.data import load_dataset
>>> ds = load_dataset("digits", progress=False)
>>> ds.labels[:20] = (ds.labels[:20] + 1) % 10   # plant 20 flips
>>> found = find_label_issues(ds, features="raw", progress=False)
>>> hits = sum(1 for i in found.issues if i["index"] < 20)
>>> hits >= 15
True
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cvtoolkit.data.dataset import Dataset
from cvtoolkit.errors import CvToolkitError

logger = logging.getLogger(__name__)

BACKBONE_PREFERENCE = ("mobilenet", "mobilenetv2", "efficientnetb0", "resnet50", "vgg16")
"""Backbones tried, in this order, when looking for weights on disk."""

FALLBACK_FEATURES = "combined"
"""Descriptors used when no backbone weights are on disk."""

MAX_FLAGGED_FRACTION = 0.2
"""A list flagging more than this share of the samples is withheld as unreliable.

Measured on Animals with 5% of the labels flipped (``bench/bench_audit.py --flip``): MobileNet 0.25
features flag 7.7% (precision 0.60), the ``combined`` descriptors 36% (precision 0.11); Flowers-17 with
``combined``: 28% flagged; a 7-emotion face set: 58%. Real label noise above 20% is a dataset to relabel,
not a list to read."""

MIN_SKILL = 0.25
"""Least share of the way from chance to perfect the cross-validated accuracy must cover.

Skill is ``(accuracy - chance) / (1 - chance)``, chance being the largest class's share (the accuracy
of always answering it): a model below it (the 7-emotion set: accuracy 0.33 against chance 0.25, skill
0.11) cannot tell a wrong label from a hard image."""


@dataclass
class LabelIssues:
    """What :func:`find_label_issues` found.

    Attributes
    ----------
    issues : list of dict
        ``{"index", "path", "given", "suggested", "score"}``, most suspicious
        first; ``score`` is cleanlab's label quality (self-confidence: the
        out-of-fold probability of the given label), lower is worse. Empty
        when the list is not ``reliable`` (``flagged`` still counts them).
    features : str
        The features of the model (``"mobilenet"``, ``"combined"``, ...).
    options : dict
        Their options (alpha, weights file).
    cv_accuracy : float
        Out-of-fold accuracy of the model against the given labels.
    folds : int
    seconds : float
        Wall time of the step (features included).
    flagged : int
        Samples cleanlab flagged (listed in ``issues`` only when reliable).
    samples : int
        Labelled samples the model saw.
    chance_accuracy : float
        The largest class's share: the accuracy of always answering it.
    unreliable : list of str
        Why the list is withheld (a weak model, too many flagged); empty: reliable.
    """

    issues: list[dict[str, Any]]
    features: str
    options: dict[str, Any] = field(default_factory=dict)
    cv_accuracy: float = float("nan")
    folds: int = 0
    seconds: float = 0.0
    flagged: int = 0
    samples: int = 0
    chance_accuracy: float = float("nan")
    unreliable: list[str] = field(default_factory=list)

    @property
    def reliable(self) -> bool:
        return not self.unreliable

    def verdict(self) -> str:
        """One line: what was flagged and whether the list can be trusted (the terminal and the reports print it)."""
        model = f"{self.features} + logistic regression, {self.folds}-fold out-of-fold accuracy {self.cv_accuracy:.3f}"
        if self.reliable:
            return f"{self.flagged} suspected ({model}; chance {self.chance_accuracy:.3f})"
        return (f"list withheld as unreliable: {'; '.join(self.unreliable)} ({model}). "
                f"{UNRELIABLE_FIX}")

    def to_dict(self) -> dict[str, Any]:
        return {"features": self.features, "options": {k: str(v) for k, v in self.options.items()},
                "classifier": "logistic_regression", "cv_accuracy": self.cv_accuracy, "folds": self.folds,
                "seconds": round(self.seconds, 2), "count": len(self.issues), "flagged": self.flagged,
                "samples": self.samples, "chance_accuracy": self.chance_accuracy, "reliable": self.reliable,
                "unreliable_because": list(self.unreliable), "verdict": self.verdict(),
                "max_flagged_fraction": MAX_FLAGGED_FRACTION, "min_skill": MIN_SKILL}


UNRELIABLE_FIX = ("A stronger model makes a list worth reading: put ImageNet backbone weights in Keras's cache "
                  "or pass --weights (e.g. mobilenet_2_5_224_tf_no_top.h5).")


def reliability(cv_accuracy: float, chance: float, flagged: int, samples: int) -> list[str]:
    """Why a label-issue list cannot be trusted (empty: it can), from the model's skill and the share flagged.

    Examples
    --------
    >>> reliability(0.95, 0.34, 150, 3000)
    []
    >>> reliability(0.33, 0.25, 2083, 3589)  # doctest: +NORMALIZE_WHITESPACE
    ['the model is weak: cross-validated accuracy 0.330 against 0.250 by always answering the largest class
      (skill 0.11, below 0.25)', 'it flags 2083 of 3589 samples (58%), more than the 20% a list can stand behind']
    """
    reasons = []
    skill = (cv_accuracy - chance) / (1.0 - chance) if chance < 1.0 else 0.0
    if not skill >= MIN_SKILL:
        reasons.append(f"the model is weak: cross-validated accuracy {cv_accuracy:.3f} against {chance:.3f} by "
                       f"always answering the largest class (skill {skill:.2f}, below {MIN_SKILL:.2f})")
    if samples and flagged > MAX_FLAGGED_FRACTION * samples:
        reasons.append(f"it flags {flagged} of {samples} samples ({flagged / samples:.0%}), more than the "
                       f"{MAX_FLAGGED_FRACTION:.0%} a list can stand behind")
    return reasons


def _keras_models_dir() -> Path:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home).expanduser() / "models"


def backbone_weights_on_disk(weights: str | os.PathLike | None = None) -> tuple[str, dict] | None:
    """``(backbone, {"alpha", "weights"})`` for ImageNet weights already on disk, else None.

    With ``weights``: that file, recognised by the file name Keras gives it
    (``mobilenet_2_5_224_tf_no_top.h5`` is MobileNet, alpha 0.25). Without:
    the first no-top 224-pixel file found in Keras's cache
    (``$KERAS_HOME/models``), in :data:`BACKBONE_PREFERENCE` order. Keras is
    imported only when there is a candidate file.

    Raises
    ------
    CvToolkitError
        ``weights`` does not exist, or its name is not one Keras uses.
    """
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise CvToolkitError(f"--weights {weights}: no such file")
        candidates = [path]
    else:
        folder = _keras_models_dir()
        candidates = sorted(folder.glob("*.h5")) if folder.is_dir() else []
        if not candidates:
            return None
    from cvtoolkit.transfer.backbones import BACKBONES

    names = {p.name: p for p in candidates}
    for name in BACKBONE_PREFERENCE:
        spec = BACKBONES[name]
        for alpha in sorted(spec.imagenet_alphas or (None,), key=lambda a: -(a or 0)):
            file_name = spec.weights_file(alpha, spec.default_size, False)
            if file_name in names:
                opts: dict[str, Any] = {"weights": str(names[file_name])}
                if alpha is not None:
                    opts["alpha"] = alpha
                return name, opts
    if weights is not None:
        raise CvToolkitError(
            f"--weights {weights}: not a file name Keras gives to no-top ImageNet weights (e.g. "
            "mobilenet_2_5_224_tf_no_top.h5); name the backbone with --label-features and --alpha")
    return None


def _features_matrix(dataset: Dataset, name: str, options: dict, cache_dir, n_jobs, progress) -> np.ndarray:
    from cvtoolkit.features import make_features

    opts = dict(options, n_jobs=n_jobs)
    if name in BACKBONE_PREFERENCE:
        opts.update(verbose=1 if progress else 0, flip_average=False)
    else:
        opts["progress"] = progress
    transformer = make_features(name, **opts)
    if cache_dir is not None:
        from cvtoolkit.features.cache import cached_features

        return np.asarray(cached_features(transformer, dataset, cache_dir=cache_dir), dtype=np.float32)
    return np.asarray(transformer.fit(dataset.images, dataset.labels).transform(dataset.images), dtype=np.float32)


def find_label_issues(
    dataset: Dataset,
    *,
    features: str = "auto",
    weights: str | os.PathLike | None = None,
    alpha: float | None = None,
    folds: int = 5,
    seed: int = 42,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
) -> LabelIssues:
    """Rank the samples whose label disagrees with out-of-fold predictions.

    Parameters
    ----------
    dataset : Dataset
        Labelled images (unlabelled samples, label -1, are left out).
    features : str
        ``"auto"`` (a backbone when its weights are on disk, else
        ``combined``) or any name of :data:`cvtoolkit.features.FEATURES`.
    weights : path, optional
        Backbone weights file (implies a backbone; see
        :func:`backbone_weights_on_disk`).
    alpha : float, optional
        MobileNet width, with an explicit backbone ``features``.
    folds : int
        Stratified K-fold splits (fewer when a class is smaller).
    seed : int
        Seed of the folds and of the logistic regression.
    cache_dir : path, optional
        Feature cache folder.

    Returns
    -------
    LabelIssues
    """
    from cleanlab.filter import find_label_issues as cleanlab_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from cvtoolkit.audit.leakage import sample_names

    started = time.perf_counter()
    options: dict[str, Any] = {}
    if features == "auto":
        found = backbone_weights_on_disk(weights)
        features, options = found if found else (FALLBACK_FEATURES, {})
        if not found:
            logger.warning(
                "label issues from %s descriptors are rough (5%% flipped Animals labels: recall 0.81 but precision "
                "0.11, against 0.92 and 0.60 with MobileNet 0.25); put backbone weights in %s or pass --weights",
                FALLBACK_FEATURES, _keras_models_dir())
    elif weights is not None:
        options["weights"] = str(weights)
        if alpha is None and features in BACKBONE_PREFERENCE:
            try:  # a Keras file name says its width (mobilenet_2_5_224_tf_no_top.h5: alpha 0.25)
                found = backbone_weights_on_disk(weights)
            except CvToolkitError:
                found = None
            if found and found[0] == features and "alpha" in found[1]:
                options["alpha"] = found[1]["alpha"]
    if alpha is not None:
        options["alpha"] = alpha
    labelled = np.flatnonzero(dataset.labels >= 0)
    ds = dataset.subset(labelled) if len(labelled) < len(dataset) else dataset
    y = ds.labels
    present, y_dense = np.unique(y, return_inverse=True)
    counts = np.bincount(y_dense)
    k = int(min(folds, counts.min()))
    if len(present) < 2 or k < 2:
        raise CvToolkitError("label issues need at least 2 classes with 2 or more images each")
    logger.info("label issues: %s features + logistic regression, %d-fold out-of-fold probabilities", features, k)
    X = _features_matrix(ds, features, options, cache_dir, n_jobs, progress)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1, random_state=seed))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    from threadpoolctl import threadpool_limits

    # One BLAS thread per fit: on a shared 2-core machine OpenBLAS's own threads made
    # the logistic regression 15x slower (digits raw: 26 s against 1.6 s).
    with threadpool_limits(limits=1):
        proba = cross_val_predict(model, X, y_dense, cv=cv, method="predict_proba", n_jobs=1)
    ranked = cleanlab_issues(y_dense, proba, return_indices_ranked_by="self_confidence", n_jobs=1)
    quality = get_label_quality_scores(y_dense, proba, method="self_confidence")
    names = sample_names(dataset)
    cls = dataset.class_names
    issues = [{
        "index": int(labelled[i]),
        "path": names[int(labelled[i])],
        "given": cls[int(present[y_dense[i]])],
        "suggested": cls[int(present[int(np.argmax(proba[i]))])],
        "score": round(float(quality[i]), 6),
    } for i in ranked]
    acc = float(np.mean(np.argmax(proba, axis=1) == y_dense))
    chance = float(counts.max() / counts.sum())
    unreliable = reliability(acc, chance, len(issues), len(y_dense))
    if unreliable:
        logger.warning("label issues: %d flagged, list withheld as unreliable: %s", len(issues), "; ".join(unreliable))
    return LabelIssues([] if unreliable else issues, features, options, round(acc, 4), k,
                       time.perf_counter() - started, flagged=len(issues), samples=len(y_dense),
                       chance_accuracy=round(chance, 4), unreliable=unreliable)
