"""Classical classifiers by name, with their hyper-parameter searches.

:func:`make_classifier` turns a name from :data:`CLASSIFIERS` into an
unfitted scikit-learn ``Pipeline`` (``scale`` then ``clf``) that has
``predict_proba``; :func:`search_space` and :func:`fit_with_search` tune it
on a training split.

Examples
--------
>>> from cvtoolkit.classifiers import CLASSIFIERS, make_classifier
>>> CLASSIFIERS
['knn', 'linear_svm', 'rbf_svm', 'logreg', 'ridge', 'chi2_svm', 'random_forest', 'gradient_boosting']
>>> make_classifier("random_forest", n_jobs=2).get_params()["clf__n_jobs"]
2
"""

from .registry import (
    CALIBRATION_FOLDS,
    CLASSIFIERS,
    check_class_sizes,
    describe_classifier,
    make_classifier,
    model_param_prefix,
    register_classifier,
    unregister_classifier,
)
from cvtoolkit._lazy import lazy_attributes

# Lazy: the searches import scikit-learn and SciPy (a second or more); listing names needs neither.
__getattr__, __dir__ = lazy_attributes(__name__, {"fit_with_search": "cvtoolkit.classifiers.search",
                                                  "fit_pipeline_with_search": "cvtoolkit.classifiers.search",
                                                  "search_space": "cvtoolkit.classifiers.search"})

__all__ = [
    "CALIBRATION_FOLDS",
    "CLASSIFIERS",
    "check_class_sizes",
    "describe_classifier",
    "fit_pipeline_with_search",
    "fit_with_search",
    "make_classifier",
    "model_param_prefix",
    "register_classifier",
    "search_space",
    "unregister_classifier",
]
