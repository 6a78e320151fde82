"""Which types a saved pipeline may contain: loading never runs code from the file.

Classical pipelines are saved with :mod:`skops.io` (scikit-learn's secure
persistence), which rebuilds objects from a description instead of
unpickling them. It refuses any type it is not told to trust; cvtoolkit
trusts (besides skops' own defaults: scikit-learn estimators, NumPy and
SciPy containers):

- every scikit-learn or cvtoolkit class that is a scikit-learn estimator
  (a subclass of :class:`sklearn.base.BaseEstimator`): the transformers and
  classifiers the registries build (``cvtoolkit.features``,
  ``cvtoolkit.classifiers``, ``cvtoolkit.transfer``). Trust is decided from
  the type name: a module is imported only when it is on cvtoolkit's own
  list (:data:`SKLEARN_PACKAGES`, the modules of :data:`CVTOOLKIT_PACKAGES`),
  never because the file names it, so a file naming a test module or a
  module with side effects (``sklearn._build_utils.version``) is refused
  without importing it;
- :data:`SKLEARN_INTERNALS`: the few helper types fitted scikit-learn
  estimators hold (tree arrays, calibrators, neighbour trees and their
  distance metrics).

Anything else (a function such as ``os.system``, a class of another
package) is refused with :class:`~cvtoolkit.errors.ModelError` naming it,
unless the caller trusts the file (``--trust-model``: that runs code from
the file).

Examples
--------
>>> is_trusted_type("sklearn.pipeline.Pipeline"), is_trusted_type("cvtoolkit.features.hog.HOG")
(True, True)
>>> is_trusted_type("posix.system"), is_trusted_type("builtins.eval")
(False, False)
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from cvtoolkit.errors import ModelError

TRUSTED_PACKAGES = ("cvtoolkit", "sklearn")
"""Packages whose estimator classes can be trusted (see :func:`is_trusted_type` for which modules are imported)."""

SKLEARN_INTERNALS = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    # the distance metric a KD-tree/ball tree holds (k-NN on low-dimensional features);
    # never PyFuncDistance (a Python function) or the generic DistanceMetric
    *(f"sklearn.metrics._dist_metrics.{m}Distance{bits}"
      for m in ("Euclidean", "SEuclidean", "Manhattan", "Chebyshev", "Minkowski", "Mahalanobis")
      for bits in ("64", "32")),
})
"""Helper types (not estimators) that fitted scikit-learn estimators of the registries hold."""

SKLEARN_PACKAGES = (
    "sklearn.pipeline", "sklearn.preprocessing", "sklearn.svm", "sklearn.linear_model", "sklearn.neighbors",
    "sklearn.ensemble", "sklearn.tree", "sklearn.calibration", "sklearn.decomposition", "sklearn.cluster",
    "sklearn.kernel_approximation", "sklearn.naive_bayes", "sklearn.discriminant_analysis", "sklearn.compose",
    "sklearn.feature_selection", "sklearn.multiclass", "sklearn.neural_network", "sklearn.random_projection",
    "sklearn.impute", "sklearn.dummy", "sklearn.model_selection",
)
"""scikit-learn's public packages whose estimators are trusted: the only scikit-learn modules a trust check imports."""

CVTOOLKIT_PACKAGES = ("cvtoolkit.features", "cvtoolkit.classifiers", "cvtoolkit.transfer", "cvtoolkit.train")
"""cvtoolkit packages whose modules hold the estimators the registries build (their direct modules may be imported)."""


@lru_cache(maxsize=None)
def _cvtoolkit_modules() -> frozenset[str]:
    """The direct modules of :data:`CVTOOLKIT_PACKAGES`, listed from the file system (nothing imported)."""
    import cvtoolkit

    root = Path(cvtoolkit.__file__).parent
    names = set(CVTOOLKIT_PACKAGES)
    for pkg in CVTOOLKIT_PACKAGES:
        folder = root.joinpath(*pkg.split(".")[1:])
        names.update(f"{pkg}.{m.name}" for m in pkgutil.iter_modules([str(folder)]))
    return frozenset(names)


