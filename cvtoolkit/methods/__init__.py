"""Leaderboard rows by name: ``<features>+<classifier>`` or a CNN name.

A method is the unit ``compare`` ranks and ``fit`` saves: one estimator that
maps images to class probabilities.

- ``hog+linear_svm``: a descriptor from :mod:`cvtoolkit.features` feeding a
  classifier from :mod:`cvtoolkit.classifiers`, as a scikit-learn
  ``Pipeline`` (steps ``features`` and ``classifier``);
- ``mobilenet+logreg``: the same, with a CNN backbone as the descriptor;
- ``shallownet``: a CNN from :mod:`cvtoolkit.nn` trained end to end
  (:class:`cvtoolkit.train.KerasImageClassifier`);
- ``features+logreg`` on a feature store: the classifier alone, on the
  stored vectors.

Examples
--------
>>> parse_method("hog+linear_svm")
MethodSpec(name='hog+linear_svm', kind='classical', features='hog', classifier='linear_svm', model=None)
>>> parse_method("shallownet").kind
'cnn'
"""

from __future__ import annotations

from cvtoolkit.methods.spec import (
    DEFAULT_CLASSICAL_ROWS,
    DEFAULT_CNN_ROWS,
    FEATURE_STORE_PREFIX,
    MethodSpec,
    default_methods,
    parse_method,
    validate_methods,
)
from cvtoolkit.methods.build import make_method
from cvtoolkit._lazy import lazy_attributes

# The workflows, loaded on first use (listing or checking rows imports none of them).
_WORKFLOWS = {
    "CompareJob": "cvtoolkit.methods.compare_job",
    "CompareJobResult": "cvtoolkit.methods.compare_job",
    "run_compare_job": "cvtoolkit.methods.compare_job",
    "run_compare": "cvtoolkit.methods.compare",
    "TrainJob": "cvtoolkit.methods.train_job",
    "TrainResult": "cvtoolkit.methods.train_job",
    "run_train_job": "cvtoolkit.methods.train_job",
}
__getattr__, __dir__ = lazy_attributes(__name__, _WORKFLOWS)

__all__ = [
    "DEFAULT_CLASSICAL_ROWS",
    "DEFAULT_CNN_ROWS",
    "FEATURE_STORE_PREFIX",
    "MethodSpec",
    "default_methods",
    "make_method",
    "parse_method",
    "validate_methods",
    *_WORKFLOWS,
]
