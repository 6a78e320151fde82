"""One training function for every data source, with the usual equipment built in.

:func:`fit` trains a compiled Keras model on

- in-memory arrays ``(x, y)`` or a :class:`cvtoolkit.data.Dataset`;
- an image folder ``root/<class>/<image>``, streamed
  (:class:`cvtoolkit.train.data.FolderBatches`: decode in worker threads,
  prefetch queue);
- an HDF5 store written by ``cvtoolkit pack``
  (:class:`cvtoolkit.train.HDF5Batches`);
- any ``keras.utils.PyDataset`` (or ``tf.data.Dataset``) you built yourself;

and adds, by keyword, a training monitor (history JSON + plot every epoch),
best/last ``.keras`` checkpoints, early stopping, class weights and resuming,
and trains data-parallel under a ``tf.distribute`` strategy (``strategy=``,
:mod:`cvtoolkit.train.distribute`).
:func:`resume_state` reads back what an interrupted run left, and
:func:`set_mixed_precision` switches the global dtype policy.

Integer images are scaled to ``float32`` in ``[0, 1]`` (``scale=1/255``)
whatever the source, so a model trained from a folder predicts the same on
arrays loaded with ``load_dataset``.

Examples
--------
>>> import numpy as np, keras
>>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
...                           keras.layers.Dense(2, activation="softmax")])
>>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
>>> x = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
>>> history = fit(model, (x, np.arange(16) % 2), epochs=2, batch_size=8, verbose=0)
>>> sorted(history.history)
['accuracy', 'loss']
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS
from cvtoolkit.errors import DatasetError, ModelError
from cvtoolkit.imageops import size_hw

logger = logging.getLogger(__name__)

IN_MEMORY_FLOAT_LIMIT = 2 << 30
"""Largest ``float32`` copy (bytes) of in-memory integer images made up front;
bigger arrays are scaled batch by batch (:class:`~cvtoolkit.train.data.ArrayBatches`)."""


# --------------------------------------------------------------------------- data
@dataclass
class TrainingData:
    """A data source resolved for ``model.fit``.

    Attributes
    ----------
    x : array or PyDataset
        What goes to ``model.fit(x=...)``.
    y : ndarray or None
        Labels for array sources (``None`` when ``x`` yields ``(x, y)``).
    labels : ndarray
        Every label of the source, in sample order (for class weights).
    class_names : list of str
    kind : str
        ``"arrays"``, ``"folder"``, ``"hdf5"`` or ``"pydataset"``.
    sample_shape : tuple
        Shape of one input sample, when known.
    """

    x: Any
    y: np.ndarray | None
    labels: np.ndarray
    class_names: list[str] = field(default_factory=list)
    kind: str = "arrays"
    sample_shape: tuple = ()

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def is_batched(self) -> bool:
        return self.y is None


def _is_store(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in (".h5", ".hdf5")


def _array_source(x: Any, y: Any, *, batch_size: int, shuffle: bool, scale: float | None,
                  seed: int | None, class_names: Sequence[str] | None = None) -> TrainingData:
    from cvtoolkit.train.data import ArrayBatches

    x = np.asarray(x) if not isinstance(x, np.ndarray) else x
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)} labels")
    names = list(class_names) if class_names is not None else [str(c) for c in range(int(y.max()) + 1 if len(y) else 0)]
    if scale is not None and np.issubdtype(x.dtype, np.integer):
        if x.size * 4 <= IN_MEMORY_FLOAT_LIMIT:
            xf = x.astype(np.float32)
            xf *= np.float32(scale)
            return TrainingData(xf, y, y, names, "arrays", tuple(x.shape[1:]))
        logger.info("scaling %d images batch by batch (a float copy would need %.1f GiB)",
                    len(x), x.size * 4 / 2**30)
        batches = ArrayBatches(x, y, batch_size, shuffle=shuffle, scale=scale, seed=seed)
        return TrainingData(batches, None, y, names, "arrays", tuple(x.shape[1:]))
    if x.dtype != np.float32 and np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return TrainingData(x, y, y, names, "arrays", tuple(x.shape[1:]))


def make_training_data(
    data: Any,
    *,
    batch_size: int = 32,
    image_size: int | tuple[int, int] | None = None,
    scale: float | None = 1.0 / 255.0,
    shuffle: bool = True,
    indices: Any = None,
    seed: int | None = None,
    workers: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> TrainingData:
    """Turn any supported data source into what ``model.fit`` takes.

    Parameters
    ----------
    data : tuple, Dataset, path, FolderListing, PyDataset or tf.data.Dataset
        ``(x, y)`` arrays, a :class:`cvtoolkit.data.Dataset`, a folder
        path or listing (streamed), an ``.h5``/``.hdf5`` store path (streamed), or a
        ready batch source (passed through; ``indices`` and ``image_size``
        do not apply).
    batch_size : int
    image_size : int or (height, width), optional
        Size images are resized to. Required for folders; for stores and
        arrays, images of another size are resized.
    scale : float or None
        Factor applied to integer images (``1/255``: ``[0, 1]``).
    shuffle : bool
        Shuffle every epoch (off for validation sources).
    indices : array-like of int, optional
        Use only these samples (a split).
    seed : int, optional
        Seed of the shuffling.
    workers : int, optional
        Decoding threads for folders.
    max_pixels : int or None
        For folders: files of more than this many pixels are skipped (see
        :class:`~cvtoolkit.train.data.FolderBatches`).

    Returns
    -------
    TrainingData

    Raises
    ------
    DatasetError
        A path that is neither a folder nor a store, or a folder without
        ``image_size``.
    """
    import keras

    from cvtoolkit.data.dataset import Dataset

    if isinstance(data, TrainingData):
        return data
    if isinstance(data, keras.utils.PyDataset) or _is_tf_dataset(data):
        labels = np.asarray(getattr(data, "labels", []), dtype=np.int64)
        return TrainingData(data, None, labels, list(getattr(data, "class_names", [])), "pydataset")
    if isinstance(data, Dataset):
        if data.kind == "images" and getattr(data.images, "dtype", None) == object:
            raise DatasetError(f"{data.source or 'dataset'}: images have different sizes; "
                               "load it with image_size=N to train a CNN")
        x, y = data.images, data.labels
        if indices is not None:
            idx = np.asarray(indices, np.int64)
            x, y = x[idx], y[idx]
        x = _resize_if_needed(x, image_size) if data.kind == "images" else x
        return _array_source(x, y, batch_size=batch_size, shuffle=shuffle, scale=scale, seed=seed,
                             class_names=data.class_names)
    from cvtoolkit.data.folder import FolderListing

    if isinstance(data, FolderListing) or (isinstance(data, (str, os.PathLike)) and Path(data).is_dir()):
        from cvtoolkit.train.data import FolderBatches

        where = data.root if isinstance(data, FolderListing) else data
        if image_size is None:
            raise DatasetError(f"{where}: streaming a folder needs image_size (every image is resized "
                               "to it); pass image_size=N or --image-size N")
        batches = FolderBatches(data, batch_size, image_size=image_size, shuffle=shuffle, scale=scale,
                                indices=indices, seed=seed, workers=workers, max_pixels=max_pixels)
        hw = size_hw(image_size, "image_size")
        return TrainingData(batches, None, batches.labels, batches.class_names, "folder", (*hw, 3))
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if _is_store(path):
            return _store_source(path, batch_size=batch_size, image_size=image_size, scale=scale,
                                 shuffle=shuffle, indices=indices, seed=seed, workers=workers)
        raise DatasetError(f"{path}: not a folder or an .h5 store; to train from another spec "
                           "(digits, .npz, .csv), load it with cvtoolkit.data.load_dataset first")
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
        if indices is not None:
            idx = np.asarray(indices, np.int64)
            x, y = np.asarray(x)[idx], np.asarray(y)[idx]
        return _array_source(_resize_if_needed(np.asarray(x), image_size), y, batch_size=batch_size,
                             shuffle=shuffle, scale=scale, seed=seed)
    raise TypeError(
        "data must be (x, y) arrays, a cvtoolkit Dataset, a folder or .h5 path, or a PyDataset; "
        f"got {type(data).__name__}"
    )


def _is_tf_dataset(obj: Any) -> bool:
    return type(obj).__module__.startswith("tensorflow") and hasattr(obj, "element_spec")


def _resize_if_needed(x: np.ndarray, image_size: Any) -> np.ndarray:
    hw = None if image_size is None else size_hw(image_size, "image_size")
    if hw is None or x.ndim != 4 or tuple(x.shape[1:3]) == hw:
        return x
    from cvtoolkit.data.preprocessing import Resize

    resize = Resize(hw)
    return np.stack([resize(im) for im in x])


def _store_source(path: Path, *, batch_size: int, image_size: Any, scale: float | None, shuffle: bool,
                  indices: Any, seed: int | None, workers: int | None) -> TrainingData:
    from cvtoolkit.train.hdf5_batches import HDF5Batches

    probe = HDF5Batches(path, batch_size, shuffle=False, indices=indices)
    kind, sample_shape = probe.kind, probe.sample_shape
    preprocessors = None
    hw = None if image_size is None else size_hw(image_size, "image_size")
    if kind == "images" and hw is not None and tuple(sample_shape[:2]) != hw:
        from cvtoolkit.data.preprocessing import Resize

        preprocessors = [Resize(hw)]
        sample_shape = (*hw, *sample_shape[2:])
    batches = HDF5Batches(
        path, batch_size, shuffle=shuffle, indices=indices, preprocessors=preprocessors,
        scale=scale if kind == "images" else None, seed=seed, workers=workers or 1,
    )
    return TrainingData(batches, None, batches.labels, batches.class_names, "hdf5", tuple(sample_shape))


def _labels_of(data: Any) -> np.ndarray | None:
    """Labels of a source without loading its samples (for splitting)."""
    from cvtoolkit.data.dataset import Dataset

    if isinstance(data, Dataset):
        return data.labels
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return np.asarray(data[1])
    from cvtoolkit.data.folder import FolderListing

    if isinstance(data, FolderListing):
        return data.labels
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.is_dir():
            from cvtoolkit.data.folder import list_image_folder

            return list_image_folder(path).labels
        if _is_store(path):
            from cvtoolkit.train.hdf5_batches import HDF5Batches

            return HDF5Batches(path, 1, shuffle=False).labels
    return None


# ---------------------------------------------------------------- precision
def set_mixed_precision(mode: bool | str | None) -> str:
    """Set Keras's global dtype policy; call it *before* building the model.

    Parameters
    ----------
    mode : bool, str or None
        ``True``: ``"mixed_float16"`` when a GPU is visible (float16 tensor
        cores, with loss scaling added by ``compile``), else
        ``"mixed_bfloat16"`` (the useful one on CPUs and TPUs: bfloat16 has
        float32's range and needs no loss scaling; it only pays off on CPUs
        with bfloat16 instructions such as AVX512-BF16/AMX, and is slower
        elsewhere). A policy name (``"mixed_float16"``,
        ``"mixed_bfloat16"``, ``"float32"``) is used as given;
        ``False``/``None`` restores ``"float32"``.

    Returns
    -------
    str
        The policy now in force.

    Notes
    -----
    The classifier must still output ``float32`` so the softmax and the
    loss stay accurate: :mod:`cvtoolkit.nn` builders give their
    ``predictions`` layer ``dtype="float32"``; :func:`fit` warns when a
    model's output is not ``float32`` under a mixed policy.

    Examples
    --------
    >>> set_mixed_precision(False)
    'float32'
    """
    import keras

    if mode is True:
        name = "mixed_float16" if _has_gpu() else "mixed_bfloat16"
    elif not mode:
        name = "float32"
    else:
        aliases = {"float16": "mixed_float16", "fp16": "mixed_float16", "bfloat16": "mixed_bfloat16",
                   "bf16": "mixed_bfloat16"}
        name = aliases.get(str(mode), str(mode))
    keras.mixed_precision.set_dtype_policy(name)
    (logger.info if name != "float32" else logger.debug)("dtype policy: %s", name)
    return name


def _has_gpu() -> bool:
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        if backend == "torch":
            import torch

            return bool(torch.cuda.is_available())
    except Exception:  # pragma: no cover - backend probing is best effort
        return False
    return False


def _check_output_dtype(model: Any) -> None:
    import keras

    policy = keras.mixed_precision.dtype_policy()
    if policy.compute_dtype == "float32":
        return
    try:
        out_dtype = str(model.outputs[0].dtype)
    except (AttributeError, IndexError, ValueError):
        return
    if "float32" not in out_dtype:
        logger.warning(
            "model %s outputs %s under the %s policy; give its last layer dtype='float32' "
            "(cvtoolkit.nn builders do) so the softmax and loss stay accurate",
            model.name, out_dtype, policy.name,
        )


# -------------------------------------------------------------------- resume
def resume_state(last_checkpoint: str | os.PathLike, *, custom_objects: dict | None = None,
                 strategy: Any = None) -> dict[str, Any]:
    """What a run needs to continue: the last model (with optimizer state) and its epoch.

    Parameters
    ----------
    last_checkpoint : path-like
        The ``last_checkpoint`` ``.keras`` file given to :func:`fit`.
    custom_objects : dict, optional
        Passed to ``keras.models.load_model``.
    strategy : tf.distribute.Strategy, optional
        Load the model inside its scope, to continue a distributed run
        (:mod:`cvtoolkit.train.distribute`).

    Returns
    -------
    dict
        ``model`` (compiled, optimizer state and step count restored, so a
        schedule continues), ``epoch`` (epochs completed: pass it as
        ``initial_epoch``), ``best`` and ``best_epoch`` of the monitored
        metric (for :class:`~cvtoolkit.train.callbacks.Checkpoint`).

    Raises
    ------
    ModelError
        No checkpoint, or it cannot be loaded.

    Examples
    --------
    ``state = resume_state("models/run.last.keras")`` then
    ``fit(state["model"], data, epochs=30, initial_epoch=state["epoch"],
    last_checkpoint=..., resume_best=(state["best"], state["best_epoch"]))``.
    """
    import keras

    import cvtoolkit.train.schedules  # noqa: F401  (registers the schedules for loading)
    from cvtoolkit.train.callbacks.checkpoint import read_state

    from cvtoolkit.train.distribute import distribution_scope

    path = Path(last_checkpoint)
    if not path.is_file():
        raise ModelError(f"{path}: no checkpoint to resume from; start a new run (without --resume)")
    try:
        with distribution_scope(strategy):
            model = keras.models.load_model(path, custom_objects=custom_objects)
    except Exception as err:
        raise ModelError(f"{path}: cannot load the checkpoint ({type(err).__name__}: {err})") from err
    state = read_state(path)
    epoch = int(state.get("epoch", 0))
    if epoch == 0:
        logger.warning("%s: no state file; resuming as if at epoch 0", path)
    return {"model": model, "epoch": epoch, "best": state.get("best"), "best_epoch": int(state.get("best_epoch", 0))}


# ----------------------------------------------------------------------- fit
def fit(
    model: Any,
    data: Any,
    *,
    validation_data: Any = None,
    validation_split: float = 0.0,
    epochs: int = 10,
    batch_size: int = 32,
    image_size: int | tuple[int, int] | None = None,
    scale: float | None = 1.0 / 255.0,
    callbacks: Sequence[Any] | None = None,
    class_weight: dict | str | None = None,
    checkpoint: str | os.PathLike | None = None,
    last_checkpoint: str | os.PathLike | None = None,
    save_model: Any = None,
    monitor: str = "auto",
    early_stopping: int | None = None,
    history_path: str | os.PathLike | None = None,
    plot_path: str | os.PathLike | None = None,
    initial_epoch: int = 0,
    resume_best: tuple[float | None, int] | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    workers: int | None = None,
    strategy: Any = None,
    verbose: Any = "auto",
) -> Any:
    """Train a compiled model on arrays, a folder, an HDF5 store or a batch source.

    Parameters
    ----------
    model : keras.Model
        Compiled (loss: sparse categorical cross-entropy on integer labels).
    data
        See :func:`make_training_data`.
    validation_data, optional
        Same kinds as ``data``, never shuffled.
    validation_split : float
        Without ``validation_data``: hold out this stratified fraction of
        ``data`` (seeded by ``seed``).
    epochs : int
        Index of the last epoch (as in ``model.fit``: a resumed run with
        ``initial_epoch=10, epochs=30`` trains 20 more).
    batch_size : int
    image_size : int or (height, width), optional
        Input size; default the model's input size (needed for folders).
    scale : float or None
        Factor for integer images (``1/255``).
    callbacks : list, optional
        Extra Keras callbacks (run after the built-in ones).
    class_weight : dict or "auto", optional
        ``"auto"``: balanced weights from the training labels
        (:func:`cvtoolkit.train.class_weights_from_labels`).
    checkpoint : path-like, optional
        ``.keras`` file of the best model by ``monitor``.
    last_checkpoint : path-like, optional
        ``.keras`` file of the latest epoch (with optimizer state) and its
        state JSON, for :func:`resume_state`.
    save_model : keras.Model, optional
        The model written to ``checkpoint`` when it differs from the one
        trained (the plain network inside an augmentation wrapper).
    monitor : str
        Metric for checkpoint and early stopping; ``"auto"`` is
        ``"val_loss"`` with validation data, else ``"loss"``.
    early_stopping : int, optional
        Stop after this many epochs without improvement and restore the
        best weights.
    history_path, plot_path : path-like, optional
        :class:`~cvtoolkit.train.callbacks.TrainingMonitor` files, written
        every epoch (continued when ``initial_epoch > 0``).
    initial_epoch : int
        Epoch to start at when resuming.
    resume_best : (best, best_epoch), optional
        The best monitored value of the interrupted run (from
        :func:`resume_state`).
    shuffle : bool
        Shuffle the training data every epoch.
    seed : int, optional
        Seeds the backend, NumPy and Python (``keras.utils.set_random_seed``)
        and the shuffling.
    workers : int, optional
        Decoding threads for folder sources.
    strategy : tf.distribute.Strategy, optional
        Data-parallel training (TensorFlow backend,
        :func:`cvtoolkit.train.distribute.make_strategy`). The model must
        have been built and compiled inside
        ``distribution_scope(strategy)``; ``batch_size`` is then *per
        replica* and every step sees ``batch_size * num_replicas_in_sync``
        samples. A ready batch source (PyDataset) must already yield such
        global batches.
    verbose : "auto", 0, 1 or 2
        Keras progress output.

    Returns
    -------
    keras.callbacks.History

    Raises
    ------
    ModelError
        The model is not compiled.
    DatasetError
        The data cannot be used (see :func:`make_training_data`).
    DistributionError
        The model was not built under ``strategy``.
    """
    import keras

    from cvtoolkit.train.callbacks import Checkpoint, TrainingMonitor
    from cvtoolkit.train.class_weights import class_weights_from_labels

    if not getattr(model, "compiled", False) and getattr(model, "optimizer", None) is None:
        raise ModelError(f"model {model.name!r} is not compiled; call model.compile(optimizer, loss, metrics) first")
    if strategy is not None:
        from cvtoolkit.train.distribute import describe_strategy, global_batch_size, prepare_model

        prepare_model(model, strategy)
        per_replica, batch_size = batch_size, global_batch_size(batch_size, strategy)
        logger.info("%s: global batch %d (%d per replica)", describe_strategy(strategy), batch_size, per_replica)
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    if image_size is None:
        shape = getattr(model, "input_shape", None)
        if shape is not None and len(shape) == 4 and shape[1] and shape[2]:
            image_size = (int(shape[1]), int(shape[2]))
    _check_output_dtype(model)

    kw = dict(batch_size=batch_size, image_size=image_size, scale=scale, seed=seed, workers=workers)
    if validation_data is None and validation_split and float(validation_split) > 0:
        labels = _labels_of(data)
        if labels is None:
            raise ValueError("validation_split needs arrays, a Dataset, a folder or a store; "
                             "pass validation_data for other sources")
        from cvtoolkit.data.split import stratified_split  # the one train/validation splitter

        train_idx, val_idx = stratified_split(labels, test_size=float(validation_split),
                                              seed=42 if seed is None else int(seed))
        train = make_training_data(data, shuffle=shuffle, indices=train_idx, **kw)
        val = make_training_data(data, shuffle=False, indices=val_idx, **kw)
    else:
        train = make_training_data(data, shuffle=shuffle, **kw)
        val = None if validation_data is None else make_training_data(validation_data, shuffle=False, **kw)
    if len(train) == 0 and train.kind != "pydataset":
        raise DatasetError("no training samples: the data source is empty")

    weights = class_weight
    if class_weight == "auto":
        if len(train.labels) == 0:
            raise ValueError("class_weight='auto' needs the labels of the source; pass a dict instead")
        n_classes = int(model.output_shape[-1]) if getattr(model, "output_shape", None) else None
        weights = class_weights_from_labels(train.labels, classes=n_classes)
        logger.info("class weights: %s", {k: round(v, 3) for k, v in weights.items()})

    if monitor == "auto":
        monitor = "val_loss" if val is not None else "loss"
    cbs: list[Any] = []
    if history_path is not None or plot_path is not None:
        cbs.append(TrainingMonitor(plot_path, history_path, start_at=initial_epoch))
    if checkpoint is not None or last_checkpoint is not None:
        best, best_epoch = resume_best if resume_best else (None, 0)
        cbs.append(Checkpoint(checkpoint, last_checkpoint, monitor=monitor, best=best,
                              best_epoch=best_epoch, save_model=save_model))
    if early_stopping:
        cbs.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=int(early_stopping),
                                                 restore_best_weights=True, start_from_epoch=0))
    cbs.extend(callbacks or [])

    val_arg = None
    if val is not None:
        val_arg = val.x if val.is_batched else (val.x, val.y)
    fit_kw = dict(epochs=int(epochs), initial_epoch=int(initial_epoch), callbacks=cbs,
                  class_weight=weights, validation_data=val_arg, verbose=verbose)
    logger.info("training on %d samples (%s)%s for epochs %d..%d", len(train), train.kind,
                f", validating on {len(val)}" if val is not None else "", initial_epoch + 1, epochs)
    if train.is_batched:
        return model.fit(train.x, shuffle=False, **fit_kw)
    return model.fit(train.x, train.y, batch_size=int(batch_size), shuffle=shuffle, **fit_kw)
