"""Polynomial decay from an initial rate to an end rate over a number of steps.

Keras's own :class:`keras.optimizers.schedules.PolynomialDecay` with this
toolkit's defaults (decay to 0, not to Keras's ``1e-4``) and registered as
``cvtoolkit>PolynomialDecay`` so that models saved with it load back. With
``power=1`` this is linear decay; the rate stays at the end rate after
``decay_steps``.

Examples
--------
>>> s = PolynomialDecay(0.1, decay_steps=100, power=1.0)
>>> [round(float(s(t)), 4) for t in (0, 50, 100, 200)]
[0.1, 0.05, 0.0, 0.0]
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="cvtoolkit")
class PolynomialDecay(keras.optimizers.schedules.PolynomialDecay):
    """``lr(t) = (lr0 - lr_end) * (1 - min(t, T) / T) ** power + lr_end`` (Keras's schedule).

    Parameters
    ----------
    initial_learning_rate : float
        Rate at step 0.
    decay_steps : int
        ``T``: steps over which the rate decays (``epochs * steps_per_epoch``).
    power : float
        1 is linear; 2 decays faster early on; 0.5 slower.
    end_learning_rate : float
        Rate at and after ``decay_steps`` (default 0; Keras's default is 1e-4).
    cycle : bool
        Keras's option: restart the decay every ``decay_steps`` with a longer period.
    name : str
        Name of the operation.

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
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ):
        if decay_steps < 1:
            raise ValueError(f"decay_steps must be at least 1, got {decay_steps}")
        super().__init__(
            initial_learning_rate=float(initial_learning_rate),
            decay_steps=int(decay_steps),
            end_learning_rate=float(end_learning_rate),
            power=float(power),
            cycle=bool(cycle),
            name=name,
        )
