"""Polynomial decay from an initial rate to an end rate over a number of steps.

With ``power=1`` this is linear decay; the rate stays at the end rate after
``decay_steps``.

Examples
--------
>>> s = PolynomialDecay(0.1, decay_steps=100, power=1.0)
>>> [round(float(s(t)), 4) for t in (0, 50, 100, 200)]
[0.1, 0.05, 0.0, 0.0]
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cvtoolkit")
class PolynomialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``lr(t) = (lr0 - lr_end) * (1 - min(t, T) / T) ** power + lr_end``.

    Parameters
    ----------
    initial_learning_rate : float
        Rate at step 0.
    decay_steps : int
        ``T``: steps over which the rate decays (``epochs * steps_per_epoch``).
    power : float
        1 is linear; 2 decays faster early on; 0.5 slower.
    end_learning_rate : float
        Rate at and after ``decay_steps``.

    Examples
    --------
    >>> round(float(PolynomialDecay(1.0, 10, power=2.0)(5)), 4)
    0.25
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        power: float = 1.0,
        end_learning_rate: float = 0.0,
        name: str = "PolynomialDecay",
    ):
        super().__init__()
        if decay_steps < 1:
            raise ValueError(f"decay_steps must be at least 1, got {decay_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = int(decay_steps)
        self.power = float(power)
        self.end_learning_rate = float(end_learning_rate)
        self.name = name

    def __call__(self, step):
        t = ops.minimum(ops.cast(step, "float32"), float(self.decay_steps))
        frac = 1.0 - t / float(self.decay_steps)
        span = self.initial_learning_rate - self.end_learning_rate
        return span * ops.power(frac, self.power) + self.end_learning_rate

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "power": self.power,
            "end_learning_rate": self.end_learning_rate,
            "name": self.name,
        }
