"""What a compare run returns and writes: :class:`CompareResult` and its files.

Kept apart from :mod:`cvtoolkit.methods.compare` so that the single-split
engine, the repeated folds (:mod:`cvtoolkit.methods.folds`) and the learning
curves (:mod:`cvtoolkit.methods.learning_curve`) share it without importing
each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cvtoolkit.data.dataset import Dataset

__all__ = ["CompareResult", "safe_filename", "write_outputs"]


@dataclass
class CompareResult:
    """What a compare run produced: leaderboard rows, reports and files."""

    rows: list[dict[str, Any]]
    reports: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    histories: dict[str, dict] = field(default_factory=dict)
    test: Dataset | None = None
    board: Any = None  # the cvtoolkit.evaluate.Leaderboard of the rows
    sort_metric: str = "accuracy"
    verdict: str = ""
    verdict_detail: dict[str, Any] = field(default_factory=dict)
    learning_curve: dict[str, Any] | None = None
    folds: dict[str, Any] | None = None
    # Leakage pre-flight (cvtoolkit.audit.preflight_leakage): test_with_duplicate_in_train, n_test,
    # pairs [[test, train], ...], dedupe, ...; None when not checked (stored features).
    leakage: dict | None = None

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Rows that raised (rows a time budget skipped are not failures: see :attr:`skipped`)."""
        return [r for r in self.rows if r.get("error") and not r.get("skipped")]

    @property
    def skipped(self) -> list[dict[str, Any]]:
        """Rows ``--time-budget`` skipped (``row["skipped"]`` says why)."""
        return [r for r in self.rows if r.get("skipped")]


def safe_filename(name: str) -> str:
    """A method name as a file-name part (``hog+linear_svm`` stays readable)."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)


def write_outputs(result: CompareResult, board, out: Path) -> None:
    """Write ``leaderboard.json``/``.csv``, ``settings.json``, ``predictions.csv``, the figures and the reports."""
    from cvtoolkit.io import write_json_atomic

    meta = {"sort_metric": result.sort_metric, "verdict": result.verdict, "verdict_detail": result.verdict_detail}
    if result.folds is not None:
        meta["folds"] = result.folds
    board.save_json(out / "leaderboard.json", meta=meta)
    board.save_csv(out / "leaderboard.csv")
    write_json_atomic(out / "settings.json", result.settings)
    if result.predictions and result.test is not None:
        _write_predictions_csv(result, out / "predictions.csv")
        result.files["predictions.csv"] = str(out / "predictions.csv")
    result.files.update({"leaderboard.json": str(out / "leaderboard.json"),
                         "leaderboard.csv": str(out / "leaderboard.csv")})
    from cvtoolkit.evaluate import plot_top_losses
    from cvtoolkit.evaluate.compare_report import write_compare_reports

    curves, losses = {}, {}
    for name, history in result.histories.items():
        from cvtoolkit.train.callbacks.training_monitor import plot_history  # imports Keras: CNN rows only

        png = out / f"curves_{safe_filename(name)}.png"
        plot_history(history, png, title=name)
        curves[name] = str(png)
    test = result.test
    if test is not None and test.kind == "images" and test.images.dtype != object:
        from cvtoolkit.evaluate.disagreement import sample_ids

        ids = sample_ids(test)  # the file under each image: the user can go and fix a label
        for name, proba in result.predictions.items():
            png = out / f"top_losses_{safe_filename(name)}.png"
            plot_top_losses(test.images, test.labels, proba, test.class_names, k=min(9, len(test)), path=png,
                            title=f"{name}: top losses", names=ids)
            losses[name] = str(png)
    if test is not None and result.predictions:
        from cvtoolkit.evaluate.disagreement import write_top_losses_csv

        write_top_losses_csv(result, out / "top_losses.csv")  # method, rank, path, true, predicted, probability
        result.files["top_losses.csv"] = str(out / "top_losses.csv")
    result.files.update({f"curves:{k}": v for k, v in curves.items()})
    result.files.update({f"top_losses:{k}": v for k, v in losses.items()})
    # verdict, leaderboard with CIs, Pareto plot, F1 heatmap, one <details> per method, settings last
    result.files.update(write_compare_reports(result, out, title="cvtoolkit compare"))


def _write_predictions_csv(result: CompareResult, path: Path) -> None:
    """``predictions.csv``: per test sample its path (or dataset index), true class, then each row's
    predicted class and probability of every class (through the one CSV writer, ``io.csv_safe``)."""
    from cvtoolkit.io.csv_safe import write_csv_atomic

    test = result.test
    names = list(test.class_names)
    ids = list(test.paths) if test.paths is not None else [
        int(i) for i in test.attrs.get("split_indices", np.arange(len(test)))]
    methods = [r["method"] for r in result.rows if r["method"] in result.predictions]
    fields = ["sample", "true"]
    for m in methods:
        fields += [f"{m}:predicted"] + [f"{m}:p({c})" for c in names]
    records = []
    for i in range(len(test)):
        rec: dict[str, Any] = {"sample": ids[i], "true": names[int(test.labels[i])]}
        for m in methods:
            p = result.predictions[m][i]
            rec[f"{m}:predicted"] = names[int(np.argmax(p))]
            rec.update({f"{m}:p({c})": f"{float(v):.6g}" for c, v in zip(names, p)})
        records.append(rec)
    write_csv_atomic(path, records, fields)
