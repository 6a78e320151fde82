"""The Keras training toolkit.

- :func:`fit`: one function that trains on in-memory arrays, an image folder
  (streamed, parallel decode) or an HDF5 store, with monitoring,
  checkpointing, early stopping, resume, augmentation, class weights and
  mixed precision.
- The batch sources for ``model.fit``: :class:`ArrayBatches`,
  :class:`FolderBatches` (an image folder, decoded in parallel) and
  :class:`HDF5Batches` (a store, read on demand).
- :class:`KerasImageClassifier`: a CNN as a scikit-learn classifier, so a
  network is one more row on the ``compare`` leaderboard.
- :class:`TrainingMonitor` (history JSON + loss/accuracy plot every epoch),
  :class:`LRFinder`, the schedules (:class:`StepDecay`,
  :class:`PolynomialDecay`, :class:`OneCycle`, :class:`WarmupCosine`),
  :func:`make_augmentation`, :func:`class_weights_from_labels`,
  :func:`recalibrate_batch_norm` (batch-norm statistics after short training).

Names load on first use, so importing the package does not import Keras.
(:mod:`cvtoolkit.train.fit` is imported eagerly, because its function has
the module's name; the module itself imports Keras only when called.)

Examples
--------
>>> from cvtoolkit.train import class_weights_from_labels
>>> class_weights_from_labels([0, 1, 1, 1])
{0: 2.0, 1: 0.6666666666666666}
"""

from __future__ import annotations

from cvtoolkit._lazy import lazy_attributes

# The function ``fit`` must shadow the submodule ``fit`` from the start: once
# ``cvtoolkit.train.fit`` is imported as a module the package attribute would
# otherwise be the module, not the function.
from cvtoolkit.train.fit import fit, make_training_data, resume_state, set_mixed_precision  # noqa: E402

_LAZY = {
    "KerasImageClassifier": "cvtoolkit.train.estimator",
    "ArrayBatches": "cvtoolkit.train.data",
    "FolderBatches": "cvtoolkit.train.data",
    "HDF5Batches": "cvtoolkit.train.hdf5_batches",
    "TrainingMonitor": "cvtoolkit.train.callbacks",
    "LRFinder": "cvtoolkit.train.lr_finder",
    "LRFinderResult": "cvtoolkit.train.lr_finder",
    "make_augmentation": "cvtoolkit.train.augmentation",
    "with_augmentation": "cvtoolkit.train.augmentation",
    "class_weights_from_labels": "cvtoolkit.train.class_weights",
    "recalibrate_batch_norm": "cvtoolkit.train.batch_norm",
    "make_schedule": "cvtoolkit.train.schedules",
    "StepDecay": "cvtoolkit.train.schedules",
    "PolynomialDecay": "cvtoolkit.train.schedules",
    "OneCycle": "cvtoolkit.train.schedules",
    "WarmupCosine": "cvtoolkit.train.schedules",
}

__all__ = ["fit", "make_training_data", "resume_state", "set_mixed_precision", *_LAZY]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
