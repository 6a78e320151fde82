"""Building the estimator a method name stands for."""

from __future__ import annotations

from typing import Any

from cvtoolkit.methods.spec import MethodSpec, parse_method


def make_features_step(spec: MethodSpec, options: dict[str, Any]):
    """The unfitted descriptor of a classical row (``None`` for stored features)."""
    if spec.kind != "classical":
        return None
    from cvtoolkit.features import make_features

    return make_features(spec.features, **options)


def make_classifier_step(spec: MethodSpec, *, random_state: int = 42, n_jobs: int | None = None, **params):
    """The unfitted classifier of a classical or stored row."""
    from cvtoolkit.classifiers import make_classifier

    return make_classifier(spec.classifier, random_state=random_state, n_jobs=n_jobs, **params)


def make_method(
    name: str | MethodSpec,
    *,
    feature_options: dict[str, Any] | None = None,
    classifier_params: dict[str, Any] | None = None,
    cnn_options: dict[str, Any] | None = None,
    random_state: int = 42,
    n_jobs: int | None = None,
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
        ``batch_size``, ``learning_rate``, ``augment``, ...).

    Examples
    --------
    >>> est = make_method("raw+knn")
    >>> [step for step, _ in est.steps]
    ['features', 'classifier']
    """
    from sklearn.pipeline import Pipeline

    spec = parse_method(name) if isinstance(name, str) else name
    if spec.kind == "cnn":
        from cvtoolkit.train import KerasImageClassifier

        return KerasImageClassifier(model=spec.model, seed=random_state, **(cnn_options or {}))
    clf = make_classifier_step(spec, random_state=random_state, n_jobs=n_jobs, **(classifier_params or {}))
    if spec.kind == "stored":
        return clf
    features = make_features_step(spec, dict(feature_options or {}, n_jobs=n_jobs))
    return Pipeline([("features", features), ("classifier", clf)])
