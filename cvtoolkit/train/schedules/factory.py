"""Build a learning-rate schedule by name from epochs and steps per epoch.

Examples
--------
>>> s = make_schedule("step", 0.1, epochs=30, steps_per_epoch=10)
>>> type(s).__name__, round(float(s(100)), 4)
('StepDecay', 0.05)
"""

from __future__ import annotations

from typing import Any

from cvtoolkit.train.schedules.one_cycle import OneCycle
from cvtoolkit.train.schedules.polynomial import PolynomialDecay
from cvtoolkit.train.schedules.step_decay import StepDecay
from cvtoolkit.train.schedules.warmup_cosine import WarmupCosine

SCHEDULES = ("constant", "step", "polynomial", "one_cycle", "cosine")
"""Names :func:`make_schedule` accepts."""


def make_schedule(
    name: str | None,
    learning_rate: float,
    *,
    epochs: int,
    steps_per_epoch: int,
    **options: Any,
) -> Any:
    """A schedule for ``epochs * steps_per_epoch`` optimizer steps.

    Parameters
    ----------
    name : {"constant", "step", "polynomial", "one_cycle", "cosine"} or None
        ``None``/``"constant"`` returns ``learning_rate`` itself (a float).
        ``"step"``: halve every ``max(1, epochs // 4)`` epochs (options
        ``drop_every_epochs``, ``factor``). ``"polynomial"``: linear decay to
        0 (option ``power``). ``"one_cycle"``: peak ``learning_rate`` at 30%
        (options ``pct_start``, ``div_factor``, ``final_div_factor``).
        ``"cosine"``: warm-up over ``warmup_epochs`` (default: 5% of the
        run, at most 2 epochs) then cosine to ``min_learning_rate`` (0).
    learning_rate : float
        Base (or peak) rate.
    epochs, steps_per_epoch : int
        Length of the run.

    Returns
    -------
    LearningRateSchedule or float

    Raises
    ------
    ValueError
        Unknown name.

    Examples
    --------
    >>> make_schedule(None, 0.01, epochs=5, steps_per_epoch=3)
    0.01
    >>> type(make_schedule("one_cycle", 0.01, epochs=5, steps_per_epoch=3)).__name__
    'OneCycle'
    """
    key = (name or "constant").lower().replace("-", "_")
    total = max(1, int(epochs) * int(steps_per_epoch))
    spe = max(1, int(steps_per_epoch))
    if key == "constant":
        return float(learning_rate)
    if key in ("step", "step_decay"):
        every = options.get("drop_every_epochs") or max(1, int(epochs) // 4)
        return StepDecay(learning_rate, drop_every=int(every * spe), factor=options.get("factor", 0.5))
    if key in ("polynomial", "poly", "linear"):
        return PolynomialDecay(learning_rate, decay_steps=total, power=options.get("power", 1.0),
                               end_learning_rate=options.get("end_learning_rate", 0.0))
    if key in ("one_cycle", "onecycle"):
        return OneCycle(learning_rate, total_steps=total,
                        pct_start=options.get("pct_start", 0.3),
                        div_factor=options.get("div_factor", 25.0),
                        final_div_factor=options.get("final_div_factor", 1e4))
    if key in ("cosine", "warmup_cosine"):
        warm_epochs = options.get("warmup_epochs")
        if warm_epochs is None:
            warm_epochs = min(2.0, 0.05 * epochs)
        warm = min(int(round(warm_epochs * spe)), total - 1)
        return WarmupCosine(learning_rate, total_steps=total, warmup_steps=max(0, warm),
                            min_learning_rate=options.get("min_learning_rate", 0.0))
    raise ValueError(f"unknown learning-rate schedule {name!r}; expected one of {', '.join(SCHEDULES)}")
