"""A callback that writes the training history (JSON) and a loss/accuracy plot every epoch.

Watching the curves while a long run trains tells you early that it
overfits (validation loss rising while training loss falls) or diverges.
Both files are rewritten atomically at the end of every epoch, so they are
always complete, and a resumed run (``start_at``) continues the same curves.

Examples
--------
>>> import numpy as np, keras, tempfile, os, json
>>> folder = tempfile.mkdtemp()
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
>>> model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
>>> monitor = TrainingMonitor(os.path.join(folder, "curves.png"),
...                           json_path=os.path.join(folder, "history.json"))
>>> _ = model.fit(np.zeros((8, 4)), np.zeros(8, int), epochs=2, verbose=0, callbacks=[monitor])
>>> h = json.load(open(os.path.join(folder, "history.json")))
>>> len(h["loss"]), "accuracy" in h, os.path.exists(os.path.join(folder, "curves.png"))
(2, True, True)
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import keras

logger = logging.getLogger(__name__)


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def read_history(path: str | os.PathLike) -> dict[str, list[float]]:
    """Read a history JSON written by :class:`TrainingMonitor` (``{}`` if absent).

    Examples
    --------
    >>> read_history("/nonexistent/history.json")
    {}
    """
    p = Path(path)
    if not p.is_file():
        return {}
    data = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a JSON object of metric lists, got {type(data).__name__}")
    return {str(k): [_as_float(v) for v in vals] for k, vals in data.items() if isinstance(vals, list)}


def plot_history(history: dict[str, list[float]], path: str | os.PathLike, *, title: str | None = None) -> None:
    """Save loss and accuracy curves (train and validation) as one figure, atomically.

    Losses are on the left axis, accuracies on the right one (0..1); any
    other metric in ``history`` is left out.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "h.png")
    >>> plot_history({"loss": [1.0, 0.5], "accuracy": [0.5, 0.8]}, p)
    >>> open(p, "rb").read(4)
    b'\\x89PNG'
    """
    from matplotlib.figure import Figure

    from cvtoolkit.io import save_figure_atomic

    # A bare Figure (no pyplot) needs no GUI backend and no global state.
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot(1, 1, 1)
    ax2 = ax.twinx()
    n = max((len(v) for v in history.values()), default=0)
    epochs = list(range(1, n + 1))
    styles = {
        "loss": (ax, "tab:blue", "-"), "val_loss": (ax, "tab:orange", "-"),
        "accuracy": (ax2, "tab:blue", "--"), "val_accuracy": (ax2, "tab:orange", "--"),
    }
    for key, (axis, color, style) in styles.items():
        values = history.get(key)
        if values:
            axis.plot(epochs[: len(values)], values, style, color=color, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax2.set_ylabel("accuracy")
    ax2.set_ylim(0, 1)
    if n:
        ax.set_xlim(1, max(n, 2))
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    if handles:
        ax.legend(handles, [h.get_label() for h in handles], loc="center right")
    ax.set_title(title or f"training loss and accuracy (epoch {n})")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=100)


class TrainingMonitor(keras.callbacks.Callback):
    """Write the history JSON and a loss/accuracy plot at the end of every epoch.

    Parameters
    ----------
    fig_path : path-like or None
        PNG (or any matplotlib format) of the curves; ``None`` for no plot.
    json_path : path-like, optional
        JSON of the history: ``{"loss": [...], "accuracy": [...],
        "val_loss": [...], ...}`` with Keras's own metric names (and
        ``learning_rate`` when Keras logs it).
    start_at : int
        Epoch a resumed run starts at (``initial_epoch``). The existing
        JSON is read and cut to its first ``start_at`` epochs, and new
        epochs are appended, so the curves continue. 0 starts afresh.

    Attributes
    ----------
    history : dict of list of float
        Everything recorded so far (including resumed epochs).

    Examples
    --------
    Resume epoch 10 of an interrupted run::

        monitor = TrainingMonitor("out/curves.png", "out/history.json", start_at=10)
        model.fit(x, y, epochs=30, initial_epoch=10, callbacks=[monitor])
    """

    def __init__(
        self,
        fig_path: str | os.PathLike | None = None,
        json_path: str | os.PathLike | None = None,
        start_at: int = 0,
    ):
        super().__init__()
        if fig_path is None and json_path is None:
            raise ValueError("TrainingMonitor needs fig_path, json_path or both")
        if start_at < 0:
            raise ValueError(f"start_at must be >= 0, got {start_at}")
        self.fig_path = None if fig_path is None else Path(fig_path)
        self.json_path = None if json_path is None else Path(json_path)
        self.start_at = int(start_at)
        self.history: dict[str, list[float]] = {}

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.history = {}
        if self.start_at > 0 and self.json_path is not None:
            old = read_history(self.json_path)
            if not old:
                logger.warning("%s: no history to resume from; curves start at epoch %d",
                               self.json_path, self.start_at + 1)
            self.history = {k: v[: self.start_at] for k, v in old.items()}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(str(key), []).append(_as_float(value))
        self.write()

    def write(self) -> None:
        """Write the JSON and the plot now (done for you every epoch)."""
        from cvtoolkit.io import write_json_atomic

        if self.json_path is not None:
            clean = {k: [None if math.isnan(v) else v for v in vals] for k, vals in self.history.items()}
            write_json_atomic(self.json_path, clean)
        if self.fig_path is not None:
            try:
                plot_history(self.history, self.fig_path)
            except Exception as err:  # a plotting problem must not stop training
                logger.warning("could not write the training plot %s: %s", self.fig_path, err)
