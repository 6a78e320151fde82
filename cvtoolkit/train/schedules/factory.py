"""Build a learning-rate schedule by name from epochs and steps per epoch.

Examples
--------
>>> s = make_schedule("step", 0.1, epochs=30, steps_per_epoch=10)
>>> type(s).__name__, round(float(s(100)), 4)
('StepDecay', 0.05)
"""

from __future__ import annotations

from typing import Any

from cvtoolkit.registry import Registry
from cvtoolkit.train.schedules.one_cycle import OneCycle
from cvtoolkit.train.schedules.polynomial import PolynomialDecay
from cvtoolkit.train.schedules.step_decay import StepDecay
from cvtoolkit.train.schedules.warmup_cosine import WarmupCosine

REGISTRY = Registry("learning-rate schedule", normalize=lambda name: name.lower().replace("-", "_"))
"""Schedule names to ``factory(learning_rate, *, epochs, steps_per_epoch, **options)``."""


def _constant(learning_rate: float, *, epochs: int, steps_per_epoch: int) -> float:
    """The rate itself (no schedule)."""
    return float(learning_rate)


def _step(learning_rate: float, *, epochs: int, steps_per_epoch: int, drop_every_epochs: float | None = None,
          factor: float = 0.5) -> StepDecay:
    """Halve every ``max(1, epochs // 4)`` epochs."""
    every = drop_every_epochs or max(1, int(epochs) // 4)
    return StepDecay(learning_rate, drop_every=int(every * max(1, int(steps_per_epoch))), factor=factor)


def _polynomial(learning_rate: float, *, epochs: int, steps_per_epoch: int, power: float = 1.0,
                end_learning_rate: float = 0.0) -> PolynomialDecay:
    """Linear (``power=1``) decay to 0 over the run (Keras's PolynomialDecay)."""
    total = max(1, int(epochs) * int(steps_per_epoch))
    return PolynomialDecay(learning_rate, decay_steps=total, power=power, end_learning_rate=end_learning_rate)


def _one_cycle(learning_rate: float, *, epochs: int, steps_per_epoch: int, pct_start: float = 0.3,
               div_factor: float = 25.0, final_div_factor: float = 1e4) -> OneCycle:
    """Warm up to ``learning_rate`` at 30% of the run, then anneal far below the start."""
    total = max(1, int(epochs) * int(steps_per_epoch))
    return OneCycle(learning_rate, total_steps=total, pct_start=pct_start, div_factor=div_factor,
                    final_div_factor=final_div_factor)


def _cosine(learning_rate: float, *, epochs: int, steps_per_epoch: int, warmup_epochs: float | None = None,
            min_learning_rate: float = 0.0) -> WarmupCosine:
    """Linear warm-up (5% of the run, at most 2 epochs) then cosine to 0 (Keras's CosineDecay)."""
    total = max(1, int(epochs) * int(steps_per_epoch))
    if warmup_epochs is None:
        warmup_epochs = min(2.0, 0.05 * epochs)
    warm = min(int(round(warmup_epochs * max(1, int(steps_per_epoch)))), total - 1)
    return WarmupCosine(learning_rate, total_steps=total, warmup_steps=max(0, warm),
                        min_learning_rate=min_learning_rate)


REGISTRY.register("constant", _constant)
REGISTRY.register("step", _step, aliases=("step_decay",))
REGISTRY.register("polynomial", _polynomial, aliases=("poly", "linear"))
REGISTRY.register("one_cycle", _one_cycle, aliases=("onecycle",))
REGISTRY.register("cosine", _cosine, aliases=("warmup_cosine",))

SCHEDULES = tuple(REGISTRY.names())
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
        0 (options ``power``, ``end_learning_rate``). ``"one_cycle"``: peak
        ``learning_rate`` at 30% (options ``pct_start``, ``div_factor``,
        ``final_div_factor``). ``"cosine"``: warm-up over ``warmup_epochs``
        (default: 5% of the run, at most 2 epochs) then cosine to
        ``min_learning_rate`` (0). More names: ``REGISTRY.register``.
    learning_rate : float
        Base (or peak) rate.
    epochs, steps_per_epoch : int
        Length of the run.

    Returns
    -------
    LearningRateSchedule or float

    Raises
    ------
    UnknownNameError
        Unknown name (a ``ValueError``; the message lists the known ones).
    TypeError
        An option the named schedule does not take.

    Examples
    --------
    >>> make_schedule(None, 0.01, epochs=5, steps_per_epoch=3)
    0.01
    >>> type(make_schedule("one_cycle", 0.01, epochs=5, steps_per_epoch=3)).__name__
    'OneCycle'
    """
    factory = REGISTRY.get(name or "constant")
    return factory(learning_rate, epochs=epochs, steps_per_epoch=steps_per_epoch, **options)
