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
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
