"""A Keras CNN as a scikit-learn classifier: one more row on the leaderboard.

:class:`KerasImageClassifier` takes the same ``(N, H, W, C)`` ``uint8`` RGB
images as the classical pipelines, builds a network by name
(:func:`cvtoolkit.nn.build_model`) or from a callable, trains it and answers
``predict_proba``/``predict``, so ``compare`` can put a CNN beside
``hog+linear_svm`` on the same split and metrics.

Examples
--------
>>> import numpy as np, keras
>>> def tiny(input_shape, classes):
...     return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
...                              keras.layers.Dense(classes, activation="softmax")])
>>> rng = np.random.default_rng(0)
>>> X = rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
>>> y = np.arange(16) % 2
>>> clf = KerasImageClassifier(model=tiny, epochs=1, batch_size=8, verbose=0).fit(X, y)
>>> clf.predict_proba(X).shape, clf.classes_.tolist()
((16, 2), [0, 1])
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from cvtoolkit.errors import ModelError

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
"""Optimizer names :class:`KerasImageClassifier` accepts."""

DEFAULT_LEARNING_RATES = {"adam": 1e-3, "adamw": 1e-3, "sgd": 0.05, "rmsprop": 1e-3}
"""Learning rate used when ``learning_rate=None`` (peak of the schedule)."""

RECOMMENDED_EPOCHS = {"shallownet": 10, "lenet": 20, "minivggnet": 30, "minigooglenet": 30,
                      "resnet": 30, "alexnet": 30}
"""Epochs used when ``epochs=None``, by network name (20 for others).

