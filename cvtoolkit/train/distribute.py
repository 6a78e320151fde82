"""Data-parallel training with ``tf.distribute`` (TensorFlow backend only).

A strategy copies the model onto every replica (GPU, or logical CPU
device), splits each global batch between them and sums the gradients, so
the model must be **built and compiled inside** ``strategy.scope()``
(:func:`distribution_scope`), and the batch given to ``model.fit`` is the
*global* batch: ``per_replica * strategy.num_replicas_in_sync``
(:func:`global_batch_size`).

- ``"mirrored"``: :class:`tf.distribute.MirroredStrategy` over the GPUs of
  this machine (or, with no GPU, over the logical CPU devices made by
  :func:`split_cpu_into_logical_devices`).
- ``"multiworker"``: :class:`tf.distribute.MultiWorkerMirroredStrategy`,
  one process per machine, configured by the ``TF_CONFIG`` environment
  variable (:func:`read_tf_config`); create it before any other
  TensorFlow work in the process.
- ``"default"``: TensorFlow's no-op default strategy (one replica), handy
  to run the same code path without distribution.

Pass the strategy to :func:`cvtoolkit.train.fit` (``strategy=``), which
takes ``batch_size`` per replica and calls :func:`prepare_model`: that
checks the model belongs to the strategy and works around two Keras 3.15
bugs of distributed ``fit`` (a first batch the replicas cannot share
evenly; metrics of multi-worker runs). ``cvtoolkit train --strategy``
wires all of it, with ``--cpu-replicas N`` to try it on a CPU.

This module is where the package uses ``tf.distribute`` (a TensorFlow
feature; on JAX use ``keras.distribution``); it imports TensorFlow only
inside functions, so importing it costs nothing. Models, layers,
schedules and callbacks stay free of ``tf.*``.

Examples
--------
>>> global_batch_size(32, None)
32
>>> strategy = make_strategy("default")
>>> strategy.num_replicas_in_sync, global_batch_size(32, strategy)
(1, 32)
>>> with distribution_scope(None):   # no strategy: a no-op
...     pass

Training on two logical CPU devices (no speed-up on a CPU: it shows the
mechanics; on a machine with GPUs ``make_strategy("mirrored")`` uses them)::

    split_cpu_into_logical_devices(2)      # first thing, before TensorFlow runs
    strategy = make_strategy("mirrored")   # 2 replicas
    with distribution_scope(strategy):
        model = cvtoolkit.nn.build_model("shallownet", input_shape=(32, 32, 3), classes=3)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    cvtoolkit.train.fit(model, (x, y), batch_size=32, strategy=strategy)  # global batch 64

or from the command line: ``cvtoolkit train --dataset DIR --model shallownet
--strategy mirrored --cpu-replicas 2``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import Any, Iterator, Sequence

from cvtoolkit.errors import DistributionError  # noqa: F401  (defined in cvtoolkit.errors; importable here as before)

logger = logging.getLogger(__name__)

STRATEGIES = ("mirrored", "multiworker", "default")
"""Names :func:`make_strategy` accepts (``None`` means no strategy)."""

TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)
"""One-line ``TF_CONFIG`` for a two-machine run (worker 0; the other machine uses index 1)."""


def require_tensorflow_backend(feature: str = "tf.distribute") -> None:
    """Raise :class:`DistributionError` unless Keras runs on TensorFlow.

    Examples
    --------
    >>> require_tensorflow_backend()   # the default backend is TensorFlow
    """
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise DistributionError(
            f"{feature} needs KERAS_BACKEND=tensorflow, but Keras runs on {backend!r}; "
            "set KERAS_BACKEND=tensorflow before starting Python, or on JAX use keras.distribution "
            "(keras.distribution.DataParallel) instead of --strategy"
        )


def read_tf_config(environ: dict | None = None) -> dict[str, Any]:
    """The parsed ``TF_CONFIG`` of a multi-worker run, checked.

    Parameters
    ----------
    environ : dict, optional
        Where to read ``TF_CONFIG`` (default ``os.environ``).

    Returns
    -------
    dict
        With ``cluster`` (``{"worker": ["host:port", ...], ...}``) and
        ``task`` (``{"type": "worker", "index": i}``).

    Raises
    ------
    DistributionError
        ``TF_CONFIG`` is missing, not JSON, or lacks ``cluster``/``task``.

    Examples
    --------
    >>> cfg = read_tf_config({"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:1"]}, '
    ...                                    '"task": {"type": "worker", "index": 1}}'})
    >>> cfg["task"]["index"], len(cfg["cluster"]["worker"])
    (1, 2)
    """
    env = os.environ if environ is None else environ
    how = (f"set it on every machine to the cluster's addresses and this machine's place in it, "
           f"e.g. {TF_CONFIG_EXAMPLE}")
    raw = env.get("TF_CONFIG", "").strip()
    if not raw:
        raise DistributionError("--strategy multiworker needs the TF_CONFIG environment variable, which is not "
                                f"set; {how}")
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as err:
        raise DistributionError(f"TF_CONFIG is not valid JSON ({err}); {how}") from err
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) or not config["cluster"]:
        raise DistributionError(f"TF_CONFIG has no 'cluster' mapping of job names to host:port lists; {how}")
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise DistributionError(f"TF_CONFIG has no 'task' with 'type' and 'index' (this machine's role); {how}")
    job = config["cluster"].get(task["type"])
    if not isinstance(job, list) or not 0 <= int(task["index"]) < len(job):
        raise DistributionError(
            f"TF_CONFIG task {task['type']!r} index {task['index']} is not in its cluster "
            f"({task['type']!r}: {job!r}); {how}"
        )
    return config


def is_chief(environ: dict | None = None) -> bool:
    """Whether this process should write the run's files (``True`` outside multi-worker runs).

    The chief is the ``"chief"`` task, or worker 0 when the cluster has no
    chief. Other workers train the same model but should write their
    checkpoints elsewhere (a temporary folder), not over the chief's.

    Examples
    --------
    >>> is_chief({})
    True
    >>> is_chief({"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}'})
    False
    """
    env = os.environ if environ is None else environ
    if not env.get("TF_CONFIG", "").strip():
        return True
    config = read_tf_config(env)
    task = config["task"]
    if task["type"] == "chief":
        return True
    return task["type"] == "worker" and int(task["index"]) == 0 and "chief" not in config["cluster"]


def split_cpu_into_logical_devices(n: int) -> list[str]:
    """Split the (first) CPU into ``n`` logical devices, so a strategy can mirror over them.

    For tests and demonstrations of distributed training on a machine
    without GPUs: the replicas share the same cores, so expect no speed-up.
    It must run **before TensorFlow initialises its devices** (before any
    tensor is made or model built in the process); call it first, e.g. at
    the top of a script or in a fresh subprocess. Calling it again with the
    same ``n`` is harmless.

    Parameters
    ----------
    n : int
        Number of logical CPU devices (at least 1).

    Returns
    -------
    list of str
        The logical CPU device names (``"/device:CPU:0"``, ...).

    Raises
    ------
    DistributionError
        TensorFlow's devices are already initialised with another split, or
        the backend is not TensorFlow.

    Examples
    --------
    In a fresh process::

        split_cpu_into_logical_devices(2)
        # ['/device:CPU:0', '/device:CPU:1']
    """
    if int(n) < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    require_tensorflow_backend("splitting the CPU into logical devices")
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(int(n))])
    except RuntimeError as err:
        have = tf.config.list_logical_devices("CPU")
        if len(have) == int(n):
            return [d.name for d in have]
        raise DistributionError(
            f"cannot split the CPU into {n} logical devices: TensorFlow already initialised "
            f"{len(have)} ({err}); call split_cpu_into_logical_devices (or pass --cpu-replicas) before "
            "any TensorFlow work, e.g. first thing in a fresh process"
        ) from err
    names = [d.name for d in tf.config.list_logical_devices("CPU")]
    logger.info("CPU split into %d logical devices: %s", len(names), ", ".join(names))
    return names


def _local_devices() -> list[str]:
    """GPUs if any, else the logical CPU devices (one unless the CPU was split)."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return [d.name for d in gpus]
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def make_strategy(name: str | None, *, devices: Sequence[str] | None = None) -> Any:
    """A ``tf.distribute`` strategy by name, or ``None`` for plain training.

    Parameters
    ----------
    name : {None, "mirrored", "multiworker", "default"}
        ``"mirrored"``: one machine, all its GPUs (or all logical CPU
        devices when there is no GPU). ``"multiworker"``: several machines
        configured by ``TF_CONFIG`` (each one runs the same command).
        ``"default"``: TensorFlow's default single-replica strategy.
    devices : list of str, optional
        For ``"mirrored"``: the devices to mirror over
        (e.g. ``["/gpu:0", "/gpu:1"]``).

    Returns
    -------
    tf.distribute.Strategy or None

    Raises
    ------
    DistributionError
        The Keras backend is not TensorFlow, or ``"multiworker"`` without a
        usable ``TF_CONFIG``.
    ValueError
        An unknown name.

    Examples
    --------
    >>> make_strategy(None) is None
    True
    >>> make_strategy("default").num_replicas_in_sync
    1
    """
    if name is None:
        return None
    key = str(name).lower().replace("-", "_").replace("_", "")
    aliases = {"mirrored": "mirrored", "multiworker": "multiworker", "multiworkermirrored": "multiworker",
               "default": "default"}
    if key not in aliases:
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)} (or None)")
    key = aliases[key]
    require_tensorflow_backend(f"--strategy {key}")
    if key == "multiworker":
        config = read_tf_config()
        if devices is not None:
            raise ValueError("devices apply to the mirrored strategy only; a multi-worker run uses each "
                             "worker's devices")
    import tensorflow as tf

    if key == "default":
        strategy = tf.distribute.get_strategy()
    elif key == "mirrored":
        devices = list(devices) if devices is not None else _local_devices()
        strategy = tf.distribute.MirroredStrategy(devices=devices)
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        task = config["task"]
        logger.info("multi-worker run: task %s %s of %s", task["type"], task["index"],
                    {job: len(hosts) for job, hosts in config["cluster"].items()})
    logger.info("%s: %d replica(s) in sync", type(strategy).__name__, strategy.num_replicas_in_sync)
    return strategy