def _importable(module: str) -> str | None:
    """The module on cvtoolkit's own list to import so that ``module`` is loaded, or None (not trusted)."""
    if module.startswith("cvtoolkit."):
        return module if module in _cvtoolkit_modules() else None
    for pkg in SKLEARN_PACKAGES:
        if module == pkg or module.startswith(pkg + "."):
            return pkg
    return None


def is_trusted_type(name: str) -> bool:
    """Whether the fully qualified type ``name`` may be rebuilt from a saved pipeline.

    Only ``cvtoolkit.*`` and ``sklearn.*`` names can be trusted. The module
    the name gives is never imported because the file names it: it must
    already be loaded, or be loaded by importing a package on cvtoolkit's
    own list (:data:`SKLEARN_PACKAGES`, the modules of
    :data:`CVTOOLKIT_PACKAGES`); a name from any other package or module is
    not trusted here (skops trusts NumPy/SciPy containers itself).
    """
    if name in SKLEARN_INTERNALS:
        return True
    module, _, attr = name.rpartition(".")
    parts = module.split(".") if module else []
    if not parts or parts[0] not in TRUSTED_PACKAGES or not all(p.isidentifier() for p in parts + [attr]):
        return False
    loaded = sys.modules.get(module)
    if loaded is None:
        package = _importable(module)
        if package is None:
            return False
        try:
            importlib.import_module(package)
        except Exception:  # an optional dependency missing: not trusted
            return False
        loaded = sys.modules.get(module)
        if loaded is None:
            return False
    obj = vars(loaded).get(attr)  # no getattr: a lazy module __getattr__ could import more
    from sklearn.base import BaseEstimator

    return (isinstance(obj, type) and issubclass(obj, BaseEstimator)
            and getattr(obj, "__module__", "") == module and getattr(obj, "__qualname__", "") == attr)


def untrusted_types(types: Iterable[str]) -> list[str]:
    """The names in ``types`` that :func:`is_trusted_type` refuses, sorted.

    Examples
    --------
    >>> untrusted_types(["sklearn.svm._classes.SVC", "builtins.exec"])
    ['builtins.exec']
    """
    return sorted({t for t in types if not is_trusted_type(t)})


def dump_pipeline(estimator, path: str | os.PathLike) -> None:
    """Save a fitted scikit-learn estimator with :func:`skops.io.dump`."""
    import skops.io as sio

    sio.dump(estimator, path)


def load_trusted(path: str | os.PathLike, *, trust: bool = False):
    """Load a :func:`dump_pipeline` file, refusing types that are not trusted.

    Parameters
    ----------
    path : path-like
        A ``.skops`` file.
    trust : bool
        Trust every type in the file (``--trust-model``): this can run code
        from the file.

    Raises
    ------
    ModelError
        The file names types outside the trusted list (they are listed), or
        cannot be read.
    """
    import skops.io as sio

    path = Path(path)
    try:
        found = sio.get_untrusted_types(file=path)
    except Exception as err:  # not a skops file, damaged
        raise ModelError(f"{path}: not a readable skops file ({type(err).__name__}: {err}); re-run 'cvtoolkit fit'.") from err
    refused = [] if trust else untrusted_types(found)
    if refused:
        shown = ", ".join(refused[:8]) + (f" and {len(refused) - 8} more" if len(refused) > 8 else "")
        raise ModelError(
            f"{path.parent}: the saved model contains types cvtoolkit does not trust: {shown}. Loading them could "
            "run code from the file; if you trust its author, pass --trust-model."
        )
    try:
        return sio.load(path, trusted=list(found))
    except Exception as err:
        raise ModelError(f"{path}: cannot load the saved model ({type(err).__name__}: {err}); re-run 'cvtoolkit fit'.") from err
