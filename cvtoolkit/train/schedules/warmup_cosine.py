"""Linear warm-up followed by cosine decay to a minimum rate.

Keras's own :class:`keras.optimizers.schedules.CosineDecay` (with
``warmup_steps`` and ``warmup_target``), parameterised the way a run is
described: the peak rate, the total number of steps and the final rate.
Registered as ``cvtoolkit>WarmupCosine`` so that models saved with it load back.

Examples
--------
>>> s = WarmupCosine(0.1, total_steps=100, warmup_steps=10)
>>> [round(float(s(t)), 4) for t in (0, 5, 10, 55, 100)]
[0.0, 0.05, 0.1, 0.05, 0.0]
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="cvtoolkit")
class WarmupCosine(keras.optimizers.schedules.CosineDecay):
    """Rate rises linearly from ``warmup_start`` to ``learning_rate`` then follows a cosine.

    The same as ``keras.optimizers.schedules.CosineDecay(warmup_start,
    decay_steps=total_steps - warmup_steps, alpha=min_learning_rate /
    learning_rate, warmup_target=learning_rate, warmup_steps=warmup_steps)``.

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
    name : str
        Name of the operation.

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
        if total_steps < 1:
            raise ValueError(f"total_steps must be at least 1, got {total_steps}")
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}), got {warmup_steps}")
        self.learning_rate = float(learning_rate)
        self.total_steps = int(total_steps)
        self.min_learning_rate = float(min_learning_rate)
        self.warmup_start = float(warmup_start)
        super().__init__(
            initial_learning_rate=self.warmup_start if warmup_steps > 0 else self.learning_rate,
            decay_steps=self.total_steps - int(warmup_steps),
            alpha=self.min_learning_rate / self.learning_rate if self.learning_rate else 0.0,
            name=name,
            warmup_target=self.learning_rate,
            warmup_steps=int(warmup_steps),
        )

    def get_config(self) -> dict:
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "min_learning_rate": self.min_learning_rate,
            "warmup_start": self.warmup_start,
            "name": self.name,
        }
