"""Best-model and last-epoch checkpoints in ``.keras`` format, written atomically.

Like ``keras.callbacks.ModelCheckpoint(save_best_only=True)``, but every file
goes through :func:`cvtoolkit.io.atomic_path` (a run killed while saving
never leaves a truncated ``.keras`` file that looks complete), and it can
also keep the *last* epoch's model with a small state file, which is what a
resumed run starts from (:func:`cvtoolkit.train.resume_state`).

Examples
--------
>>> import numpy as np, keras, tempfile, os
>>> folder = tempfile.mkdtemp()
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
>>> model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
>>> ckpt = Checkpoint(os.path.join(folder, "best.keras"), last_path=os.path.join(folder, "last.keras"),
...                   monitor="loss")
>>> _ = model.fit(np.ones((8, 4)), np.zeros(8, int), epochs=2, verbose=0, callbacks=[ckpt])
>>> sorted(os.listdir(folder)), ckpt.best_epoch
(['best.keras', 'last.json', 'last.keras'], 2)
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


def state_path(last_path: str | os.PathLike) -> Path:
    """The JSON state file kept beside the last-epoch checkpoint.

    Examples
    --------
    >>> state_path("runs/last.keras").name
    'last.json'
    """
    return Path(last_path).with_suffix(".json")


def read_state(last_path: str | os.PathLike) -> dict[str, Any]:
    """The state saved with the last-epoch checkpoint (``{}`` if there is none).

    Keys: ``epoch`` (epochs completed), ``monitor``, ``mode``, ``best``,
    ``best_epoch``.
    """
    p = state_path(last_path)
    if not p.is_file():
        return {}
    return json.loads(p.read_text(encoding="utf-8"))


def resolve_mode(monitor: str, mode: str = "auto", model: "keras.Model | None" = None) -> str:
    """``"min"`` or ``"max"``: ``mode`` itself, or with ``mode="auto"`` the direction of ``model``'s metric.

    As Keras's callbacks do (``EarlyStopping``, ``ModelCheckpoint``): a loss
    goes down, and a compiled metric declares which way is better, so a
    metric named ``val_acc_error`` is not taken for an accuracy. ``model``
    must have run a step (Keras creates the compiled metrics then).

    Raises
    ------
    ValueError
        An unknown ``mode``, or ``mode="auto"`` for a metric whose direction
        Keras cannot tell (pass ``mode="min"`` or ``"max"``).

    Examples
    --------
    >>> resolve_mode("val_accuracy", "max"), resolve_mode("val_loss")
    ('max', 'min')
    """
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    if monitor.removeprefix("val_") == "loss":
        return "min"
    if model is None:
        raise ValueError(f"the direction of {monitor!r} comes from the model's metric: pass the model, "
                         "or mode='min' or mode='max'")
    from cvtoolkit.train._keras_compat import monitor_mode

    return monitor_mode(model, monitor)


class Checkpoint(keras.callbacks.Callback):
    """Save the best model (and optionally the last one) at the end of each epoch.

    Parameters
    ----------
    best_path : path-like or None
        ``.keras`` file for the best model so far by ``monitor``.
    last_path : path-like, optional
        ``.keras`` file rewritten every epoch (with optimizer state), plus
        :func:`state_path` JSON naming the epoch, for resuming.
    monitor : str
        Metric in the epoch logs, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        When it is missing (no validation data) ``"loss"`` is used.
    mode : {"auto", "min", "max"}
        Whether lower or higher is better; ``"auto"`` asks the metric (a
        loss goes down, a compiled metric says which way is better), as
        Keras's ``ModelCheckpoint`` and ``EarlyStopping`` do, at the end of
        the first epoch.
    best : float, optional
        Best value already reached (when resuming), so a worse epoch after
        the restart does not overwrite the best file.
    best_epoch : int
        Epoch of ``best`` (1-based; 0 when unknown).
    save_model : keras.Model, optional
        Model written to ``best_path`` instead of the one being trained,
        e.g. the plain network inside an augmentation wrapper
        (:func:`cvtoolkit.train.augmentation.with_augmentation`). The last
        checkpoint always holds the trained model, optimizer included.

    Attributes
    ----------
    best, best_epoch
        The best value and its 1-based epoch.
    """

    def __init__(
        self,
        best_path: str | os.PathLike | None,
        last_path: str | os.PathLike | None = None,
        monitor: str = "val_loss",
        mode: str = "auto",
        best: float | None = None,
        best_epoch: int = 0,
        save_model: keras.Model | None = None,
    ):
        super().__init__()
        for p in (best_path, last_path):
            if p is not None and Path(p).suffix != ".keras":
                raise ValueError(f"{p}: checkpoints are saved in Keras format and must end in .keras")
        if best_path is None and last_path is None:
            raise ValueError("Checkpoint needs best_path, last_path or both")
        self.best_path = None if best_path is None else Path(best_path)
        self.last_path = None if last_path is None else Path(last_path)
        self.monitor = monitor
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.mode = mode
        self.best = best
        self.best_epoch = int(best_epoch)
        self.save_model = save_model
        self._warned = False

    def _better(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def _value(self, logs: dict) -> tuple[str, float | None]:
        key = self.monitor
        if key not in logs and key.startswith("val_") and key[4:] in logs:
            if not self._warned:
                logger.warning("checkpoint: %s not in the logs (no validation data?); using %s", key, key[4:])
                self._warned = True
            key = key[4:]
        if key not in logs:
            return key, None
        return key, float(logs[key])

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from cvtoolkit.io import atomic_path, write_json_atomic

        logs = logs or {}
        key, value = self._value(logs)
        if self.mode == "auto":  # the compiled metrics exist now
            self.mode = resolve_mode(self.monitor, "auto", self.model)
        if self.best_path is not None:
            if value is None:
                if not self._warned:
                    logger.warning("checkpoint: metric %r not in the logs %s; best model not saved",
                                   self.monitor, sorted(logs))
                    self._warned = True
            elif self._better(value):
                logger.debug("epoch %d: %s improved to %.4f; saving %s", epoch + 1, key, value, self.best_path)
                self.best, self.best_epoch = value, epoch + 1
                with atomic_path(self.best_path) as tmp:
                    (self.save_model or self.model).save(tmp)
        if self.last_path is not None:
            with atomic_path(self.last_path) as tmp:
                self.model.save(tmp)
            write_json_atomic(state_path(self.last_path), {
                "epoch": epoch + 1,
                "monitor": self.monitor,
                "mode": self.mode,
                "best": self.best,
                "best_epoch": self.best_epoch,
            })
