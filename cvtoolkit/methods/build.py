"""Building the estimator a method name stands for."""

from __future__ import annotations

from typing import Any

import numpy as np

from cvtoolkit.methods.spec import MethodSpec, parse_method


def full_proba(proba, classes, n_classes: int) -> np.ndarray:
    """Probabilities with a column for every class, even classes a classifier never saw in training.

    ``classes`` is the fitted estimator's ``classes_`` (column ``j`` of
    ``proba`` is class ``classes[j]``); None means the columns are already
    ``0..n_classes-1``.

    Examples
    --------
    >>> full_proba(np.array([[0.3, 0.7]]), np.array([0, 2]), 3).tolist()
    [[0.3, 0.0, 0.7]]
    """
    proba = np.asarray(proba, dtype=np.float64)
    if classes is None or proba.shape[1] == n_classes:
        return proba
    full = np.zeros((proba.shape[0], n_classes))
    full[:, np.asarray(classes, dtype=int)] = proba
    return full


RAW_FEATURES = "raw"
"""The descriptor whose size and channels follow the images it is given (raw pixels are the images)."""


def make_features_step(spec: MethodSpec, options: dict[str, Any], image_size: Any = None,
                       channels: int | None = None):
    """The unfitted descriptor of a classical row (``None`` for stored features).

    Descriptors keep their own working sizes (HOG resizes to 64x64, ...),
    except ``raw``: raw pixels are the images at ``image_size`` (the size the
    dataset was loaded at), unless ``options`` sets ``size``, and grey images
    (``channels=1``) stay one channel (``color=False``) unless ``options``
    sets ``color``: three copies of a grey channel add nothing but width, and
    make linear models converge slowly.

    Examples
    --------
    >>> make_features_step(parse_method("raw+knn"), {}, image_size=(8, 8), channels=1)
    RawPixels(color=False, size=(8, 8))
    """
    if spec.kind != "classical":
        return None
    from cvtoolkit.features import COMMON_OPTIONS, feature_options, make_features

    # ``options`` are offered to every row's descriptor: the command-level ones (n_jobs, alpha,
    # weights, ...) as ``common=``; any other (``n_words`` for a bag of words) goes to the
    # descriptors that have it and is left out for the others.
    takes = feature_options(spec.features)
    own: dict[str, Any] = {k: v for k, v in options.items()
                           if k not in COMMON_OPTIONS and (takes is None or k in takes)}
    common = {k: v for k, v in options.items() if k in COMMON_OPTIONS}
    if spec.features == RAW_FEATURES:
        if image_size is not None and "size" not in options:
            own["size"] = image_size
        if channels == 1 and "color" not in options:
            own["color"] = False
    return make_features(spec.features, common=common, **own)


def make_classifier_step(spec: MethodSpec, *, random_state: int = 42, n_jobs: int | None = None,
                         n_classes: int | None = None, **params):
    """The unfitted classifier of a classical or stored row (``n_classes``: see ``make_classifier``)."""
    from cvtoolkit.classifiers import make_classifier

    return make_classifier(spec.classifier, random_state=random_state, n_jobs=n_jobs, n_classes=n_classes, **params)


def make_method(
    name: str | MethodSpec,
    *,
    feature_options: dict[str, Any] | None = None,
    classifier_params: dict[str, Any] | None = None,
    cnn_options: dict[str, Any] | None = None,
    random_state: int = 42,
    n_jobs: int | None = None,
    image_size: Any = None,
    channels: int | None = None,
):
    """An unfitted estimator (``fit(images, y)``, ``predict_proba(images)``) for a row.

    Parameters
    ----------
    name : str or MethodSpec
        A row name such as ``hog+linear_svm`` or ``shallownet``.
    feature_options : dict, optional
        Passed to :func:`cvtoolkit.features.make_features` (options a
        descriptor does not take are ignored).
    classifier_params : dict, optional
        Passed to :func:`cvtoolkit.classifiers.make_classifier`.
    cnn_options : dict, optional
        Passed to :class:`cvtoolkit.train.KerasImageClassifier` (``epochs``,
        ``batch_size``, ``learning_rate``, ``augment``, ...), or to
        :class:`cvtoolkit.transfer.finetune.FineTuneClassifier` for a
        ``<backbone>+finetune`` row (which also takes ``alpha`` and
        ``weights`` from ``feature_options``).
    image_size : int or (height, width), optional
        The size the images were loaded at; ``raw`` features use it.
    channels : int, optional
        Channels of the images (1: grey); ``raw`` features keep grey images grey.

    Examples
    --------
    >>> est = make_method("raw+knn")
    >>> [step for step, _ in est.steps]
    ['features', 'classifier']
    """
    from sklearn.pipeline import Pipeline

    spec = parse_method(name) if isinstance(name, str) else name
    if spec.kind == "ensemble":
        from cvtoolkit.errors import MethodError

        raise MethodError(f"{spec.name!r} is a compare row that fuses the other rows of one side (its weights come "
                          "from those rows' out-of-fold probabilities); it has no estimator of its own: fit one of "
                          "its members (e.g. osift_fisher+ridge), or keep it with compare")
    if spec.kind == "cnn" and spec.features is not None:  # <backbone>+finetune
        from cvtoolkit.transfer.finetune import FineTuneClassifier

        options = {k: v for k, v in (feature_options or {}).items() if k in ("alpha", "weights") and v is not None}
        if "weights" in (feature_options or {}):  # weights=None (random) is a choice too
            options["weights"] = feature_options["weights"]
        cnn = {k: v for k, v in (cnn_options or {}).items() if k in FineTuneClassifier().get_params()}
        return FineTuneClassifier(spec.features, seed=random_state, **options, **cnn)
    if spec.kind == "cnn":
        from cvtoolkit.train import KerasImageClassifier

        return KerasImageClassifier(model=spec.model, seed=random_state, **(cnn_options or {}))
    clf = make_classifier_step(spec, random_state=random_state, n_jobs=n_jobs, **(classifier_params or {}))
    if spec.kind == "stored":
        return clf
    features = make_features_step(spec, dict(feature_options or {}, n_jobs=n_jobs), image_size=image_size,
                                  channels=channels)
    return Pipeline([("features", features), ("classifier", clf)])
