"""The training floor's part of ``cvtoolkit train``: output names, the data source, the distribution strategy.

The workflow itself (options, outputs, tracking, split, LR finder, fit,
evaluation, saving) is :class:`cvtoolkit.methods.train_job.TrainJob` and
:func:`cvtoolkit.methods.train_job.run_train_job`, at the workflow floor,
since it logs to MLflow (:mod:`cvtoolkit.tracking`), scores the test split
(:mod:`cvtoolkit.evaluate`) and saves a pipeline folder
(:mod:`cvtoolkit.methods.artifact`). This module imports nothing above
``cvtoolkit.train``:

- :func:`check_out` and :func:`companion_paths`: ``out`` is a pipeline folder
  (``models/NAME``) or one ``.keras`` file; beside it, from its stem,
  ``NAME.history.json``/``.csv``/``.png``, ``NAME.best.keras``,
  ``NAME.last.keras`` (for resume) and ``NAME.lr_find.png``.
- :class:`TrainingSource`: a dataset spec loaded into memory, or streamed
  (folders with ``stream=True``, ``.h5`` stores always), with its labels,
  class names and sample shape; it builds the training data of any subset
  and predicts on one.
- :func:`make_run_strategy`: the tf.distribute strategy of a run.

Examples
--------
>>> sorted(companion_paths(Path("models/m.keras")))[:3]
['best', 'csv', 'history']
>>> companion_paths(Path("models/m"))["last"].as_posix()
'models/m.last.keras'
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS
from cvtoolkit.errors import DatasetError, UsageError

logger = logging.getLogger(__name__)

MODEL_FILE_SUFFIXES = (".h5", ".hdf5", ".pkl", ".pickle", ".joblib", ".pt", ".pth", ".onnx", ".tflite", ".npz")
"""``out`` suffixes refused as likely mistakes: a model is a pipeline folder or a ``.keras`` file."""


def check_out(out: Path) -> Path:
    """``out`` is a pipeline folder or a ``.keras`` file.

    Raises
    ------
    UsageError
        ``out`` ends in another model-file suffix (``.h5``, ...).

    Examples
    --------
    >>> check_out(Path("models/x")).name, check_out(Path("m.keras")).name
    ('x', 'm.keras')
    """
    if out.suffix.lower() in MODEL_FILE_SUFFIXES:
        raise UsageError(f"--out {out}: train writes a pipeline folder (e.g. {out.with_suffix('')}) or a "
                         f"Keras model file ending in .keras (e.g. {out.with_suffix('.keras')})")
    return out


def companion_paths(out: Path) -> dict[str, Path]:
    """``out`` and its companions: ``NAME.history.json`` ... beside a .keras file or a pipeline folder."""
    stem = out.with_suffix("") if out.suffix == ".keras" else out
    return {
        "out": out,
        "history": Path(f"{stem}.history.json"),
        "csv": Path(f"{stem}.history.csv"),
        "plot": Path(f"{stem}.history.png"),
        "best": Path(f"{stem}.best.keras"),
        "last": Path(f"{stem}.last.keras"),
        "lr_find": Path(f"{stem}.lr_find.png"),
    }


class TrainingSource:
    """The data of a training run: labels, class names, sample shape, and how to build any part of it.

    Parameters
    ----------
    spec : str
        A dataset spec (folder, ``.h5`` store, ``digits``, Keras dataset name, ``.npz``, pixel CSV).
    model : str
        The network: a folder without ``image_size`` is loaded at its input size.
    image_size : int, optional
        Resize to ``N x N`` (stores: the stored size by default).
    label_pattern : str, optional
        Labels from file names in a flat folder (first regex group).
    max_pixels : int or None
        The decompression-bomb limit (``None``: none).
    stream : bool
        Stream a folder batch by batch instead of loading it (``.h5`` stores always stream).
    progress : bool
        Progress bar while loading into memory.
    echo : callable
        Receives the dataset line of a streamed source.
    on_dataset : callable, optional
        Called with an in-memory :class:`~cvtoolkit.data.Dataset` before it is checked.

    Raises
    ------
    DatasetError
        Features instead of images, images of different sizes, too few samples per class.

    Examples
    --------
    >>> source = TrainingSource("digits", "shallownet", progress=False)
    >>> source.sample_shape, len(source.class_names), source.stream
    ((8, 8, 1), 10, False)
    """

    def __init__(self, spec: str, model: str, *, image_size: int | None = None, label_pattern: str | None = None,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, stream: bool = False, progress: bool = True,
                 echo: Callable[[str], None] = logger.info, on_dataset: Callable[[Any], None] | None = None):
        from cvtoolkit.data import describe_spec

        self.spec = spec
        self.kind = describe_spec(spec)
        self.stream = self.kind == "hdf5" or (stream and self.kind == "folder")
        self.dataset = None
        self.listing = None
        self.image_size: Any = image_size
        self.max_pixels = max_pixels
        if self.kind == "hdf5":
            self._open_store(echo)
        elif self.stream:
            self._open_folder(model, label_pattern, echo)
        else:
            self._load(model, label_pattern, progress, on_dataset)

    def _load(self, model: str, label_pattern: str | None, progress: bool, on_dataset) -> None:
        from cvtoolkit.data import load_dataset
        from cvtoolkit.data.split import check_classification_data

        size = self.image_size
        if size is None and self.kind == "folder":
            size = _model_size(model)
        ds = load_dataset(self.spec, image_size=size, label_pattern=label_pattern, progress=progress,
                          max_pixels=self.max_pixels)
        if ds.kind != "images":
            raise DatasetError(f"{self.spec}: holds {ds.kind}, not images; a CNN trains on images "
                               "(pack the images, not extracted features)")
        if ds.images.dtype == object:
            raise DatasetError(f"{self.spec}: images have different sizes; pass --image-size N")
        if on_dataset is not None:
            on_dataset(ds)
        check_classification_data(ds, min_per_class=2)
        self.dataset = ds
        self.labels = ds.labels
        self.class_names = ds.class_names
        self.sample_shape = tuple(ds.images.shape[1:])

    def _open_store(self, echo: Callable[[str], None]) -> None:
        from cvtoolkit.io import HDF5Batches

        probe = HDF5Batches(self.spec, 1, shuffle=False)
        if probe.kind != "images":
            raise DatasetError(f"{self.spec}: a {probe.kind} store; a CNN trains on an images store "
                               "(cvtoolkit pack)")
        self.labels, self.class_names = probe.labels, probe.class_names
        shape = probe.sample_shape
        if self.image_size is not None:
            shape = (self.image_size, self.image_size, *shape[2:])
        self.sample_shape = tuple(shape)
        self.image_size = self.sample_shape[:2]
        echo(f"dataset {self.spec}: {len(self.labels)} images "
             f"({'x'.join(map(str, probe.sample_shape))}), {len(self.class_names)} classes (streamed)")

    def _open_folder(self, model: str, label_pattern: str | None, echo: Callable[[str], None]) -> None:
        from cvtoolkit.data.folder import list_image_folder

        if label_pattern:
            from cvtoolkit.data.filename_labels import list_by_filename

            self.listing = list_by_filename(self.spec, label_pattern)
        else:
            self.listing = list_image_folder(self.spec)
        size = self.image_size or _model_size(model)
        self.image_size = (size, size)
        self.labels, self.class_names = self.listing.labels, self.listing.class_names
        self.sample_shape = (size, size, 3)
        echo(f"dataset {self.spec}: {len(self.labels)} image files, {len(self.class_names)} classes "
             f"(streamed at {size}x{size})")

    def training_data(self, indices: Any, *, shuffle: bool, batch_size: int, seed: int | None = None,
                      workers: int | None = None) -> Any:
        """The samples at ``indices``: ``(images, labels)`` in memory, else a streamed batch source (``None``: ``None``)."""
        if indices is None:
            return None
        if self.dataset is not None:
            ds = self.dataset.subset(indices)
            return (ds.images, ds.labels)
        from cvtoolkit.train.fit import make_training_data

        target = self.listing if self.kind == "folder" else self.spec
        return make_training_data(target, batch_size=batch_size, image_size=self.image_size, shuffle=shuffle,
                                  indices=indices, seed=seed, workers=workers, max_pixels=self.max_pixels)

    def predict(self, model, indices, batch_size: int):
        """``(y_true, proba)`` of the model on these samples."""
        import numpy as np

        from cvtoolkit.train.estimator import scale_images

        if self.dataset is not None:
            part = self.dataset.subset(indices)
            return part.labels, model.predict(scale_images(part.images), batch_size=batch_size, verbose=0)
        if self.kind == "hdf5":
            from cvtoolkit.train.fit import make_training_data

            data = make_training_data(self.spec, batch_size=batch_size, image_size=self.image_size,
                                      shuffle=False, indices=indices)
            return data.labels, model.predict(data.x, verbose=0)
        from cvtoolkit.data.folder import load_images

        paths = [self.listing.paths[i] for i in indices]
        images, kept, _ = load_images(paths, image_size=self.image_size, progress=False, max_pixels=self.max_pixels)
        labels = self.listing.labels[np.asarray(indices)[kept]]
        return labels, model.predict(scale_images(images), batch_size=batch_size, verbose=0)


def make_run_strategy(strategy: str | None, cpu_replicas: int | None = None, *, verbose: bool = False):
    """The tf.distribute strategy of a run (``None`` without ``strategy``); made before any TensorFlow work.

    Raises
    ------
    DistributionError
        ``cpu_replicas`` without ``strategy="mirrored"``, or below 1.
    """
    from cvtoolkit.train.distribute import DistributionError, make_strategy, split_cpu_into_logical_devices

    if strategy and not verbose:
        logging.getLogger("tensorflow").setLevel(logging.WARNING)  # one INFO line per reduce otherwise
    if cpu_replicas is not None:
        if strategy != "mirrored":
            raise DistributionError(f"--cpu-replicas {cpu_replicas} splits the CPU for --strategy mirrored; "
                                    "add --strategy mirrored (or drop --cpu-replicas)")
        if cpu_replicas < 1:
            raise DistributionError(f"--cpu-replicas must be at least 1, got {cpu_replicas}")
        split_cpu_into_logical_devices(cpu_replicas)
    return make_strategy(strategy)


def _model_size(name: str) -> int:
    from cvtoolkit.nn import default_input_size

    return int(default_input_size(name)[0])
