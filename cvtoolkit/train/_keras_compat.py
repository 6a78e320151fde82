"""Every place where cvtoolkit reaches into Keras's private internals (``keras.src``), in one module.

Public Keras is used everywhere else. What is here either reuses a piece of
Keras's own logic that Keras does not export (how a callback decides whether
a monitored metric should go up or down) or works around a Keras bug in
distributed training. Each work-around is gated: it is applied only while
:data:`KERAS_VERSION` is below the version listed in :data:`FIXED_IN` (``None``:
not fixed in any Keras released when this was written, the newest tested being
3.15.1) and only where Keras still has the internals it replaces; otherwise it
is skipped with a debug log line. When Keras fixes one, set its entry.

Examples
--------
>>> KERAS_VERSION >= (3, 0)
True
>>> sorted(FIXED_IN)
['reduce_per_replica', 'symbolic_build']
"""

from __future__ import annotations

import logging
import re
from typing import Any

import keras

logger = logging.getLogger(__name__)


def _parse_version(text: str) -> tuple[int, ...]:
    """``(3, 15, 1)`` for ``"3.15.1"`` (pre-release suffixes ignored).

    Examples
    --------
    >>> _parse_version("3.16.0.dev2025"), _parse_version("?")
    ((3, 16, 0), ())
    """
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


KERAS_VERSION: tuple[int, ...] = _parse_version(getattr(keras, "__version__", ""))
"""The running Keras as a tuple, e.g. ``(3, 15, 1)``."""

FIXED_IN: dict[str, tuple[int, ...] | None] = {
    # The model is built from the first batch averaged over the replicas:
    # fails when it does not split evenly, and always with several workers.
    "symbolic_build": None,
    # reduce("MEAN", axis=0) on scalar metrics with several workers (keras-team/keras#20585).
    "reduce_per_replica": None,
}
"""First Keras version that no longer needs each work-around (``None``: still needed)."""


def needs_workaround(name: str, version: tuple[int, ...] | None = None) -> bool:
    """Whether the work-around ``name`` applies to Keras ``version`` (default: the running one).

    Examples
    --------
    >>> needs_workaround("reduce_per_replica", (3, 15, 1))
    True
    """
    fixed = FIXED_IN[name]
    version = KERAS_VERSION if version is None else version
    return fixed is None or version < fixed


# --------------------------------------------------------------------------- #
# Monitored metrics: which way is better, as Keras's callbacks decide
# --------------------------------------------------------------------------- #
def monitor_mode(model: Any, monitor: str) -> str:
    """``"min"`` or ``"max"`` for ``monitor``, decided from the model's metric as Keras does.

    Keras's ``MonitorCallback`` (the base of ``EarlyStopping`` and
    ``ModelCheckpoint``, in ``keras.src``) takes the direction from the
    metric object (``loss`` goes down, a metric declares its direction),
    not from its name; this asks it. Call it once the model has run a
    step (the compiled metrics exist only then).

    Raises
    ------
    ValueError
        Keras cannot tell (a metric that declares no direction): pass
        ``mode="min"`` or ``mode="max"``.

    Examples
    --------
    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    >>> model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> _ = model.fit(np.zeros((4, 2)), np.zeros(4, int), verbose=0)
    >>> monitor_mode(model, "val_accuracy"), monitor_mode(model, "loss")
    ('max', 'min')
    """
    try:
        from keras.src.callbacks.monitor_callback import MonitorCallback as judge_class
    except ImportError:  # Keras before 3.9: EarlyStopping has the same logic
        judge_class = keras.callbacks.EarlyStopping
    judge = judge_class(monitor=monitor, mode="auto")
    judge.set_model(model)
    judge._set_monitor_op()
    return "max" if judge.monitor_op is keras.ops.greater else "min"


# --------------------------------------------------------------------------- #
# Distributed training (used by cvtoolkit.train.distribute.prepare_model)
# --------------------------------------------------------------------------- #
def build_from_one_replica(model: Any, strategy: Any) -> None:
    """Replace the model's ``_maybe_symbolic_build`` by one that reads one replica's batch.

    Keras builds the model from the *first* batch of each ``fit`` and
    ``evaluate`` averaged over the replicas, which fails when that batch
    does not split evenly between them and always under a multi-worker
    strategy; only shapes and dtypes are needed, so one replica's share will do.
    """
    if getattr(model, "_cvtoolkit_build_patched", False):
        return
    if not needs_workaround("symbolic_build"):
        logger.debug("keras %s: first-batch work-around not needed", keras.__version__)
        return
    if not all(callable(getattr(model, name, None)) for name in ("_maybe_symbolic_build", "_symbolic_build")):
        logger.debug("keras %s has no _maybe_symbolic_build; first-batch work-around not needed", keras.__version__)
        return
    import tensorflow as tf

    def one_replica(value: Any) -> Any:
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(iterator: Any = None, data_batch: Any = None) -> None:
        if iterator is not None:
            for _, _, it in iterator:  # as Keras's own: the first batch of the epoch iterator
                data_batch = keras.tree.map_structure(one_replica, next(it))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    object.__setattr__(model, "_maybe_symbolic_build", maybe_symbolic_build)  # not a tracked attribute
    object.__setattr__(model, "_cvtoolkit_build_patched", True)


def patch_multi_worker_metric_reduction() -> None:
    """Average per-replica scalars with ``axis=None`` in multi-worker mode (keras-team/keras#20585)."""
    if not needs_workaround("reduce_per_replica"):
        return
    try:
        from keras.src.backend.tensorflow import trainer as tf_trainer
    except ImportError:  # pragma: no cover - another Keras layout
        return
    original = getattr(tf_trainer, "reduce_per_replica", None)
    multi_worker = getattr(tf_trainer, "_collective_all_reduce_multi_worker", None)
    if original is None or multi_worker is None or getattr(original, "_cvtoolkit_patched", False):
        return
    import tensorflow as tf

    def reduce_per_replica(values: Any, strategy: Any, reduction: str = "auto") -> Any:
        if reduction in ("auto", "mean") and multi_worker(strategy):
            def mean(value: Any) -> Any:
                if isinstance(value, tf.distribute.DistributedValues):
                    return strategy.reduce("MEAN", value, axis=None)
                return value

            return keras.tree.map_structure(mean, values)
        return original(values, strategy, reduction)

    reduce_per_replica._cvtoolkit_patched = True  # type: ignore[attr-defined]
    tf_trainer.reduce_per_replica = reduce_per_replica
    logger.debug("patched keras %s reduce_per_replica for multi-worker metrics", keras.__version__)
