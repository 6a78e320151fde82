"""One method's evaluation on one split: metrics, per-class scores, confusion matrix.

:class:`ClassificationReport` holds what
:func:`~cvtoolkit.evaluate.metrics.classification_metrics` and friends
compute and presents it as text, JSON and a confusion-matrix PNG. Build it
with :meth:`ClassificationReport.from_predictions` from true labels and the
``(N, K)`` probabilities every cvtoolkit method returns.

Examples
--------
>>> import numpy as np
>>> proba = np.array([[.9, .1], [.4, .6], [.3, .7], [.2, .8]])
>>> report = ClassificationReport.from_predictions([0, 0, 1, 1], proba, ["cat", "dog"],
...                                                method="hog+logreg")
>>> report.metrics["accuracy"], report.confusion_matrix.tolist()
(0.75, [[1, 1], [0, 2]])
>>> print(report.to_text().splitlines()[0])
hog+logreg: 4 samples, 2 classes
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from cvtoolkit.evaluate.metrics import (
    METRIC_KEYS,
    check_predictions,
    classification_metrics,
    confusion_matrix,
    per_class_metrics,
    predicted_labels,
)
from cvtoolkit.io.atomic import to_jsonable  # noqa: F401  (re-exported: one definition, in cvtoolkit.io.atomic)

log = logging.getLogger(__name__)

__all__ = ["ClassificationReport", "format_value", "to_jsonable"]

METRIC_TITLES = {
    "accuracy": "accuracy",
    "precision_macro": "precision (macro)",
    "recall_macro": "recall (macro)",
    "f1_macro": "F1 (macro)",
    "rank1": "rank-1 accuracy",
    "rank5": "rank-5 accuracy",
    "log_loss": "log loss",
    "roc_auc": "ROC AUC",
}


def format_value(value: Any, digits: int = 4) -> str:
    """A metric value for a table: fixed decimals for floats, ``-`` for missing.

    Examples
    --------
    >>> format_value(0.123456), format_value(None), format_value(3), format_value(float("nan"))
    ('0.1235', '-', '3', '-')
    """
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v != v or v in (float("inf"), float("-inf")):
            return "-"
        return f"{v:.{digits}f}"
    return str(value)


@dataclass
class ClassificationReport:
    """Metrics, per-class scores and confusion matrix of one method on one split.

    Parameters
    ----------
    class_names : list of str
        The ``K`` class names, in label order.
    metrics : dict
        Output of :func:`~cvtoolkit.evaluate.metrics.classification_metrics`.
    per_class : dict
        ``{class name: {"precision", "recall", "f1", "support"}}``.
    confusion_matrix : ndarray, shape (K, K)
        Counts; row = true class, column = predicted class.
    method : str, optional
        Name of the method (a leaderboard row name) for titles.

    Examples
    --------
    >>> r = ClassificationReport.from_predictions([0, 1], np.eye(2), ["a", "b"])
    >>> ClassificationReport.from_dict(r.to_dict()).metrics == r.metrics
    True
    """

    class_names: list[str]
    metrics: dict[str, Any]
    per_class: dict[str, dict[str, Any]]
    confusion_matrix: np.ndarray
    method: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_predictions(
        cls,
        y_true: Sequence[int] | np.ndarray,
        proba: np.ndarray,
        class_names: Sequence[str],
        *,
        method: str | None = None,
    ) -> "ClassificationReport":
        """Score ``(N, K)`` probabilities against true class indices.

        Parameters
        ----------
        y_true : array-like of int, shape (N,)
            True class indices ``0 .. K-1``.
        proba : array-like, shape (N, K)
            Class probabilities, one column per class name.
        class_names : sequence of str
            ``K`` names.
        method : str, optional
            Method name shown in titles.

        Raises
        ------
        ValueError
            ``class_names`` does not have one entry per column of ``proba``,
            or the inputs are inconsistent (see
            :func:`~cvtoolkit.evaluate.metrics.check_predictions`).
        """
        names = [str(c) for c in class_names]
        y, p = check_predictions(y_true, proba)
        if len(names) != p.shape[1]:
            raise ValueError(
                f"{len(names)} class names for {p.shape[1]} probability columns; "
                "pass one name per column of proba"
            )
        y_pred = predicted_labels(p)
        return cls(
            class_names=names,
            metrics=classification_metrics(y, p),
            per_class=per_class_metrics(y, y_pred, names),
            confusion_matrix=confusion_matrix(y, y_pred, len(names)),
            method=method,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ClassificationReport":
        """Rebuild a report from :meth:`to_dict` output (or its JSON)."""
        return cls(
            class_names=[str(c) for c in data["class_names"]],
            metrics=dict(data["metrics"]),
            per_class={str(k): dict(v) for k, v in data["per_class"].items()},
            confusion_matrix=np.asarray(data["confusion_matrix"], dtype=np.int64),
            method=data.get("method"),
            extra=dict(data.get("extra", {})),
        )

    @property
    def n_samples(self) -> int:
        """Number of scored samples."""
        return int(np.asarray(self.confusion_matrix).sum())

    def to_text(self, *, digits: int = 4) -> str:
        """A readable summary: the metrics, then one row per class.

        Examples
        --------
        >>> r = ClassificationReport.from_predictions([0, 1], np.eye(2), ["cat", "dog"])
        >>> "dog" in r.to_text() and "accuracy" in r.to_text()
        True
        """
        head = f"{self.method}: " if self.method else ""
        lines = [f"{head}{self.n_samples} samples, {len(self.class_names)} classes", ""]
        keys = [k for k in METRIC_KEYS if k in self.metrics] + [
            k for k in self.metrics if k not in METRIC_KEYS and k != "n_samples"
        ]
        width = max(len(METRIC_TITLES.get(k, k)) for k in keys) if keys else 0
        for key in keys:
            lines.append(f"  {METRIC_TITLES.get(key, key):<{width}}  {format_value(self.metrics[key], digits)}")
        lines.append("")
        name_w = max([len("class")] + [len(n) for n in self.class_names])
        header = f"  {'class':<{name_w}}  {'precision':>9}  {'recall':>9}  {'f1':>9}  {'support':>7}"
        lines.append(header)
        lines.append("  " + "-" * (len(header) - 2))
        for name in self.class_names:
            row = self.per_class.get(name, {})
            lines.append(
                f"  {name:<{name_w}}  {format_value(row.get('precision'), digits):>9}"
                f"  {format_value(row.get('recall'), digits):>9}"
                f"  {format_value(row.get('f1'), digits):>9}  {format_value(row.get('support')):>7}"
            )
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (floats, ints, lists, str, ``None``).

        Examples
        --------
        >>> r = ClassificationReport.from_predictions([0, 1], np.eye(2), ["a", "b"])
        >>> r.to_dict()["confusion_matrix"]
        [[1, 0], [0, 1]]
        """
        out = {
            "method": self.method,
            "class_names": list(self.class_names),
            "n_samples": self.n_samples,
            "metrics": self.metrics,
            "per_class": self.per_class,
            "confusion_matrix": np.asarray(self.confusion_matrix).tolist(),
        }
        if self.extra:
            out["extra"] = self.extra
        return to_jsonable(out)

    def to_json(self, path: str | os.PathLike | None = None, *, indent: int = 2) -> str:
        """The report as JSON text; also written atomically to ``path`` when given.

        Examples
        --------
        >>> import json
        >>> r = ClassificationReport.from_predictions([0, 1], np.eye(2), ["a", "b"])
        >>> json.loads(r.to_json())["metrics"]["accuracy"]
        1.0
        """
        text = json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)
        if path is not None:
            from cvtoolkit.io import write_text_atomic

            write_text_atomic(path, text + "\n")
            log.debug("wrote report %s", path)
        return text

    def plot_confusion_matrix(self, *, normalize: str | None = None, title: str | None = None) -> Any:
        """The confusion matrix as a :class:`matplotlib.figure.Figure`."""
        from cvtoolkit.evaluate.plots import plot_confusion_matrix

        if title is None:
            acc = self.metrics.get("accuracy")
            title = (self.method or "confusion matrix") + (f" (accuracy {acc:.3f})" if acc is not None else "")
        return plot_confusion_matrix(self.confusion_matrix, self.class_names, normalize=normalize, title=title)

    def save_confusion_matrix(
        self,
        path: str | os.PathLike,
        *,
        normalize: str | None = None,
        title: str | None = None,
        dpi: int = 100,
    ) -> None:
        """Write the confusion matrix as an image (PNG by the extension), atomically.

        Parameters
        ----------
        path : path-like
            Output file; its folder is created when missing.
        normalize : {None, "true", "pred", "all"}
            Show fractions instead of counts (scikit-learn's meaning).
        title : str, optional
            Default: the method name and its accuracy.
        dpi : int
            Resolution.

        Examples
        --------
        >>> import os, tempfile
        >>> r = ClassificationReport.from_predictions([0, 1], np.eye(2), ["a", "b"])
        >>> p = os.path.join(tempfile.mkdtemp(), "cm.png")
        >>> r.save_confusion_matrix(p)
        >>> os.path.getsize(p) > 0
        True
        """
        from cvtoolkit.evaluate.plots import save_figure

        fig = self.plot_confusion_matrix(normalize=normalize, title=title)
        save_figure(fig, path, dpi=dpi)
        log.debug("wrote confusion matrix %s", path)
