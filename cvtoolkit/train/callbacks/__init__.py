"""Training callbacks, one per file (as in ``keras/src/callbacks``).

- :class:`TrainingMonitor`: history JSON + loss/accuracy plot every epoch,
  resumable with ``start_at``.
- :class:`Checkpoint`: best and last ``.keras`` checkpoints, written atomically.

Examples
--------
>>> from cvtoolkit.train.callbacks import TrainingMonitor
>>> TrainingMonitor("curves.png", "history.json").start_at
0
"""

from cvtoolkit.train.callbacks.checkpoint import Checkpoint, read_state, state_path
from cvtoolkit.train.callbacks.training_monitor import TrainingMonitor, plot_history, read_history

__all__ = ["Checkpoint", "TrainingMonitor", "plot_history", "read_history", "read_state", "state_path"]
