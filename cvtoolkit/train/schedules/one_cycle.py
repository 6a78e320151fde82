"""The one-cycle policy (Smith 2018): warm up to a peak, then anneal far below.

The rate rises from ``max_learning_rate / div_factor`` to
``max_learning_rate`` over the first ``pct_start`` of the steps, then falls
(cosine) to ``max_learning_rate / (div_factor * final_div_factor)``. The
shape is fastai's ``fit_one_cycle`` and PyTorch's ``OneCycleLR``.

References
----------
L. N. Smith, N. Topin, "Super-Convergence: Very Fast Training of Neural
Networks Using Large Learning Rates", 2018, arXiv:1708.07120.

Examples
--------
>>> s = OneCycle(0.1, total_steps=100, pct_start=0.25)
>>> round(float(s(25)), 4), float(s(0)) < float(s(10)) < float(s(25)) > float(s(60))
(0.1, True)
"""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cvtoolkit")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle learning rate: cosine warm-up to a peak, cosine anneal after it.

    Parameters
    ----------
    max_learning_rate : float
        The peak, reached at step ``round(pct_start * total_steps)``.
    total_steps : int
        Length of the cycle (``epochs * steps_per_epoch``); the rate stays
        at its final value after it.
    pct_start : float
        Fraction of the steps spent warming up.
    div_factor : float
        Start rate is ``max_learning_rate / div_factor``.
    final_div_factor : float
        Final rate is the start rate divided by this.

    Examples
    --------
    >>> s = OneCycle(0.01, total_steps=1000)
    >>> round(float(s(0)), 6), round(float(s(300)), 6), float(s(1000)) < 1e-6
    (0.0004, 0.01, True)
    """

    def __init__(
        self,
        max_learning_rate: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        name: str = "OneCycle",
    ):
        super().__init__()
        if total_steps < 1:
            raise ValueError(f"total_steps must be at least 1, got {total_steps}")
        if not 0 < pct_start < 1:
            raise ValueError(f"pct_start must be in (0, 1), got {pct_start}")
        self.max_learning_rate = float(max_learning_rate)
        self.total_steps = int(total_steps)
        self.pct_start = float(pct_start)
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)
        self.name = name

    @property
    def peak_step(self) -> int:
        """The step at which the rate is ``max_learning_rate``."""
        return max(1, round(self.pct_start * self.total_steps))

    def __call__(self, step):
        t = ops.minimum(ops.cast(step, "float32"), float(self.total_steps))
        peak = float(self.peak_step)
        start = self.max_learning_rate / self.div_factor
        end = start / self.final_div_factor
        top = self.max_learning_rate
        # Warm-up: cosine from start up to top; anneal: cosine from top to end.
        up = ops.minimum(t / peak, 1.0)
        warm = top + (start - top) * (1.0 + ops.cos(math.pi * up)) / 2.0
        down_len = max(float(self.total_steps) - peak, 1.0)
        down = ops.clip((t - peak) / down_len, 0.0, 1.0)
        anneal = end + (top - end) * (1.0 + ops.cos(math.pi * down)) / 2.0
        return ops.where(t <= peak, warm, anneal)

    def get_config(self) -> dict:
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "name": self.name,
        }
