"""Learning-rate finder: an exponential sweep of the rate, watching the loss.

Train for a few hundred batches while the learning rate grows
exponentially from ``min_lr`` to ``max_lr``; record the loss of every batch,
smooth it (bias-corrected exponential moving average) and stop as soon as
it diverges. A good rate sits where the smoothed loss falls fastest, well
before its minimum (Smith 2017; fastai's ``lr_find``).

The sweep runs on a copy of the model (same weights, a fresh optimizer of
the same kind), so the model you pass is left untouched.

References
----------
L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017.

Examples
--------
>>> import numpy as np, keras
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(64, 4)).astype("float32"); y = (x[:, 0] > 0).astype(int)
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
>>> model.compile("sgd", "sparse_categorical_crossentropy")
>>> result = LRFinder(model, min_lr=1e-4, max_lr=10.0).find((x, y), steps=60, batch_size=16)
>>> 1e-4 <= result.suggested_lr <= 10.0
True
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class LRFinderResult:
    """What a sweep saw.

    Attributes
    ----------
    lrs : ndarray
        Learning rate of each batch trained.
    losses : ndarray
        Loss of each batch.
    smoothed : ndarray
        Bias-corrected exponential moving average of ``losses``.
    suggested_lr : float
        Rate at the steepest fall of the smoothed loss before its minimum
        (``min_loss_lr / 10`` when the curve is too short to tell).
    min_loss_lr : float
        Rate at the minimum of the smoothed loss (too high to train with;
        a tenth of it is a common choice).
    stopped_early : bool
        The sweep stopped because the loss diverged (or became NaN).
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggested_lr: float
    min_loss_lr: float
    stopped_early: bool

    def plot(self, path: str | os.PathLike, *, title: str | None = None) -> None:
        """Save smoothed loss against learning rate (log scale), marking the suggestion.

        Written atomically; the format follows the extension.
        """
        from matplotlib.figure import Figure

        from cvtoolkit.io import save_figure_atomic

        fig = Figure(figsize=(7, 4.5))
        ax = fig.add_subplot(1, 1, 1)
        ax.plot(self.lrs, self.losses, color="0.75", linewidth=0.8, label="batch loss")
        ax.plot(self.lrs, self.smoothed, color="tab:blue", label="smoothed loss")
        ax.axvline(self.suggested_lr, color="tab:red", linestyle="--",
                   label=f"suggested {self.suggested_lr:.2e}")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        finite = self.smoothed[np.isfinite(self.smoothed)]
        if finite.size:
            low, high = float(finite.min()), float(finite[: max(1, len(finite) // 10)].max())
            ax.set_ylim(low - 0.1 * abs(high - low + 1e-12), high + 0.5 * abs(high - low + 1e-12))
        ax.legend(loc="best")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(title or "learning-rate finder")
        fig.tight_layout()
        save_figure_atomic(fig, path, dpi=100)


def smooth_losses(losses: np.ndarray, beta: float = 0.98) -> np.ndarray:
    """Bias-corrected exponential moving average (as Adam corrects its moments).

    Examples
    --------
    >>> smooth_losses(np.array([1.0, 1.0, 1.0]), beta=0.9).round(6).tolist()
    [1.0, 1.0, 1.0]
    """
    out = np.empty(len(losses), np.float64)
    avg = 0.0
    for i, loss in enumerate(np.asarray(losses, np.float64)):
        avg = beta * avg + (1.0 - beta) * loss
        out[i] = avg / (1.0 - beta ** (i + 1))
    return out


def suggest_lr(lrs: np.ndarray, smoothed: np.ndarray, *, skip_start: int = 5) -> tuple[float, float]:
    """``(suggested, at_minimum)``: steepest descent before the minimum, and the minimum.

    The slope is taken against ``log(lr)``. With fewer than ``skip_start
    + 3`` points before the minimum the suggestion is ``at_minimum / 10``.

    Examples
    --------
    >>> lrs = np.logspace(-5, 0, 50)
    >>> loss = 2 - np.tanh(3 * (np.log10(lrs) + 3)) + np.where(lrs > 0.1, 30 * (lrs - 0.1), 0)
    >>> s, m = suggest_lr(lrs, loss)
    >>> 3e-4 < s < 3e-3 < m
    True
    """
    lrs = np.asarray(lrs, np.float64)
    sm = np.asarray(smoothed, np.float64)
    finite = np.isfinite(sm)
    if not finite.any():
        raise ValueError("no finite loss was recorded; lower min_lr")
    i_min = int(np.nanargmin(np.where(finite, sm, np.inf)))
    at_min = float(lrs[i_min])
    lo = min(skip_start, max(0, i_min - 3))
    if i_min - lo < 3:
        return max(at_min / 10.0, float(lrs[0])), at_min
    grad = np.gradient(sm[lo : i_min + 1], np.log(lrs[lo : i_min + 1]))
    return float(lrs[lo + int(np.argmin(grad))]), at_min


class LRFinder:
    """Sweep the learning rate exponentially and suggest one.

    Parameters
    ----------
    model : keras.Model
        A compiled model (its loss is used; its optimizer class and
        settings are copied with a constant rate).
    min_lr, max_lr : float
        Range of the sweep.
    beta : float
        Smoothing of the loss (0.98 as in fastai).
    divergence : float
        Stop when the smoothed loss exceeds ``divergence`` times its best.
    optimizer : keras.optimizers.Optimizer, optional
        Optimizer for the sweep instead of a copy of the model's.

    Examples
    --------
    ``result = LRFinder(model).find("datasets/animals", image_size=32)``,
    then ``result.plot("lr_find.png")`` and train with ``result.suggested_lr``.
    """

    def __init__(
        self,
        model: Any,
        *,
        min_lr: float = 1e-7,
        max_lr: float = 10.0,
        beta: float = 0.98,
        divergence: float = 4.0,
        optimizer: Any = None,
    ):
        if not 0 < min_lr < max_lr:
            raise ValueError(f"need 0 < min_lr < max_lr, got min_lr={min_lr}, max_lr={max_lr}")
        if not 0 <= beta < 1:
            raise ValueError(f"beta must be in [0, 1), got {beta}")
        self.model = model
        self.min_lr = float(min_lr)
        self.max_lr = float(max_lr)
        self.beta = float(beta)
        self.divergence = float(divergence)
        self.optimizer = optimizer

    def _probe(self) -> Any:
        import keras

        model = self.model
        if getattr(model, "optimizer", None) is None and self.optimizer is None:
            raise ValueError(f"model {model.name!r} is not compiled; compile it (the loss is needed) "
                             "or pass optimizer= and compile it first")
        try:
            probe = keras.models.clone_model(model)
            probe.set_weights(model.get_weights())
        except Exception as err:  # subclassed models cannot always be cloned
            raise ValueError(f"cannot copy model {model.name!r} for the sweep ({err}); "
                             "LRFinder needs a functional or Sequential model") from err
        if self.optimizer is not None:
            opt = self.optimizer
        else:
            src = model.optimizer
            src = getattr(src, "inner_optimizer", src)  # LossScaleOptimizer
            cfg = src.get_config()
            cfg["learning_rate"] = self.min_lr
            opt = type(src).from_config(cfg)
        probe.compile(optimizer=opt, loss=model.loss)
        return probe

    def find(
        self,
        data: Any,
        *,
        steps: int = 100,
        batch_size: int = 32,
        image_size: int | tuple[int, int] | None = None,
        scale: float | None = 1.0 / 255.0,
        seed: int | None = 0,
    ) -> LRFinderResult:
        """Run the sweep over ``steps`` batches of ``data`` (cycled if shorter).

        Parameters
        ----------
        data
            Anything :func:`cvtoolkit.train.fit` takes: ``(x, y)``, a
            Dataset, a folder or store path, a PyDataset.
        steps : int
            Batches in the sweep (the rate reaches ``max_lr`` at the last).
        batch_size : int
        image_size, scale
            As in :func:`cvtoolkit.train.fit`.
        seed : int, optional
            Seeds the batch order and the backend.

        Returns
        -------
        LRFinderResult
        """
        import keras

        from cvtoolkit.train.fit import make_training_data

        if steps < 2:
            raise ValueError(f"steps must be at least 2, got {steps}")
        if seed is not None:
            keras.utils.set_random_seed(int(seed))
        if image_size is None:
            shape = getattr(self.model, "input_shape", None)
            if shape is not None and len(shape) == 4 and shape[1] and shape[2]:
                image_size = (int(shape[1]), int(shape[2]))
        source = make_training_data(data, batch_size=batch_size, image_size=image_size, scale=scale,
                                    shuffle=True, seed=seed)
        batches = _batch_iterator(source, batch_size, seed)
        probe = self._probe()
        factor = (self.max_lr / self.min_lr) ** (1.0 / (steps - 1))
        lrs, losses, smoothed = [], [], []
        avg, best, stopped = 0.0, math.inf, False
        for i in range(steps):
            lr = self.min_lr * factor**i
            probe.optimizer.learning_rate = lr
            x, y = next(batches)
            logs = probe.train_on_batch(x, y, return_dict=True)
            loss = float(logs["loss"])
            lrs.append(lr)
            losses.append(loss)
            if not math.isfinite(loss):
                smoothed.append(float("nan"))
                stopped = True
                break
            avg = self.beta * avg + (1.0 - self.beta) * loss
            value = avg / (1.0 - self.beta ** (i + 1))
            smoothed.append(value)
            best = min(best, value)
            if i > 0 and value > self.divergence * best:
                stopped = True
                break
        if stopped:
            logger.info("LR finder: loss diverged at lr=%.3g after %d steps", lrs[-1], len(lrs))
        lrs_a, losses_a, sm_a = np.asarray(lrs), np.asarray(losses), np.asarray(smoothed)
        suggested, at_min = suggest_lr(lrs_a, sm_a)
        logger.info("LR finder: suggested lr %.3g (minimum loss at %.3g)", suggested, at_min)
        return LRFinderResult(lrs_a, losses_a, sm_a, suggested, at_min, stopped)


def _batch_iterator(source: Any, batch_size: int, seed: int | None):
    """Endless ``(x, y)`` batches from a resolved source, reshuffled each pass."""
    rng = np.random.default_rng(seed)
    while True:
        if source.is_batched:
            n = len(source.x)
            for j in rng.permutation(n):
                item = source.x[int(j)]
                yield item[0], item[1]
            if hasattr(source.x, "on_epoch_end"):
                source.x.on_epoch_end()
        else:
            order = rng.permutation(len(source.y))
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                yield source.x[rows], source.y[rows]
