"""Evaluation: metrics, reports, the leaderboard, plots and interpretation.

Computation and presentation are kept apart, as in scikit-learn's
``sklearn.metrics._plot``:

- :mod:`cvtoolkit.evaluate.metrics`: plain functions on arrays
  (:func:`classification_metrics`, :func:`rank_k_accuracy`, ...).
- :class:`ClassificationReport`: one method on one split, as text, JSON and
  a confusion-matrix PNG.
- :class:`Leaderboard`: every method's row, ranked, as text, Markdown,
  JSON, CSV and a ``report.md``.
- :mod:`cvtoolkit.evaluate.plots`: pyplot-free matplotlib figures.
- :mod:`cvtoolkit.evaluate.interpret`: top losses, most-confused pairs,
  per-class errors and Grad-CAM.
- :func:`write_html_report`: one self-contained HTML file for a run.

Plotting and Keras are imported only when a function needs them.

Examples
--------
>>> import numpy as np
>>> from cvtoolkit.evaluate import classification_metrics
>>> classification_metrics([0, 1], np.array([[.9, .1], [.2, .8]]))["accuracy"]
1.0
"""

from __future__ import annotations

from cvtoolkit._lazy import lazy_attributes

from cvtoolkit.evaluate.leaderboard import Leaderboard
from cvtoolkit.evaluate.metrics import (
    METRIC_KEYS,
    check_predictions,
    classification_metrics,
    confusion_matrix,
    per_class_metrics,
    predicted_labels,
    rank_k_accuracy,
)
from cvtoolkit.evaluate.report import ClassificationReport

_LAZY = {
    "plot_confusion_matrix": "cvtoolkit.evaluate.plots",
    "save_figure": "cvtoolkit.evaluate.plots",
    "top_losses": "cvtoolkit.evaluate.interpret",
    "plot_top_losses": "cvtoolkit.evaluate.interpret",
    "most_confused": "cvtoolkit.evaluate.interpret",
    "per_class_errors": "cvtoolkit.evaluate.interpret",
    "grad_cam": "cvtoolkit.evaluate.gradcam",
    "find_last_conv_layer": "cvtoolkit.evaluate.gradcam",
    "overlay_heatmap": "cvtoolkit.evaluate.gradcam",
    "save_grad_cam_grid": "cvtoolkit.evaluate.gradcam",
    "write_html_report": "cvtoolkit.evaluate.html_report",
}

__all__ = [
    "METRIC_KEYS",
    "ClassificationReport",
    "Leaderboard",
    "check_predictions",
    "classification_metrics",
    "confusion_matrix",
    "per_class_metrics",
    "predicted_labels",
    "rank_k_accuracy",
    *_LAZY,
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