Measured on Animals 32x32 (75/25 split, Adam 1e-3, warm-up + cosine):
ShallowNet has no regularisation and overfits soon: 0.707 test accuracy
after 10 epochs (0.697, 0.700 with seeds 1, 2), 0.693 after 20, 0.679
after 30; MiniVGGNet reaches 0.776 after 30 without augmentation and
0.764-0.788 with ``augment=True`` (three seeds).
"""

SIDECAR_FORMAT = "cvtoolkit.keras_classifier/1"
"""``format`` field of the JSON file saved beside the ``.keras`` model."""

COMPILE_OPTIONS = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
"""How :meth:`KerasImageClassifier.build_trainer` compiles (labels are class indices)."""

PREDICT_CHUNK = 2048
"""Images scaled to float at a time in :meth:`KerasImageClassifier.predict_proba`."""


def sidecar_path(path: str | os.PathLike) -> Path:
    """The JSON file that goes with a saved ``.keras`` model (``model.json``).

    Examples
    --------
    >>> sidecar_path("models/shallownet.keras").name
    'shallownet.json'
    """
    return Path(path).with_suffix(".json")


def cnn_image_batch(X: Any, *, what: str = "X") -> np.ndarray:
    """``X`` as one ``(N, H, W, C)`` array for a CNN (a list of same-sized images is stacked).

    Grey batches ``(N, H, W)`` get a channel axis; pixel types are kept (the
    network scales them). Not :func:`cvtoolkit.features.base.as_image_batch`,
    which lets descriptors take images of different sizes as ``uint8``.

    Raises
    ------
    ValueError
        Not a batch of same-sized images.

    Examples
    --------
    >>> import numpy as np
    >>> cnn_image_batch(np.zeros((2, 4, 4), np.uint8)).shape
    (2, 4, 4, 1)
    """
    if isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.dtype == object):
        items = [np.asarray(x) for x in X]
        shapes = {x.shape for x in items}
        if len(shapes) > 1:
            raise ValueError(
                f"{what} holds images of different sizes ({len(shapes)} shapes, e.g. "
                f"{sorted(shapes)[:2]}); a CNN needs one size: load with image_size=N "
                "or resize first"
            )
        X = np.stack(items) if items else np.zeros((0, 0, 0, 3), np.uint8)
    X = np.asarray(X)
    if X.ndim == 3:
        X = X[..., None]
    if X.ndim != 4:
        raise ValueError(f"{what} must be a batch of images (N, H, W, C); got an array of shape {X.shape}")
    return X


def scale_images(X: np.ndarray) -> np.ndarray:
    """Images as ``float32`` in ``[0, 1]``: integer images are divided by 255.

    Floating-point input is taken as already scaled and only cast.

    Examples
    --------
    >>> import numpy as np
    >>> scale_images(np.array([[0, 255]], np.uint8)).tolist()
    [[0.0, 1.0]]
    """
    if np.issubdtype(X.dtype, np.integer) or X.dtype == np.bool_:
        out = X.astype(np.float32)
        out *= np.float32(1.0 / 255.0)
        return out
    return X.astype(np.float32, copy=False)


def make_optimizer(name: str, learning_rate: Any):
    """A Keras optimizer by name; ``learning_rate`` may be a schedule.

    SGD uses Nesterov momentum 0.9; AdamW weight decay 1e-4.

    Examples
    --------
    >>> type(make_optimizer("sgd", 0.01)).__name__
    'SGD'
    """
    import keras

    key = str(name).lower()
    if key == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)
    if key == "adam":
        return keras.optimizers.Adam(learning_rate)
    if key == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=1e-4)
    if key == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")


def build_network(model: str | Callable, input_shape: tuple[int, ...], classes: int, model_kwargs: dict | None = None):
    """Build a network by registry name or from a callable ``(input_shape, classes) -> Model``.

    Raises
    ------
    ModelError
        Unknown name, or the callable did not return a Keras model.
    """
    import keras

    kwargs = dict(model_kwargs or {})
    if isinstance(model, str):
        from cvtoolkit.nn import build_model

        net = build_model(model, input_shape=tuple(input_shape), classes=int(classes), **kwargs)
    elif callable(model):
        net = model(tuple(input_shape), int(classes), **kwargs)
    else:
        raise ModelError(
            f"model must be a network name (see cvtoolkit.nn) or a callable "
            f"(input_shape, classes) -> keras.Model; got {type(model).__name__}"
        )
    if not isinstance(net, keras.Model):
        raise ModelError(f"model {model!r} returned {type(net).__name__}, expected a keras.Model")
    return net


class KerasImageClassifier(ClassifierMixin, BaseEstimator):
    """A Keras CNN with scikit-learn's ``fit``/``predict_proba``/``predict``.

    ``fit`` scales integer images to ``float32`` in ``[0, 1]`` (divides by
    255; floating images are used as given), builds the network, compiles it
    with sparse categorical cross-entropy and trains it with a warm-up +
    cosine learning-rate schedule. ``predict_proba`` applies the same
    scaling. Labels may be any sortable values; ``classes_`` holds them in
    the order of the probability columns.

    Parameters
    ----------
    model : str or callable
        A :func:`cvtoolkit.nn.build_model` name (``"shallownet"``,
        ``"minivggnet"``, ...) or a callable ``(input_shape, classes,
        **model_kwargs) -> keras.Model`` whose output is a softmax.
    epochs : int or None
        Passes over the training data; ``None`` uses
        :data:`RECOMMENDED_EPOCHS` for the network (20 when not listed).
    batch_size : int
        Images per optimizer step.
    learning_rate : float or None
        Peak learning rate; ``None`` uses :data:`DEFAULT_LEARNING_RATES`
        for the optimizer (Adam 1e-3, SGD 0.05).
    optimizer : {"adam", "sgd", "adamw", "rmsprop"}
        SGD uses Nesterov momentum 0.9.
    schedule : {"cosine", "one_cycle", "step", "polynomial", "constant"}
        Learning-rate schedule over the whole run
        (:func:`cvtoolkit.train.schedules.make_schedule`).
    augment : bool or dict
        Random flips and shifts during training
        (:data:`cvtoolkit.train.augmentation.TRAINING_AUGMENTATION`); a dict
        overrides those keywords of
        :func:`~cvtoolkit.train.augmentation.make_augmentation` (e.g.
        ``{"rotation": 0.1}``). The saved network carries no augmentation.
    validation_fraction : float
        Hold out this stratified fraction of the training data to report
        ``val_loss``/``val_accuracy`` in ``history_`` (0: none).
    class_weight : None, "auto" or dict
        ``"auto"``: balanced weights from the label counts.
    early_stopping : int or None
        Stop after this many epochs without a lower validation loss and
        restore the weights of the best epoch (``best_epoch_``); needs a
        validation split (``validation_fraction`` or ``validation_data``).
        ``None``: train every epoch and keep the last weights.
    seed : int or None
        Seeds Python, NumPy and the backend (``keras.utils.set_random_seed``)
        and the augmentation, for repeatable runs.
    verbose : int
        Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch.
    model_kwargs : dict, optional
        Extra keywords for the network builder.
    log_dir : str, optional
        Write ``<log_dir>/<network>/history.csv`` during training, one row
        per epoch (Keras's ``CSVLogger``); ``compare`` sets it for CNN rows.
    tensorboard_dir : str, optional
        TensorBoard event files in ``<tensorboard_dir>/<network>`` (Keras's
        ``TensorBoard`` callback): ``tensorboard --logdir <tensorboard_dir>``
        shows each network as a run.

    Attributes
    ----------
    classes_ : ndarray
        Class labels, in probability-column order.
    model_ : keras.Model
        The trained network (input: images scaled to ``[0, 1]``).
    history_ : dict of list
        Per-epoch ``loss``, ``accuracy`` (and ``val_*``, ``learning_rate``).
    input_shape_ : tuple
        ``(H, W, C)`` of the training images.
    fit_time_ : float
        Seconds spent in ``fit``.
    best_epoch_ : int
        With ``early_stopping``: the epoch (from 1) whose weights were kept.

    Examples
    --------
    >>> import numpy as np, keras
    >>> def tiny(input_shape, classes):
    ...     return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
    ...                              keras.layers.Dense(classes, activation="softmax")])
    >>> X = np.random.default_rng(1).integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    >>> clf = KerasImageClassifier(tiny, epochs=2, batch_size=4, verbose=0)
    >>> clf.fit(X, ["cat", "dog", "owl"] * 4).predict(X[:2]).tolist() in (
    ...     [[a, b] for a in ("cat", "dog", "owl") for b in ("cat", "dog", "owl")])
    True
    """

    def __init__(
        self,
        model: str | Callable = "shallownet",
        epochs: int | None = None,
        batch_size: int = 32,
        learning_rate: float | None = None,
        optimizer: str = "adam",
        schedule: str | None = "cosine",
        augment: bool | dict = False,
        validation_fraction: float = 0.0,
        class_weight: str | dict | None = None,
        seed: int | None = 42,
        verbose: int = 1,
        model_kwargs: dict | None = None,
        log_dir: str | None = None,
        tensorboard_dir: str | None = None,
        early_stopping: int | None = None,
    ):
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.schedule = schedule
        self.augment = augment
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.seed = seed
        self.verbose = verbose
        self.model_kwargs = model_kwargs
        self.log_dir = log_dir
        self.tensorboard_dir = tensorboard_dir
        self.early_stopping = early_stopping

    # ------------------------------------------------------------------ fit
    def _epochs(self) -> int:
        if self.epochs is not None:
            return int(self.epochs)
        return RECOMMENDED_EPOCHS.get(self._model_name().lower(), 20) if isinstance(self.model, str) else 20

    def _check_params(self) -> None:
        if self._epochs() < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not 0.0 <= float(self.validation_fraction) < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        if str(self.optimizer).lower() not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
        if self.class_weight not in (None, "auto") and not isinstance(self.class_weight, dict):
            raise ValueError(f"class_weight must be None, 'auto' or a dict; got {self.class_weight!r}")
        if getattr(self, "early_stopping", None) is not None and int(self.early_stopping) < 1:
            raise ValueError(f"early_stopping must be None or a patience of at least 1 epoch, got {self.early_stopping}")

    def _learning_rate(self) -> float:
        if self.learning_rate is not None:
            return float(self.learning_rate)
        return DEFAULT_LEARNING_RATES[str(self.optimizer).lower()]

    def _log_callbacks(self, append: bool = False) -> list:
        """Keras's ``CSVLogger``/``TensorBoard`` callbacks for ``log_dir``/``tensorboard_dir``.

        ``append``: continue ``history.csv`` (a run that starts after epoch 0).
        """
        import keras

        callbacks = []
        run = self._model_name()
        if self.log_dir:
            folder = Path(self.log_dir) / run
            folder.mkdir(parents=True, exist_ok=True)
            callbacks.append(keras.callbacks.CSVLogger(str(folder / "history.csv"), append=append))
        if self.tensorboard_dir:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(Path(self.tensorboard_dir) / run)))
        return callbacks

    def fit(self, X: Any, y: Any, *, validation_data: tuple | None = None,
            callbacks: Sequence[Any] | None = None) -> "KerasImageClassifier":
        """Train a fresh network on images ``X`` and labels ``y``.

        Parameters
        ----------
        X : array-like
            ``(N, H, W, C)`` images (``uint8`` RGB, or float in ``[0, 1]``).
        y : array-like
            ``(N,)`` class labels.
        validation_data : (X_val, y_val), optional
            Held-out data to monitor; overrides ``validation_fraction``.
        callbacks : list of keras.callbacks.Callback, optional
            More callbacks for this fit (after the logging ones).

        Returns
        -------
        self
        """
        from cvtoolkit.train.class_weights import class_weights_from_labels

        self._check_params()
        start = time.perf_counter()
        X = cnn_image_batch(X)
        y = np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} images but y has {len(y)} labels")
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"need at least 2 classes to train a classifier; y has {len(classes)}")
        y_idx = y_idx.astype(np.int64)

        val = None
        if validation_data is not None:
            Xv = cnn_image_batch(validation_data[0], what="validation X")
            yv_raw = np.asarray(validation_data[1])
            unknown = np.setdiff1d(yv_raw, classes)
            if unknown.size:
                raise ValueError(f"validation labels {unknown[:5].tolist()} are not among the training "
                                 f"classes {classes[:10].tolist()}")
            val = (Xv, np.searchsorted(classes, yv_raw).astype(np.int64))
        elif float(self.validation_fraction) > 0:
            from cvtoolkit.data.split import stratified_split  # the one train/validation splitter

            from cvtoolkit.errors import DatasetError

            try:
                train_idx, val_idx = stratified_split(y_idx, test_size=float(self.validation_fraction),
                                                      seed=42 if self.seed is None else int(self.seed))
            except DatasetError as err:
                if getattr(self, "early_stopping", None) is None:
                    raise
                # early stopping asked for by default (compare), on a training part too small to split
                # (a learning-curve fraction): train on all of it, say so, keep the last epoch
                logger.warning("%s: no validation split (%s); training on all %d images without early stopping",
                               self._model_name(), err, len(y_idx))
                train_idx = None
            if train_idx is not None:
                val = (X[val_idx], y_idx[val_idx])
                X, y_idx = X[train_idx], y_idx[train_idx]

        steps = math.ceil(len(X) / int(self.batch_size))
        weights = None
        if self.class_weight == "auto":
            weights = class_weights_from_labels(y_idx, classes=len(classes))
        elif isinstance(self.class_weight, dict):
            index = {c: i for i, c in enumerate(classes.tolist())}
            weights = {index.get(k, k): float(v) for k, v in self.class_weight.items()}
        stopping = {}
        if getattr(self, "early_stopping", None) is not None and (val is not None or not self.validation_fraction):
            if val is None:
                raise ValueError("early_stopping watches the validation loss: set validation_fraction > 0 "
                                 "or pass validation_data")
            stopping = {"early_stopping": int(self.early_stopping), "monitor": "val_loss"}
        self.fit_data((X, y_idx), classes=classes, input_shape=X.shape[1:], steps_per_epoch=steps,
                      validation_data=val, callbacks=callbacks, class_weight=weights, **stopping)
        losses = self.history_.get("val_loss") if stopping else None
        if losses:  # Keras's EarlyStopping restored the weights of this epoch (1-based)
            finite = [v if math.isfinite(v) else math.inf for v in losses]
            self.best_epoch_ = int(np.argmin(finite)) + 1
            logger.info("%s: best validation loss at epoch %d of %d; its weights restored",
                        self._model_name(), self.best_epoch_, len(losses))
        self.fit_time_ = time.perf_counter() - start
        return self

    def build_trainer(self, input_shape: Sequence[int], n_classes: int, *, steps_per_epoch: int,
                      strategy: Any = None, learning_rate: float | None = None,
                      schedule: str | None = None, epochs: int | None = None,
                      network: Any = None) -> tuple[Any, Any]:
        """Build the network and the model that trains it, compiled; the one place a CNN is built and compiled.

        The backend is seeded with ``seed`` first; with ``augment`` the
        trainer is the network behind the augmentation layers (the network
        alone is what is saved). Built and compiled inside ``strategy``'s
        scope (tf.distribute), if any.

        Parameters
        ----------
        input_shape : (H, W, C)
        n_classes : int
        steps_per_epoch : int
            Optimizer steps per epoch (the schedule spans ``epochs`` of them).
        strategy : tf.distribute.Strategy, optional
        learning_rate, schedule : optional
            Override ``learning_rate``/``schedule`` (e.g. a constant rate for
            a learning-rate sweep).
        epochs : int, optional
            Epochs the schedule spans (default ``epochs``): one phase of a
            longer run, such as fine-tuning's second phase.
        network : keras.Model, optional
            Compile this network instead of building one (a model trained
            in phases, recompiled after its trainable layers changed).

        Returns
        -------
        (network, trainer) : (keras.Model, keras.Model)

        Examples
        --------
        >>> net, trainer = KerasImageClassifier("shallownet").build_trainer((8, 8, 3), 2, steps_per_epoch=1)
        >>> net is trainer, net.output_shape
        (True, (None, 2))
        """
        import keras

        from cvtoolkit.train.augmentation import TRAINING_AUGMENTATION, make_augmentation, with_augmentation
        from cvtoolkit.train.distribute import distribution_scope
        from cvtoolkit.train.schedules import make_schedule

        if self.seed is not None:
            keras.utils.set_random_seed(int(self.seed))
        with distribution_scope(strategy):
            net = network if network is not None else build_network(self.model, tuple(input_shape),
                                                                    int(n_classes), self.model_kwargs)
            trainer = net
            if self.augment:
                options = dict(TRAINING_AUGMENTATION)
                options.update(self.augment if isinstance(self.augment, dict) else {})
                options.setdefault("seed", self.seed)
                trainer = with_augmentation(net, make_augmentation(**options))
            rate = float(learning_rate) if learning_rate is not None else self._learning_rate()
            span = self._epochs() if epochs is None else int(epochs)
            lr = make_schedule(schedule or self.schedule, rate, epochs=span, steps_per_epoch=steps_per_epoch)
            trainer.compile(optimizer=make_optimizer(self.optimizer, lr), **COMPILE_OPTIONS)
        return net, trainer

    def fit_data(self, train_data: Any, *, classes: Sequence[Any], input_shape: Sequence[int],
                 steps_per_epoch: int, validation_data: Any = None, callbacks: Sequence[Any] | None = None,
                 trainer: tuple[Any, Any] | None = None, initial_epoch: int = 0, strategy: Any = None,
                 class_weight: Any = "param", **fit_options: Any) -> "KerasImageClassifier":
        """Train on prepared data: arrays or a streamed source, over :func:`cvtoolkit.train.fit`.

        What :meth:`fit` calls after checking and encoding its arrays, and
        what ``cvtoolkit train`` calls with streamed folders or stores,
        checkpoints, resume and tf.distribute.

        Parameters
        ----------
        train_data
            ``(images, label_indices)`` or what
            :func:`cvtoolkit.train.make_training_data` returns.
        classes : sequence
            Label of each output column (``classes_``).
        input_shape : (H, W, C)
            The training image shape.
        steps_per_epoch : int
            For the learning-rate schedule.
        validation_data : optional
            Monitored every epoch.
        callbacks : list of keras.callbacks.Callback, optional
            Composed by the caller (after the ``log_dir``/``tensorboard_dir`` ones).
        trainer : (network, trainer), optional
            From :meth:`build_trainer` (or a resumed run's model); built here by default.
        initial_epoch : int
            Epochs already trained (resume).
        strategy : tf.distribute.Strategy, optional
        class_weight : optional
            Overrides the ``class_weight`` parameter (already mapped to column indices).
        **fit_options
            Checkpoints, early stopping, history files, resume state, ...
            (keywords of :func:`cvtoolkit.train.fit`).

        Returns
        -------
        self
        """
        from cvtoolkit.train.fit import fit as train_fit

        self._check_params()
        classes = np.asarray(list(classes))
        if trainer is None:
            trainer = self.build_trainer(input_shape, len(classes), steps_per_epoch=steps_per_epoch,
                                         strategy=strategy)
        net, model = trainer
        history = train_fit(
            model, train_data, validation_data=validation_data, epochs=self._epochs(),
            batch_size=int(self.batch_size), verbose=self.verbose, seed=self.seed, strategy=strategy,
            class_weight=self.class_weight if class_weight == "param" else class_weight,
            initial_epoch=initial_epoch, save_model=net if model is not net else None,
            callbacks=self._log_callbacks(append=initial_epoch > 0) + list(callbacks or []), **fit_options,
        )
        if model is not net:
            net.compile(**COMPILE_OPTIONS)  # so model_.evaluate works (the optimizer stays with the trainer)
        self.classes_ = classes
        self.model_ = net
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        self.input_shape_ = tuple(int(d) for d in input_shape)
        self.n_features_in_ = int(np.prod(self.input_shape_))
        logger.info("trained %s for %d epochs", self._model_name(), self._epochs())
        return self

    def _model_name(self) -> str:
        return self.model if isinstance(self.model, str) else getattr(self.model, "__name__", "custom")

    # -------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this KerasImageClassifier is not fitted yet; call fit(X, y) first")

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(N, n_classes)``, columns in ``classes_`` order."""
        self._check_fitted()
        X = cnn_image_batch(X)
        if tuple(X.shape[1:]) != tuple(self.input_shape_):
            raise ValueError(
                f"images are {X.shape[1:]} but the network was trained on {self.input_shape_}; "
                "resize them to the training size (load with the same image_size)"
            )
        out = np.empty((len(X), len(self.classes_)), np.float32)
        for i in range(0, len(X), PREDICT_CHUNK):
            chunk = scale_images(X[i : i + PREDICT_CHUNK])
            out[i : i + len(chunk)] = self.model_.predict(chunk, batch_size=max(int(self.batch_size), 64), verbose=0)
        return out

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class label of each image."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    # ------------------------------------------------- wrap, save, load
    @classmethod
    def from_model(cls, network: Any, classes: Sequence[Any] | None = None, *, history: Any = None,
                   class_names: Sequence[str] | None = None, **params: Any) -> "KerasImageClassifier":
        """A network trained elsewhere as a fitted classifier (to save, predict, or put on a leaderboard).

        Parameters
        ----------
        network : keras.Model
            Takes images scaled to ``[0, 1]`` (what :meth:`predict_proba`
            feeds it) and outputs one probability per class.
        classes : sequence, optional
            Label of each output column (default ``0..K-1``).
        history : dict, keras History or list of them, optional
            Training curves; a list is concatenated epoch after epoch.
        class_names : sequence of str, optional
            Readable class names (``class_names_``, stored by :meth:`save`).
        **params
            Constructor parameters to record, such as ``model="minivggnet"``
            (the name saved in the sidecar) or ``batch_size``.

        Raises
        ------
        ValueError
            ``classes`` does not have one label per output column.

        Examples
        --------
        >>> import keras
        >>> net = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
        ...                         keras.layers.Dense(2, activation="softmax")])
        >>> clf = KerasImageClassifier.from_model(net, ["cat", "dog"], model="tiny")
        >>> clf.predict(np.zeros((1, 4, 4, 3), np.uint8)).shape, clf.input_shape_
        ((1,), (4, 4, 3))
        """
        n_out = int(network.output_shape[-1])
        labels = np.arange(n_out) if classes is None else np.asarray(list(classes))
        if len(labels) != n_out:
            raise ValueError(f"{len(labels)} classes given for a network with {n_out} outputs")
        clf = cls(**params)
        clf.classes_ = labels
        clf.model_ = network
        clf.history_ = {}
        for part in history if isinstance(history, (list, tuple)) else [history]:
            for key, values in (getattr(part, "history", part) or {}).items():
                clf.history_.setdefault(key, []).extend(float(v) for v in values)
        if class_names is not None:
            clf.class_names_ = [str(c) for c in class_names]
        clf.input_shape_ = tuple(int(d) for d in network.input_shape[1:])
        clf.n_features_in_ = int(np.prod(clf.input_shape_))
        return clf

    def save(self, path: str | os.PathLike, *, class_names: list[str] | None = None,
             extra: dict | None = None) -> None:
        """Save the network (``.keras``) and a JSON sidecar with classes and parameters.

        Both files are written atomically; the sidecar is
        :func:`sidecar_path` (``model.keras`` -> ``model.json``).

        Parameters
        ----------
        path : path-like
            The ``.keras`` file.
        class_names : list of str, optional
            Human-readable name of each class, stored in the sidecar
            (``class_names_`` after :meth:`load`).
        extra : dict, optional
            More JSON-able entries for the sidecar (image size, dataset, ...).

        Raises
        ------
        ModelError
            ``path`` does not end in ``.keras``.
        """
        from cvtoolkit.io.atomic import atomic_path, to_jsonable, write_json_atomic

        self._check_fitted()
        path = Path(path)
        if path.suffix != ".keras":
            raise ModelError(f"{path}: a Keras model file must end in .keras; "
                             f"rename it (e.g. {path.with_suffix('.keras').name})")
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "model"}
        meta = {
            "format": SIDECAR_FORMAT,
            "model": self._model_name(),
            "classes": self.classes_.tolist(),
            "input_shape": list(self.input_shape_),
            "scale": "uint8/255",
            "params": to_jsonable(params, default=repr),
            "history": self.history_,
        }
        names = class_names if class_names is not None else getattr(self, "class_names_", None)
        if names is not None:
            meta["class_names"] = [str(c) for c in names]
        meta.update(to_jsonable(extra or {}, default=repr))
        with atomic_path(path) as tmp:
            self.model_.save(tmp)
        write_json_atomic(sidecar_path(path), meta)

    @classmethod
    def load(cls, path: str | os.PathLike, *, safe_mode: bool = True) -> "KerasImageClassifier":
        """Load a classifier saved by :meth:`save` (or by ``cvtoolkit train``).

        Without the JSON sidecar the classes are ``0..K-1``. ``safe_mode=False``
        (``--trust-model``) lets Keras deserialize code from the file (``Lambda`` layers).

        Raises
        ------
        ModelError
            The file is missing or is not a Keras model.
        """
        import keras

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file; train one with `cvtoolkit train` "
                             "or KerasImageClassifier.save")
        import cvtoolkit.transfer.backbones  # noqa: F401  registers BackbonePreprocessing (fine-tuned backbones)

        try:
            net = keras.models.load_model(path, compile=False, safe_mode=safe_mode)
        except Exception as err:
            raise ModelError(f"{path}: cannot load the Keras model ({type(err).__name__}: {err})") from err
        meta: dict = {}
        side = sidecar_path(path)
        if side.is_file():
            meta = json.loads(side.read_text(encoding="utf-8"))
        params = dict(meta.get("params") or {})
        valid = cls().get_params(deep=False)
        clf = cls.from_model(net, meta.get("classes"), history=meta.get("history"),
                             class_names=meta.get("class_names"), model=meta.get("model", "custom"),
                             **{k: v for k, v in params.items() if k in valid and k != "model"})
        if meta.get("input_shape"):  # the training size, also for a network that takes any size
            clf.input_shape_ = tuple(int(d) for d in meta["input_shape"])
            clf.n_features_in_ = int(np.prod(clf.input_shape_))
        net.compile(**COMPILE_OPTIONS)
        return clf
