"""Learning-rate schedules (``keras.optimizers.schedules.LearningRateSchedule``).

Each schedule maps the optimizer's step (batches seen) to a learning rate
with ``keras.ops`` only, so it runs on every Keras backend, and is
registered as ``cvtoolkit>Name`` so that a model saved with it loads back.
Where Keras has the schedule, it is Keras's: :class:`PolynomialDecay` is
``keras.optimizers.schedules.PolynomialDecay`` (decaying to 0 by default) and
:class:`WarmupCosine` is ``keras.optimizers.schedules.CosineDecay`` with
``warmup_steps``; :class:`StepDecay` (a floor) and :class:`OneCycle` have no
Keras equivalent.

- :class:`StepDecay`: drop by ``factor`` every ``drop_every`` steps.
- :class:`PolynomialDecay`: ``(1 - t/T) ** power`` down to an end rate (Keras's).
- :class:`OneCycle`: warm up to a peak then anneal far below the start.
- :class:`WarmupCosine`: linear warm-up then cosine decay to a minimum (Keras's ``CosineDecay``).

:func:`make_schedule` builds one by name from epochs and steps per epoch.

Examples
--------
>>> s = make_schedule("cosine", 0.1, epochs=10, steps_per_epoch=100)
>>> round(float(s(1000)), 6)
0.0
"""

from __future__ import annotations

from cvtoolkit.train.schedules.factory import SCHEDULES, make_schedule
from cvtoolkit.train.schedules.one_cycle import OneCycle
from cvtoolkit.train.schedules.polynomial import PolynomialDecay
from cvtoolkit.train.schedules.step_decay import StepDecay
from cvtoolkit.train.schedules.warmup_cosine import WarmupCosine

__all__ = ["SCHEDULES", "OneCycle", "PolynomialDecay", "StepDecay", "WarmupCosine", "make_schedule"]