def num_replicas(strategy: Any) -> int:
    """Replicas a global batch is split between (1 without a strategy).

    Examples
    --------
    >>> num_replicas(None)
    1
    """
    return 1 if strategy is None else int(strategy.num_replicas_in_sync)


def global_batch_size(per_replica: int, strategy: Any) -> int:
    """The batch given to ``model.fit``: ``per_replica`` times the replica count.

    Examples
    --------
    >>> global_batch_size(16, None)
    16
    >>> global_batch_size(16, make_strategy("default"))
    16
    """
    if int(per_replica) < 1:
        raise ValueError(f"per_replica must be at least 1, got {per_replica}")
    return int(per_replica) * num_replicas(strategy)


@contextlib.contextmanager
def distribution_scope(strategy: Any) -> Iterator[Any]:
    """``strategy.scope()``, or nothing when ``strategy`` is ``None``.

    Build, compile and load (:func:`cvtoolkit.train.resume_state`) models
    inside it so their variables are mirrored on every replica.

    Examples
    --------
    >>> with distribution_scope(None) as s:
    ...     s is None
    True
    """
    if strategy is None:
        yield None
        return
    with strategy.scope():
        yield strategy


def prepare_model(model: Any, strategy: Any) -> Any:
    """Check that ``model`` was built under ``strategy`` and work around Keras's distributed-fit bugs.

    :func:`cvtoolkit.train.fit` calls it; call it yourself before
    ``model.fit`` when training under a strategy without :func:`fit`.

    Keras ties a model to the strategy in scope when the model is created;
    one built outside ``distribution_scope(strategy)`` would train on one
    device (or fail) without saying so, hence the check.

    The workarounds (Keras 3.15 with TensorFlow 2.21; they live in
    :mod:`cvtoolkit.train._keras_compat`, gated by Keras version, and are
    applied only where Keras has the internals they replace):

    - Keras builds the model from the *first* batch of each ``fit`` and
      ``evaluate`` averaged over the replicas, which fails when that batch
      does not split evenly between them ("Inputs to operation AddN ...
      must have the same size and shape": a validation set of 3 images on
      2 replicas) and always under a multi-worker strategy ("Attempt to
      convert a value (PerReplica ...)"). The model is built from one
      replica's share instead (only shapes and dtypes are used).
    - With several workers Keras averages each step's metrics with
      ``reduce("MEAN", axis=0)``, which fails on the scalar metrics
      ("Invalid reduction dimension 0"; keras-team/keras#20585); they are
      averaged over the replicas instead, as on one machine.

    Parameters
    ----------
    model : keras.Model
        Built and compiled inside ``distribution_scope(strategy)``.
    strategy : tf.distribute.Strategy or None
        ``None``: nothing to do.

    Returns
    -------
    keras.Model
        ``model`` itself.

    Raises
    ------
    DistributionError
        ``model`` was not built under ``strategy``.
    """
    if strategy is None:
        return model
    own = getattr(model, "distribute_strategy", None)
    if own is not strategy:
        raise DistributionError(
            f"model {getattr(model, 'name', '?')!r} was not built under the {type(strategy).__name__} "
            f"it is trained with; build and compile it inside "
            "`with cvtoolkit.train.distribute.distribution_scope(strategy):`"
        )
    from cvtoolkit.train._keras_compat import build_from_one_replica, patch_multi_worker_metric_reduction

    build_from_one_replica(model, strategy)
    patch_multi_worker_metric_reduction()
    return model


def describe_strategy(strategy: Any) -> str:
    """One line for logs and command output.

    Examples
    --------
    >>> describe_strategy(None)
    'no distribution (1 device)'
    """
    if strategy is None:
        return "no distribution (1 device)"
    n = num_replicas(strategy)
    devices = getattr(getattr(strategy, "extended", None), "worker_devices", ()) or ()
    names = [str(d).replace("/job:localhost/replica:0/task:0", "") for d in devices]
    where = f" on {', '.join(names)}" if names else ""
    return f"{type(strategy).__name__}, {n} replica{'s' if n != 1 else ''}{where}"
