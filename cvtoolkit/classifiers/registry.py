"""Classical classifiers by name, each an unfitted scikit-learn estimator.

Every classifier this module builds is a :class:`~sklearn.pipeline.Pipeline`
with the same two steps, so callers can address any of them the same way:

- ``"scale"``: a :class:`~sklearn.preprocessing.StandardScaler` for the
  models that need standardised inputs (SVMs, logistic regression),
  ``"passthrough"`` for those that do not (k-NN keeps raw distances, as in the
  classic raw-pixel protocol; trees are scale-invariant; ``ridge`` takes
  encodings that are already normalised), or an explicit kernel feature map
  (``chi2_svm``: :class:`~sklearn.kernel_approximation.AdditiveChi2Sampler`,
  so a linear SVM learns a chi-squared-kernel SVM on histograms).
- ``"clf"``: the model. The SVMs are wrapped in
  :class:`~sklearn.calibration.CalibratedClassifierCV` (``ensemble=False``,
  3 internal folds) so they have ``predict_proba``; their hyper-parameters
  are then ``clf__estimator__C`` and so on.

Every pipeline has ``predict_proba`` and ``classes_``, and ``random_state``
is set wherever a model draws random numbers, so results repeat.

Examples
--------
>>> from cvtoolkit.classifiers import make_classifier
>>> model = make_classifier("logreg", C=0.1)
>>> [name for name, _ in model.steps]
['scale', 'clf']
>>> model.get_params()["clf__C"]
0.1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from cvtoolkit.registry import Registry

if TYPE_CHECKING:  # scikit-learn (and pandas) cost a second to import: not for listing names
    from sklearn.base import BaseEstimator
    from sklearn.pipeline import Pipeline

__all__ = [
    "CLASSIFIERS",
    "REGISTRY",
    "make_classifier",
    "check_class_sizes",
    "register_classifier",
    "unregister_classifier",
    "describe_classifier",
    "model_param_prefix",
]

#: Folds :class:`~sklearn.calibration.CalibratedClassifierCV` uses inside the
#: SVM classifiers to learn ``predict_proba`` (each class needs at least this
#: many training samples).
CALIBRATION_FOLDS = 3


@dataclass(frozen=True)
class _Spec:
    """How to build one named classifier (``build(random_state, n_jobs, many)``; ``many``: 10 classes or more)."""

    build: Callable[..., BaseEstimator]
    scale: bool | str  # True: StandardScaler; False: passthrough; "chi2": AdditiveChi2Sampler
    calibrated: bool
    description: str


def _knn(random_state: int | None, n_jobs: int | None, many: bool = False) -> BaseEstimator:
    from sklearn.neighbors import KNeighborsClassifier

    # k=1 on raw (unscaled) distances: the classic raw-pixel baseline.
    return KNeighborsClassifier(n_neighbors=1, n_jobs=n_jobs)


def _linear_svm(random_state: int | None, n_jobs: int | None, many: bool = False) -> BaseEstimator:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    # Primal solver, C=0.001 and tol=1e-2 rather than liblinear's dual, C=1,
    # tol=1e-4: on standardised high-dimensional inputs (raw pixels, HOG: more
    # features than samples) the dual needs thousands of passes (over 10
    # minutes on Animals 32x32 pixels). Measured on the 75/25 seed-42 splits
    # (fit seconds on a loaded 2-core machine, accuracy):
    #   digits@32 raw:  C=0.01 tol=1e-4 76 s 0.933 | C=0.001 tol=1e-2 28 s 0.933
    #   animals raw:    C=0.01 tol=1e-4 102 s 0.541 | C=0.001 tol=1e-2 12 s 0.577
    #   animals hog:    C=0.01 tol=1e-2 3.8 s 0.628 | C=0.001 tol=1e-2 1.5 s 0.643
    # The search covers 1e-4..0.1.
    svm = LinearSVC(C=0.001, dual=False, tol=1e-2, max_iter=2000, random_state=random_state)
    if many:
        # SGD_FROM_CLASSES classes or more: liblinear's one-vs-rest cost multiplies by the classes
        # (101 classes, 6060 x 900 HOG: 457 s); SGD with early stopping, same C (see classifiers.linear).
        from cvtoolkit.classifiers.linear import SGDLinearSVC

        svm = SGDLinearSVC(C=0.001, tol=1e-3, max_iter=1000, random_state=random_state, n_jobs=n_jobs)
    return CalibratedClassifierCV(
        svm, method="sigmoid", cv=CALIBRATION_FOLDS, ensemble=False, n_jobs=n_jobs
    )


def _rbf_svm(random_state: int | None, n_jobs: int | None, many: bool = False) -> BaseEstimator:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    # SVC(probability=True) is deprecated in scikit-learn 1.9; this is the
    # documented replacement (one SVC on all data, calibrated on CV folds).
    svm = SVC(kernel="rbf", C=1.0, gamma="scale", cache_size=500,
              random_state=random_state)
    # SVC's one-vs-one cost does not multiply by the classes (about 2 n^2 kernel rows whatever their
    # number). Averaging the fold SVCs (ensemble=True) instead of refitting on everything was tried on
    # 101 classes (combined features, 6060 samples): 163 s and accuracy 0.304 against 159 s and 0.335.
    return CalibratedClassifierCV(
        svm, method="sigmoid", cv=CALIBRATION_FOLDS, ensemble=False, n_jobs=n_jobs
    )


def _ridge(random_state: int | None, n_jobs: int | None, many: bool = False) -> BaseEstimator:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import RidgeClassifier

    # A least-squares linear classifier for normalised encodings (Fisher vectors: 40 960 values). No
    # standardisation (it would blow up rare components); with more values than images scikit-learn solves
    # it through the n x n Gram matrix, so it fits in seconds where liblinear takes a minute. Flowers-17,
    # osift_fisher, 75/25 seed 42, calibrated: alpha 0.03 0.900, 0.1 0.897 (9.6 s), 0.3 0.888; LinearSVC C=1
    # 0.865 (34 s uncalibrated). Animals: 0.841, 0.843, 0.844.
    return CalibratedClassifierCV(RidgeClassifier(alpha=0.1), method="sigmoid", cv=CALIBRATION_FOLDS,
                                  ensemble=False, n_jobs=n_jobs)


def _chi2_svm(random_state: int | None, n_jobs: int | None, many: bool = False) -> BaseEstimator:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    # Behind the "scale" step's AdditiveChi2Sampler (an explicit chi-squared feature map), a linear SVM is
    # a chi-squared-kernel SVM that scales to many images (Vedaldi & Zisserman 2012).
    svm = LinearSVC(C=CHI2_SVM_C, dual="auto", max_iter=2000, random_state=random_state)
    return CalibratedClassifierCV(svm, method="sigmoid", cv=CALIBRATION_FOLDS, ensemble=False, n_jobs=n_jobs)


CHI2_SVM_C = 1.0
"""``C`` of ``chi2_svm`` (Flowers-17, dsift_spm, 75/25 seed 42: C=0.1 0.547, C=1 0.574, C=10 0.568)."""


def _logreg(random_state: int | None, n_jobs: int | None, many: bool = False) -> BaseEstimator:
    from sklearn.linear_model import LogisticRegression

    # LogisticRegression's n_jobs is deprecated (1.8) and lbfgs ignores it.
    return LogisticRegression(C=1.0, max_iter=2000, random_state=random_state)


def _random_forest(random_state: int | None, n_jobs: int | None, many: bool = False) -> BaseEstimator:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=200, n_jobs=n_jobs, random_state=random_state
    )


def _gradient_boosting(random_state: int | None, n_jobs: int | None, many: bool = False) -> BaseEstimator:
    from sklearn.ensemble import HistGradientBoostingClassifier

    # Threads come from OpenMP (OMP_NUM_THREADS), not n_jobs.
    return HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.1, early_stopping=True,
        random_state=random_state,
    )


REGISTRY = Registry("classifier")
"""Every classifier name -> its :class:`_Spec` (how to build it; a :class:`cvtoolkit.registry.Registry`)."""

#: Names :func:`make_classifier` accepts, in the order help text lists them (kept up to date in place).
CLASSIFIERS: list[str] = []


def register_classifier(name: str, target: Callable[..., BaseEstimator], *, overwrite: bool = False,
                        scale: bool | str = True, calibrated: bool = False, description: str = "") -> None:
    """Add a classifier to the registry, so every command can use it by name.

    Parameters
    ----------
    name : str
        The name (``"<features>+<name>"`` rows, ``--classifier``).
    target : callable
        ``target(random_state, n_jobs, many)`` returns the unfitted model
        (``many``: the data has 10 classes or more).
    overwrite : bool, default False
        Replace a registered name instead of raising ``ValueError``.
    scale : bool or "chi2", default True
        Standardise the inputs first (the pipeline's ``"scale"`` step);
        ``"chi2"``: map them with an additive chi-squared kernel map instead.
    calibrated : bool, default False
        The model is a ``CalibratedClassifierCV`` (its parameters are ``clf__estimator__*``).
    description : str, optional
        One line for help text (default: the first line of ``target``'s docstring).

    Examples
    --------
    >>> def _my_ridge(random_state, n_jobs, many=False):
    ...     from sklearn.linear_model import RidgeClassifierCV
    ...     return RidgeClassifierCV()
    >>> register_classifier("my_ridge", _my_ridge, description="ridge regression classifier")
    >>> "my_ridge" in CLASSIFIERS, describe_classifier("my_ridge")
    (True, 'ridge regression classifier')
    >>> unregister_classifier("my_ridge")
    """
    description = description or (target.__doc__ or name).strip().splitlines()[0]
    REGISTRY.register(name, _Spec(target, scale=scale, calibrated=calibrated, description=description),
                      description=description, overwrite=overwrite)
    CLASSIFIERS[:] = REGISTRY.names()


def unregister_classifier(name: str) -> None:
    """Remove a registry entry (no error if absent)."""
    REGISTRY.unregister(name)
    CLASSIFIERS[:] = REGISTRY.names()


for _name, _build, _scale, _calibrated, _description in (
    ("knn", _knn, False, False, "k-nearest neighbours (k=1, raw Euclidean distances, no scaling)"),
    ("linear_svm", _linear_svm, True, True,
     "linear SVM (LinearSVC primal, C=0.001, standardised inputs, sigmoid-calibrated probabilities)"),
    ("rbf_svm", _rbf_svm, True, True,
     "RBF-kernel SVM (SVC, standardised inputs, sigmoid-calibrated probabilities; slow beyond ~10k samples)"),
    ("logreg", _logreg, True, False, "multinomial logistic regression (lbfgs, L2, standardised inputs)"),
    ("ridge", _ridge, False, True,
     "least-squares linear classifier for normalised encodings such as Fisher vectors (RidgeClassifier, "
     "alpha=0.1, no standardisation, sigmoid-calibrated)"),
    ("chi2_svm", _chi2_svm, "chi2", True,
     "chi-squared-kernel SVM on histograms (AdditiveChi2Sampler feature map + LinearSVC, sigmoid-calibrated; "
     "inputs must be non-negative)"),
    ("random_forest", _random_forest, False, False, "random forest of 200 trees"),
    ("gradient_boosting", _gradient_boosting, False, False,
     "histogram gradient boosting (HistGradientBoostingClassifier, early stopping; OpenMP threads, slow on a "
     "busy machine)"),
):
    register_classifier(_name, _build, scale=_scale, calibrated=_calibrated, description=_description)


def _spec(name: str) -> _Spec:
    """The :class:`_Spec` of ``name``; an unknown name raises :class:`~cvtoolkit.errors.UnknownNameError`."""
    return REGISTRY.get(str(name))


def check_class_sizes(name: str, y: Any, class_names: Any = None, *, search_folds: int | None = None,
                      where: str = "the training part") -> None:
    """Refuse, naming the class, a training set too small for what the classifier ``name`` does inside ``fit``.

    The calibrated SVMs (``linear_svm``, ``rbf_svm``) split each class into
    :data:`CALIBRATION_FOLDS` folds; ``gradient_boosting`` holds out a
    stratified tenth for early stopping (each class needs 2 images, and the
    tenth one image per class); a search (``search_folds``) splits each
    class into its folds. Without this check scikit-learn's message
    ("Requesting 3-fold cross-validation ...") names neither the class nor
    a fix.

    Raises
    ------
    DatasetError
        One line: which class, how many images it has, which step needs how
        many, and what to do.

    Examples
    --------
    >>> check_class_sizes("linear_svm", [0, 0, 0, 1, 1], ["cat", "dog"])
    Traceback (most recent call last):
    ...
    cvtoolkit.errors.DatasetError: class 'dog' has 2 images in the training part; linear_svm calibrates its probabilities on 3 internal folds and needs at least 3 per class. Add images to 'dog' (or remove the class), or choose a classifier without internal folds (knn, logreg, random_forest).
    """
    import math

    import numpy as np

    from cvtoolkit.errors import DatasetError

    labels, counts = np.unique(np.asarray(y), return_counts=True)
    if not len(counts):
        return
    needs: list[tuple[int, str]] = []
    if search_folds:
        needs.append((int(search_folds), f"the {search_folds}-fold search of {name}'s parameters splits each "
                                         "class into its folds"))
    if _spec(name).calibrated:
        needs.append((CALIBRATION_FOLDS, f"{name} calibrates its probabilities on {CALIBRATION_FOLDS} internal "
                                         "folds"))
    if name == "gradient_boosting":  # early stopping holds out a stratified 10% (one image per class at least)
        needs.append((2, f"{name} holds out a stratified tenth for early stopping"))
        if math.ceil(0.1 * counts.sum()) < len(counts):
            raise DatasetError(
                f"{where} has {int(counts.sum())} images; {name} holds out a stratified tenth for early stopping, "
                f"which needs at least {10 * (len(counts) - 1) + 1} images for {len(counts)} classes. Add images, "
                "or choose another classifier (knn, logreg, random_forest)."
            )
    for needed, step in sorted(needs, reverse=True, key=lambda n: n[0]):
        small = counts < needed
        if not small.any():
            continue
        i = int(np.flatnonzero(small)[0])
        label = labels[i]
        named = (repr(str(class_names[int(label)])) if class_names is not None and np.issubdtype(type(label), np.integer)
                 and 0 <= int(label) < len(class_names) else f"label {label!r}")
        more = f" (and {int(small.sum()) - 1} more class{'es' if small.sum() > 2 else ''})" if small.sum() > 1 else ""
        raise DatasetError(
            f"class {named}{more} has {int(counts[i])} image{'s' if counts[i] != 1 else ''} in {where}; {step} and "
            f"needs at least {needed} per class. Add images to {named} (or remove the class), or choose a "
            "classifier without internal folds (knn, logreg, random_forest)."
        )


def model_param_prefix(name: str) -> str:
    """Return the parameter prefix of the model inside a named classifier.

    Parameters
    ----------
    name : str
        A name from :data:`CLASSIFIERS`.

    Returns
    -------
    str
        ``"clf__"``, or ``"clf__estimator__"`` for the calibrated SVMs.

    Examples
    --------
    >>> model_param_prefix("knn"), model_param_prefix("rbf_svm")
    ('clf__', 'clf__estimator__')
    """
    return "clf__estimator__" if _spec(name).calibrated else "clf__"


def make_classifier(
    name: str,
    *,
    random_state: int | None = 42,
    n_jobs: int | None = None,
    n_classes: int | None = None,
    **params: Any,
) -> Pipeline:
    """Build an unfitted classifier by name.

    Parameters
    ----------
    name : str
        One of :data:`CLASSIFIERS`: ``knn``, ``linear_svm``, ``rbf_svm``,
        ``logreg``, ``random_forest``, ``gradient_boosting``.
    random_state : int or None, default=42
        Seed for every model that draws random numbers.
    n_jobs : int or None, default=None
        Parallel jobs for the models that take them (k-NN queries, forest
        trees, the calibration folds of the SVMs).
    n_classes : int, optional
        Classes of the data it will be fitted on, when known. From
        :data:`cvtoolkit.classifiers.linear.SGD_FROM_CLASSES` (10) classes
        ``linear_svm`` fits by SGD with early stopping
        (:class:`~cvtoolkit.classifiers.linear.SGDLinearSVC`, the same ``C``):
        liblinear's one-vs-rest cost multiplies by the classes. Measured
        speed and accuracy: the constant's note and
        ``bench/bench_many_classes.py``. None: liblinear, as before.
    **params
        Hyper-parameters. A plain name (``C=10``, ``n_neighbors=3``) is set on
        the model itself; a name with ``__`` (``clf__method="isotonic"``) is
        set on the pipeline as written.

    Returns
    -------
    Pipeline
        ``Pipeline([("scale", StandardScaler() or "passthrough"), ("clf", model)])``
        with ``predict_proba``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones) or a
        hyper-parameter the model does not have.

    Notes
    -----
    ``linear_svm`` and ``rbf_svm`` learn their probabilities on
    :data:`CALIBRATION_FOLDS` internal folds, so ``fit`` needs at least that
    many samples of every class (scikit-learn raises otherwise).

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=60, n_features=8, random_state=0)
    >>> model = make_classifier("knn", n_neighbors=3).fit(X, y)
    >>> model.predict_proba(X[:2]).shape
    (2, 2)
    """
    spec = _spec(name)
    from sklearn.pipeline import Pipeline

    from cvtoolkit.classifiers.linear import SGD_FROM_CLASSES

    many = n_classes is not None and int(n_classes) >= SGD_FROM_CLASSES
    pipeline = Pipeline([
        ("scale", _first_step(spec.scale)),
        ("clf", spec.build(random_state, n_jobs, many)),
    ])
    if params:
        prefix = model_param_prefix(name)
        routed = {(key if "__" in key else prefix + key): value
                  for key, value in params.items()}
        valid = pipeline.get_params()
        unknown = sorted(key for key in routed if key not in valid)
        if unknown:
            model_keys = sorted(k[len(prefix):] for k in valid
                                if k.startswith(prefix) and "__" not in k[len(prefix):])
            raise ValueError(
                f"classifier {name!r} has no parameter(s) "
                f"{', '.join(k[len(prefix):] if k.startswith(prefix) else k for k in unknown)}; "
                f"its model takes {', '.join(model_keys)}."
            )
        pipeline.set_params(**routed)
    return pipeline


def _first_step(scale: bool | str) -> Any:
    """The pipeline's ``"scale"`` step for a spec's ``scale``."""
    if scale == "chi2":
        from sklearn.kernel_approximation import AdditiveChi2Sampler

        return AdditiveChi2Sampler(sample_steps=2)
    if scale:
        from sklearn.preprocessing import StandardScaler

        return StandardScaler()
    return "passthrough"


def describe_classifier(name: str) -> str:
    """Return a one-line description of a named classifier, for help text.

    Examples
    --------
    >>> describe_classifier("random_forest")
    'random forest of 200 trees'
    """
    return _spec(name).description
