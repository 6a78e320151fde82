"""cvtoolkit: classical computer vision and Keras CNNs side by side.

The package is organised by what lives where:

- :mod:`cvtoolkit.data`: datasets (folders, CSV pixels, Keras datasets, the
  embedded ``digits`` default), image decoding, preprocessors, splits.
- :mod:`cvtoolkit.io`: the HDF5 store (streamed, atomic) and a Keras
  ``PyDataset`` over it.
- :mod:`cvtoolkit.features`: image descriptors as scikit-learn transformers.
- :mod:`cvtoolkit.classifiers`: classical classifiers by name.
- :mod:`cvtoolkit.nn`: Keras CNN builders by name.
- :mod:`cvtoolkit.train`: the Keras training toolkit.
- :mod:`cvtoolkit.methods`: a method row name (``hog+linear_svm``,
  ``shallownet``) turned into one estimator with ``fit``/``predict_proba``.
- :mod:`cvtoolkit.evaluate`: metrics, reports, plots.
- :mod:`cvtoolkit.cli`: the ``cvtoolkit`` command.

From Python (:mod:`cvtoolkit.api`, loaded on first use)::

    import cvtoolkit as cvt
    result = cvt.compare("path/to/folder", image_size=64, methods=["hog+linear_svm", "raw+knn"])
    result.verdict, result.leaderboard          # a sentence, a pandas DataFrame
    cvt.audit("path/to/folder"), cvt.load_dataset("digits"), cvt.load_model("models/hog-svm")

``cvt.audit`` is the :mod:`cvtoolkit.audit` package, callable as
:func:`cvtoolkit.api.audit`. Importing cvtoolkit quiets TensorFlow's native
start-up lines, as the command line does (:mod:`cvtoolkit._quiet`).
"""

import importlib
import logging

from cvtoolkit._quiet import quiet_tensorflow_import

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
quiet_tensorflow_import()  # installs an import hook and an environment default; imports nothing

_API = ("compare", "load_dataset", "load_model", "Comparison")
"""Names of :mod:`cvtoolkit.api`, loaded on first use (PEP 562; no ``typing`` import here: it is on the clock)."""


def __getattr__(name: str):
    if name == "audit":  # the subpackage, callable (cvtoolkit.api.audit): one name, whichever is imported first
        return importlib.import_module("cvtoolkit.audit")
    if name in _API:
        value = getattr(importlib.import_module("cvtoolkit.api"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cvtoolkit' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_API) | {"audit"})


__all__ = ["Comparison", "audit", "compare", "load_dataset", "load_model"]
