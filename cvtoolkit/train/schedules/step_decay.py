"""Step decay: the learning rate drops by a factor every N steps.

Examples
--------
>>> s = StepDecay(0.1, drop_every=10, factor=0.5)
>>> [round(float(s(t)), 4) for t in (0, 9, 10, 25)]
[0.1, 0.1, 0.05, 0.025]
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cvtoolkit")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``lr(t) = initial_learning_rate * factor ** floor(t / drop_every)``.

    Parameters
    ----------
    initial_learning_rate : float
        Rate for the first ``drop_every`` steps.
    drop_every : int
        Steps (batches) between drops; for "every 10 epochs" pass
        ``10 * steps_per_epoch``.
    factor : float
        Multiplier at each drop (0.5 halves the rate).
    min_learning_rate : float
        Floor the rate never goes below.

    Examples
    --------
    >>> import keras
    >>> opt = keras.optimizers.SGD(StepDecay(0.01, drop_every=100), momentum=0.9)
    >>> round(float(StepDecay(0.01, drop_every=100)(250)), 5)
    0.0025
    """

    def __init__(
        self,
        initial_learning_rate: float,
        drop_every: int,
        factor: float = 0.5,
        min_learning_rate: float = 0.0,
        name: str = "StepDecay",
    ):
        super().__init__()
        if drop_every < 1:
            raise ValueError(f"drop_every must be at least 1 step, got {drop_every}")
        if not 0 < factor <= 1:
            raise ValueError(f"factor must be in (0, 1], got {factor}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.drop_every = int(drop_every)
        self.factor = float(factor)
        self.min_learning_rate = float(min_learning_rate)
        self.name = name

    def __call__(self, step):
        t = ops.cast(step, "float32")
        drops = ops.floor(t / float(self.drop_every))
        lr = self.initial_learning_rate * ops.power(self.factor, drops)
        return ops.maximum(lr, self.min_learning_rate)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "drop_every": self.drop_every,
            "factor": self.factor,
            "min_learning_rate": self.min_learning_rate,
            "name": self.name,
        }
