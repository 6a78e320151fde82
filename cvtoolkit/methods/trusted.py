"""Which types a saved pipeline may contain: loading never runs code from the file.

Classical pipelines are saved with :mod:`skops.io` (scikit-learn's secure
persistence), which rebuilds objects from a description instead of
unpickling them. It refuses any type it is not told to trust; cvtoolkit
trusts (besides skops' own defaults: scikit-learn estimators, NumPy and
SciPy containers):

- every scikit-learn or cvtoolkit class that is a scikit-learn estimator
  (a subclass of :class:`sklearn.base.BaseEstimator`): the transformers and
  classifiers the registries build (``cvtoolkit.features``,
  ``cvtoolkit.classifiers``, ``cvtoolkit.transfer``), decided by importing
  the class from its own ``cvtoolkit.``/``sklearn.`` module, never any
  other module named in the file;
- :data:`SKLEARN_INTERNALS`: the few helper types fitted scikit-learn
  estimators hold (tree arrays, calibrators, neighbour trees).

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
from pathlib import Path
from typing import Iterable

from cvtoolkit.errors import ModelError

TRUSTED_PACKAGES = ("cvtoolkit", "sklearn")
"""Packages whose estimator classes are trusted (their modules are imported to check a type)."""

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
})
"""Helper types (not estimators) that fitted scikit-learn estimators of the registries hold."""


def is_trusted_type(name: str) -> bool:
    """Whether the fully qualified type ``name`` may be rebuilt from a saved pipeline.

    Only ``cvtoolkit.*`` and ``sklearn.*`` names are looked up (their module
    is imported); a name from any other package is not trusted here (skops
    trusts NumPy/SciPy containers itself).
    """
    if name in SKLEARN_INTERNALS:
        return True
    module, _, attr = name.rpartition(".")
    if not module or module.split(".")[0] not in TRUSTED_PACKAGES or not attr.isidentifier():
        return False
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        return False
    from sklearn.base import BaseEstimator

    return (isinstance(obj, type) and issubclass(obj, BaseEstimator)
            and getattr(obj, "__module__", "").split(".")[0] in TRUSTED_PACKAGES)


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
