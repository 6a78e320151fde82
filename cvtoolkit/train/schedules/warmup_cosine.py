"""Linear warm-up followed by cosine decay to a minimum rate.

Examples
--------
>>> s = WarmupCosine(0.1, total_steps=100, warmup_steps=10)
>>> [round(float(s(t)), 4) for t in (0, 5, 10, 55, 100)]
[0.0, 0.05, 0.1, 0.05, 0.0]
"""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cvtoolkit")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Rate rises linearly from ``warmup_start`` to ``learning_rate`` then follows a cosine.

    Parameters
    ----------
    learning_rate : float
        The peak, reached at ``warmup_steps``.
    total_steps : int
        Step at which the rate reaches ``min_learning_rate`` (and stays).
    warmup_steps : int
        Steps of linear warm-up (0: start at the peak).
    min_learning_rate : float
        Final rate.
    warmup_start : float
        Rate at step 0 (default 0).

    Examples
    --------
    >>> s = WarmupCosine(1e-3, total_steps=1000, warmup_steps=100, min_learning_rate=1e-5)
    >>> float(s(0)), round(float(s(100)), 6), round(float(s(1000)), 6)
    (0.0, 0.001, 1e-05)
    """

    def __init__(
        self,
        learning_rate: float,
        total_steps: int,
        warmup_steps: int = 0,
        min_learning_rate: float = 0.0,
        warmup_start: float = 0.0,
        name: str = "WarmupCosine",
    ):
        super().__init__()
        if total_steps < 1:
            raise ValueError(f"total_steps must be at least 1, got {total_steps}")
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}), got {warmup_steps}")
        self.learning_rate = float(learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.min_learning_rate = float(min_learning_rate)
        self.warmup_start = float(warmup_start)
        self.name = name

    def __call__(self, step):
        t = ops.minimum(ops.cast(step, "float32"), float(self.total_steps))
        peak, low = self.learning_rate, self.min_learning_rate
        if self.warmup_steps > 0:
            warm = self.warmup_start + (peak - self.warmup_start) * t / float(self.warmup_steps)
        else:
            warm = ops.cast(peak, "float32") + 0.0 * t
        frac = (t - float(self.warmup_steps)) / float(self.total_steps - self.warmup_steps)
        cosine = low + (peak - low) * (1.0 + ops.cos(math.pi * ops.clip(frac, 0.0, 1.0))) / 2.0
        return ops.where(t < float(self.warmup_steps), warm, cosine)

    def get_config(self) -> dict:
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "min_learning_rate": self.min_learning_rate,
            "warmup_start": self.warmup_start,
            "name": self.name,
        }
