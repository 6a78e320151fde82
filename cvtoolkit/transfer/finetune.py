"""Fine-tuning a pretrained backbone: new head, warm-up, then partial unfreezing.

The recipe of the Keras transfer-learning guide, as two functions:

1. :func:`build_finetune_model`: ``pixels -> preprocess -> base(x,
   training=False) -> global pooling -> new fully-connected head``.
2. :func:`fine_tune`: a warm-up that trains only the head with the base
   frozen, then unfreezes the top ``N`` layers of the base (batch-norm layers
   stay frozen), recompiles at a lower learning rate and trains on.

The batch-norm trap: if the base's batch-norm layers ran in training mode
during fine-tuning, the first steps would replace their ImageNet statistics
with those of a few small batches and wreck the features. The Keras guide
calls the base with ``training=False`` for this, and so does this module;
but in Keras 3 ``fit``'s ``training=True`` overrides the value recorded in a
functional graph (keras-team/keras#20285), so what actually keeps them in
inference mode is that a batch-norm layer with ``trainable = False`` always
runs in inference mode. :func:`unfreeze_top_layers` therefore never unfreezes
a batch-norm layer; do not set ``base.trainable = True`` by hand.

Everything is plain Keras 3 (``keras.ops`` only), so it runs on any backend.

Examples
--------
>>> import numpy as np
>>> model, base = build_finetune_model("mobilenet", 2, input_shape=(32, 32, 3),
...                                    alpha=0.25, weights=None, head_units=8)
>>> x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
>>> h1, h2 = fine_tune(model, base, (x, np.array([0, 1, 0, 1])), warmup_epochs=1,
...                    finetune_epochs=1, unfreeze_top=5, batch_size=4, verbose=0)
>>> len(h1.history["loss"]), len(h2.history["loss"])
(1, 1)
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Sequence

import keras
from keras import layers

from cvtoolkit.errors import ModelError
from cvtoolkit.train.estimator import KerasImageClassifier
from cvtoolkit.transfer.backbones import BackbonePreprocessing, MirrorImages, build_backbone, get_backbone_spec

logger = logging.getLogger(__name__)

__all__ = ["FineTuneClassifier", "build_finetune_model", "fine_tune", "freeze_backbone", "unfreeze_top_layers"]


def build_finetune_model(
    backbone: str,
    classes: int,
    *,
    input_shape: tuple[int, ...] | int | None = None,
    alpha: float | None = None,
    weights: "str | os.PathLike | None" = "imagenet",
    head_units: int | None = 256,
    dropout: float = 0.5,
    pooling: str = "avg",
) -> tuple[keras.Model, keras.Model]:
    """A pretrained base with a new classification head.

    Parameters
    ----------
    backbone : str
        ``vgg16``, ``resnet50``, ``mobilenet``, ``mobilenetv2`` or
        ``efficientnetb0``.
    classes : int
        Number of classes (softmax outputs; at least 2).
    input_shape : tuple or int, optional
        ``(height, width, 3)``; default the backbone's (224).
    alpha, weights
        As :func:`cvtoolkit.transfer.build_backbone`.
    head_units : int or None
        Width of the hidden fully-connected layer (ReLU); ``None`` or 0 for
        a linear head straight on the pooled features.
    dropout : float
        Dropout rate before the output layer.
    pooling : {"avg", "max"}
        Global pooling of the base's last feature map.

    Returns
    -------
    model : keras.Model
        Takes ``0..255`` RGB pixels (the backbone's ``preprocess_input`` is
        inside), outputs class probabilities. Not compiled.
    base : keras.Model
        The backbone inside ``model``, frozen (``trainable = False``).

    Examples
    --------
    >>> model, base = build_finetune_model("mobilenet", 3, input_shape=32, alpha=0.25,
    ...                                    weights=None)
    >>> model.output_shape, base.trainable
    ((None, 3), False)
    """
    if int(classes) < 2:
        raise ModelError(f"fine-tuning needs at least 2 classes, got {classes}")
    if pooling not in ("avg", "max"):
        raise ModelError(f"pooling must be 'avg' or 'max', got {pooling!r}")
    spec = get_backbone_spec(backbone)
    base = build_backbone(spec.name, input_shape=input_shape, alpha=alpha, weights=weights, pooling=None)
    base.trainable = False
    inputs = keras.Input(shape=base.input_shape[1:], name="pixels")
    x = BackbonePreprocessing(spec.name, name="preprocess")(inputs)
    # The Keras guide's training=False (see the module docstring: in Keras 3
    # the frozen batch-norm layers are what really keep inference mode).
    x = base(x, training=False)
    pool = layers.GlobalAveragePooling2D if pooling == "avg" else layers.GlobalMaxPooling2D
    x = pool(name="pool")(x)
    if head_units:
        x = layers.Dense(int(head_units), activation="relu", name="head_dense")(x)
    if dropout:
        x = layers.Dropout(float(dropout), name="head_dropout")(x)
    outputs = layers.Dense(int(classes), activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name=f"{spec.name}_finetune")
    return model, base


def freeze_backbone(base: keras.Model) -> None:
    """Freeze every layer of ``base`` (the warm-up state).

    Examples
    --------
    >>> _, base = build_finetune_model("mobilenet", 2, input_shape=32, alpha=0.25,
    ...                                weights=None)
    >>> freeze_backbone(base); len(base.trainable_weights)
    0
    """
    base.trainable = False
    for layer in base.layers:
        _set_trainable(layer, False)


def unfreeze_top_layers(base: keras.Model, n: int | None) -> list[str]:
    """Make the top ``n`` layers of ``base`` trainable, batch-norm layers excepted.

    Parameters
    ----------
    base : keras.Model
        The backbone.
    n : int or None
        Layers to unfreeze, counted from the output (input layers not
        counted); ``None`` unfreezes them all. Batch-normalization layers
        among them stay frozen, hence in inference mode: their statistics
        and scales were learnt on ImageNet and small fine-tuning batches
        would only damage them.

    Returns
    -------
    list of str
        Names of the layers that are now trainable and have weights.

    Examples
    --------
    >>> _, base = build_finetune_model("mobilenet", 2, input_shape=32, alpha=0.25,
    ...                                weights=None)
    >>> unfreeze_top_layers(base, 3)
    ['conv_pw_13']
    """
    body = [layer for layer in base.layers if not isinstance(layer, layers.InputLayer)]
    if n is None:
        n = len(body)
    n = int(n)
    if n < 0:
        raise ValueError(f"unfreeze_top must be >= 0 or None, got {n}")
    top = body[len(body) - n:] if n else []
    top_ids = {id(layer) for layer in top}
    # Every flag is set explicitly, layer by layer: assigning a container's
    # ``trainable`` the value it already has does not reach its sub-layers.
    base.trainable = True
    for layer in body:
        _set_trainable(layer, id(layer) in top_ids)
    return [layer.name for layer in top if layer.trainable and layer.weights]


def _set_trainable(layer: keras.layers.Layer, value: bool) -> None:
    """Set ``trainable`` on ``layer`` and its nested layers; batch-norm stays frozen."""
    layer.trainable = bool(value) and not isinstance(layer, layers.BatchNormalization)
    for sub in getattr(layer, "layers", ()):
        _set_trainable(sub, value)


def _phase_steps(train_data: Any, batch_size: int) -> int:
    """Optimizer steps per epoch: ``(x, y)`` arrays in batches, or the batches of a batch source."""
    if isinstance(train_data, tuple):
        return max(1, -(-len(train_data[0]) // int(batch_size)))
    try:
        return max(1, len(train_data))
    except TypeError:
        raise ValueError("fine_tune needs (x, y) arrays or a batch source with a length (a keras.utils.PyDataset) "
                         "to count the steps of an epoch") from None


def _train_phase(model: keras.Model, train_data: Any, val_data: Any, *, start: int, epochs: int, lr: float,
                 name: str, options: dict[str, Any], fit_options: dict[str, Any] | None = None
                 ) -> keras.callbacks.History:
    """One phase of :func:`fine_tune`: compile ``model`` with Adam at ``lr`` and train epochs ``start+1..start+epochs``.

    Through the one CNN path (:meth:`KerasImageClassifier.build_trainer` on
    the given network, then :meth:`~KerasImageClassifier.fit_data`), so a
    phase gets the augmentation wrapper, the schedule, the CSV log and
    TensorBoard as any CNN does.
    """
    history = keras.callbacks.History()
    history.history = {}
    if epochs < 1:
        return history
    callbacks = options.pop("callbacks")
    phase = KerasImageClassifier(model=name, epochs=start + epochs, learning_rate=float(lr), optimizer="adam",
                                 **options)
    steps = _phase_steps(train_data, phase.batch_size)
    n_classes = int(model.output_shape[-1])
    trainer = phase.build_trainer(model.input_shape[1:], n_classes, steps_per_epoch=steps, epochs=epochs,
                                  network=model)
    phase.fit_data(train_data, classes=range(n_classes), input_shape=model.input_shape[1:], steps_per_epoch=steps,
                   validation_data=val_data, callbacks=callbacks, trainer=trainer, initial_epoch=start,
                   scale=None, **(fit_options or {}))  # arrays go in as given, as model.fit takes them
    history.history = phase.history_
    return history


def fine_tune(
    model: keras.Model,
    base: keras.Model,
    train_data: Any,
    val_data: Any = None,
    *,
    warmup_epochs: int = 5,
    finetune_epochs: int = 10,
    unfreeze_top: int | None = 20,
    warmup_lr: float = 1e-3,
    finetune_lr: float = 1e-5,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    schedule: str | None = None,
    augment: bool | dict = False,
    batch_size: int = 32,
    class_weight: str | dict | None = None,
    seed: int | None = None,
    verbose: Any = "auto",
    log_dir: str | None = None,
    tensorboard_dir: str | None = None,
    name: str | None = None,
    early_stopping: int | None = None,
) -> tuple[keras.callbacks.History, keras.callbacks.History]:
    """Warm up the head with the base frozen, then fine-tune the top of the base.

    Phase 1 (warm-up): every base layer frozen, Adam at ``warmup_lr``, for
    ``warmup_epochs``: the randomly initialised head learns without sending
    large gradients into the pretrained layers. Phase 2 (fine-tuning): the top
    ``unfreeze_top`` base layers become trainable (batch-norm layers stay
    frozen, hence in inference mode), the model is recompiled with Adam at the lower
    ``finetune_lr`` and trained for ``finetune_epochs`` more epochs (epoch
    numbers continue from phase 1).

    Each phase is one call of the one CNN training path,
    :meth:`KerasImageClassifier.build_trainer` (given ``model``: compiled, behind
    the augmentation layers with ``augment``) then
    :meth:`KerasImageClassifier.fit_data`, so both phases write the same
    ``history.csv`` (``log_dir``) and TensorBoard run (``tensorboard_dir``)
    as every other CNN.

    Parameters
    ----------
    model, base : keras.Model
        From :func:`build_finetune_model` (or a network around it); ``base``
        must be inside ``model``.
    train_data : tuple or batch source
        ``(x, y)`` arrays (fed to ``model`` as they are: no scaling), or a
        ``keras.utils.PyDataset`` of ``(x, y)`` batches (such as
        :class:`cvtoolkit.train.data.ArrayBatches`).
    val_data : optional
        Validation data of both phases, of the same kinds.
    warmup_epochs, finetune_epochs : int
        Epochs of each phase (0 skips the phase).
    unfreeze_top : int or None
        Base layers to unfreeze in phase 2, from the top; ``None``: all.
    warmup_lr, finetune_lr : float
        Adam learning rates; ``finetune_lr`` should be much lower (1e-5 to
        1e-4) so the pretrained weights move little.
    callbacks : list of keras.callbacks.Callback, optional
        Used in both phases.
    schedule : {"one_cycle", "cosine", ...}, optional
        Learning-rate schedule of each phase, peaking at that phase's rate
        (:func:`cvtoolkit.train.schedules.make_schedule`). None: constant rates.
    augment : bool or dict
        Train behind augmentation layers (as :class:`~cvtoolkit.train.KerasImageClassifier`'s
        ``augment``; a dict gives the keywords); ``model`` alone stays the network.
    batch_size, class_weight, seed, verbose, log_dir, tensorboard_dir
        As :class:`~cvtoolkit.train.KerasImageClassifier`.
    name : str, optional
        The run's name in ``log_dir``/``tensorboard_dir`` (default ``model.name``).
    early_stopping : int, optional
        Patience (epochs) of the fine-tuning phase on the validation loss; the
        best epoch's weights are restored at its end. Needs ``val_data``.

    Returns
    -------
    (History, History)
        The warm-up and fine-tuning histories.

    Examples
    --------
    See the module docstring.
    """
    if finetune_lr >= warmup_lr:
        logger.warning(
            "finetune_lr (%g) is not lower than warmup_lr (%g): fine-tuning may "
            "destroy the pretrained features", finetune_lr, warmup_lr,
        )
    warmup_epochs, finetune_epochs = int(warmup_epochs), int(finetune_epochs)
    options = dict(batch_size=int(batch_size), schedule=schedule, augment=augment, class_weight=class_weight,
                   seed=seed, verbose=verbose, log_dir=log_dir, tensorboard_dir=tensorboard_dir)
    run = name or model.name

    freeze_backbone(base)
    logger.info("warm-up: %d epochs, base frozen, lr %g", warmup_epochs, warmup_lr)
    warmup = _train_phase(model, train_data, val_data, start=0, epochs=warmup_epochs, lr=warmup_lr, name=run,
                          options=dict(options, callbacks=list(callbacks or [])))

    unfrozen = unfreeze_top_layers(base, unfreeze_top)  # trainable flags are read when the phase compiles
    logger.info(
        "fine-tuning: %d epochs, %d base layers with weights unfrozen (%s), lr %g",
        finetune_epochs, len(unfrozen), ", ".join(unfrozen[-5:]), finetune_lr,
    )
    if early_stopping is not None and val_data is None:
        raise ValueError("early_stopping watches the validation loss: pass val_data")
    stopping = {"early_stopping": int(early_stopping), "monitor": "val_loss"} if early_stopping else None
    finetune = _train_phase(model, train_data, val_data, start=warmup_epochs, epochs=finetune_epochs,
                            lr=finetune_lr, name=run, options=dict(options, callbacks=list(callbacks or [])),
                            fit_options=stopping)
    return warmup, finetune


class FineTuneClassifier(KerasImageClassifier):
    """A pretrained backbone fine-tuned end to end: the ``<backbone>+finetune`` row of ``compare``.

    fastai's ``fine_tune`` recipe in Keras: a new head
    (:func:`build_finetune_model`) is trained for ``warmup_epochs`` with the
    backbone frozen (its batch-norm layers in inference mode), then the top
    ``unfreeze_top`` backbone layers are unfrozen and everything trains for
    ``epochs`` more epochs at the lower ``finetune_lr`` (:func:`fine_tune`),
    each phase with a one-cycle schedule and, by default, random flips,
    shifts, zooms and small rotations. The images may be any size: the
    network scales them back to ``0..255`` and resizes them to
    ``image_size`` itself, so it fits in ``compare`` next to every other
    row, and it saves and loads as a plain
    :class:`~cvtoolkit.train.KerasImageClassifier` (input: images scaled to
    ``[0, 1]``).

    Parameters
    ----------
    backbone : str
        ``mobilenet``, ``mobilenetv2``, ``vgg16``, ``resnet50``, ``efficientnetb0``.
    alpha, weights
        As :func:`cvtoolkit.transfer.build_backbone` (a weights file named
        like Keras's gives the MobileNet width).
    image_size : int, optional
        Side the backbone sees (default: its ImageNet size, 224).
    warmup_epochs : int
        Epochs of the head alone.
    epochs : int or None
        Epochs after unfreezing (None: :data:`DEFAULT_FINETUNE_EPOCHS`).
    unfreeze_top : int or None
        Backbone layers unfrozen for phase 2, counted from the top; None
        (default): all of them, as fastai's ``fine_tune`` does. Batch-norm
        layers always stay frozen, in inference mode.
    learning_rate, finetune_lr : float
        Peak rates of the two phases (Adam).
    batch_size : int
    schedule : str
        Schedule of each phase (:func:`cvtoolkit.train.schedules.make_schedule`).
    augment : bool or dict
        Augmentation (a dict overrides :func:`~cvtoolkit.train.augmentation.make_augmentation`'s keywords).
    head_units, dropout
        As :func:`build_finetune_model`.
    flip_average : bool
        Predict the average of each image's and its mirror's probabilities
        (test-time augmentation, inside the saved network; twice the
        prediction cost, no extra training).
    validation_fraction, early_stopping
        As :class:`~cvtoolkit.train.KerasImageClassifier`: hold out a stratified
        part of the training images and stop the fine-tuning phase when its loss
        has not improved for ``early_stopping`` epochs, keeping the best epoch's
        weights (``best_epoch_``); ``compare`` sets them as for every CNN row.
    seed, verbose, class_weight, log_dir, tensorboard_dir
        As :class:`~cvtoolkit.train.KerasImageClassifier` (``class_weight``:
        None, ``"auto"`` for balanced weights, or ``{class: weight}``; both
        phases); both phases write ``<log_dir>/<backbone>+finetune/history.csv``
        and one TensorBoard run (``compare`` sets them as for every CNN row).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    >>> clf = FineTuneClassifier("mobilenet", alpha=0.25, weights=None, image_size=32,
    ...                          warmup_epochs=1, epochs=1, batch_size=4, verbose=0)
    >>> clf.fit(X, [0, 1] * 4).predict_proba(X).shape
    (8, 2)
    """

    def __init__(
        self,
        backbone: str = "mobilenet",
        alpha: float | None = None,
        weights: "str | os.PathLike | None" = "imagenet",
        image_size: int | None = None,
        warmup_epochs: int = 4,
        epochs: int | None = None,
        unfreeze_top: int | None = None,
        learning_rate: float = 1e-2,
        finetune_lr: float = 5e-4,
        batch_size: int = 32,
        schedule: str = "one_cycle",
        augment: bool | dict = True,
        head_units: int | None = None,
        dropout: float = 0.2,
        flip_average: bool = True,
        seed: int | None = 42,
        verbose: int = 1,
        class_weight: str | dict | None = None,
        log_dir: str | None = None,
        tensorboard_dir: str | None = None,
        validation_fraction: float = 0.0,
        early_stopping: int | None = None,
    ):
        self.backbone = backbone
        self.alpha = alpha
        self.weights = weights
        self.image_size = image_size
        self.warmup_epochs = warmup_epochs
        self.epochs = epochs
        self.unfreeze_top = unfreeze_top
        self.learning_rate = learning_rate
        self.finetune_lr = finetune_lr
        self.batch_size = batch_size
        self.schedule = schedule
        self.augment = augment
        self.head_units = head_units
        self.dropout = dropout
        self.flip_average = flip_average
        self.seed = seed
        self.verbose = verbose
        self.class_weight = class_weight  # None, "auto" (balanced) or {class: weight}, as KerasImageClassifier
        self.log_dir = log_dir
        self.tensorboard_dir = tensorboard_dir
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping

    def _model_name(self) -> str:
        return f"{get_backbone_spec(self.backbone).name}+finetune"

    def _class_weights(self, classes: Any, y_idx: Any) -> dict | None:
        """``class_weight`` as ``{column: weight}`` for ``model.fit`` (None: unweighted)."""
        from cvtoolkit.train.class_weights import class_weights_from_labels

        if self.class_weight == "auto":
            return class_weights_from_labels(y_idx, classes=len(classes))
        if isinstance(self.class_weight, dict):
            index = {c: i for i, c in enumerate(list(classes))}
            return {index.get(k, k): float(v) for k, v in self.class_weight.items()}
        return None

    def _epochs(self) -> int:
        return DEFAULT_FINETUNE_EPOCHS if self.epochs is None else int(self.epochs)

    def _validation_split(self, X: Any, y_idx: Any) -> tuple[Any, Any, Any]:
        """``(X_train, y_train, val)``: a stratified part held out when ``validation_fraction`` > 0 (else val None)."""
        from cvtoolkit.train.estimator import scale_images

        if not float(self.validation_fraction or 0) > 0:
            return X, y_idx, None
        from cvtoolkit.data.split import stratified_split  # the one train/validation splitter
        from cvtoolkit.errors import DatasetError

        try:
            train_idx, val_idx = stratified_split(y_idx, test_size=float(self.validation_fraction),
                                                  seed=42 if self.seed is None else int(self.seed))
        except DatasetError as err:
            if self.early_stopping is None:
                raise
            logger.warning("%s: no validation split (%s); training on all %d images without early stopping",
                           self._model_name(), err, len(y_idx))
            return X, y_idx, None
        return X[train_idx], y_idx[train_idx], (scale_images(X[val_idx]), y_idx[val_idx].astype("int64"))

    def fit(self, X: Any, y: Any) -> "FineTuneClassifier":
        """Fine-tune on images ``X`` (``(N, H, W, C)`` uint8, or float in ``[0, 1]``) and labels ``y``."""
        import time

        import numpy as np

        from cvtoolkit.train.estimator import cnn_image_batch, scale_images

        start = time.perf_counter()
        if self._epochs() < 0 or int(self.warmup_epochs) < 0 or self._epochs() + int(self.warmup_epochs) < 1:
            raise ValueError(f"need at least one epoch, got warmup_epochs={self.warmup_epochs}, epochs={self.epochs}")
        X = cnn_image_batch(X)
        classes, y_idx = np.unique(np.asarray(y), return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"need at least 2 classes to train a classifier; y has {len(classes)}")
        if self.seed is not None:
            keras.utils.set_random_seed(int(self.seed))
        spec = get_backbone_spec(self.backbone)
        side = int(self.image_size or spec.default_size)
        inner, base = build_finetune_model(
            spec.name, len(classes), input_shape=(side, side, 3), alpha=self.alpha, weights=self.weights,
            head_units=self.head_units, dropout=self.dropout,
        )
        # Outer network: [0, 1] images of the loaded size -> 0..255 RGB at the backbone's size.
        inputs = keras.Input(shape=X.shape[1:], name="image")
        x = layers.Rescaling(255.0, name="to_pixels")(inputs)
        if X.shape[-1] == 1:
            x = layers.Concatenate(name="grey_to_rgb")([x, x, x])
        if tuple(X.shape[1:3]) != (side, side):
            x = layers.Resizing(side, side, name="to_backbone_size")(x)
        net = keras.Model(inputs, inner(x), name=self._model_name().replace("+", "_"))
        augment: bool | dict = False
        if self.augment:  # FINETUNE_AUGMENTATION, then the user's keywords
            augment = dict(FINETUNE_AUGMENTATION, **(self.augment if isinstance(self.augment, dict) else {}))
        X_fit, y_fit, val = self._validation_split(X, y_idx)
        h1, h2 = fine_tune(
            net, base, (scale_images(X_fit), y_fit.astype("int64")), val, warmup_epochs=int(self.warmup_epochs),
            finetune_epochs=self._epochs(), unfreeze_top=self.unfreeze_top, warmup_lr=float(self.learning_rate),
            finetune_lr=float(self.finetune_lr), schedule=self.schedule, augment=augment,
            batch_size=int(self.batch_size), seed=self.seed, verbose=self.verbose, log_dir=self.log_dir,
            tensorboard_dir=self.tensorboard_dir, name=self._model_name(),
            class_weight=self._class_weights(classes, y_fit),
            early_stopping=int(self.early_stopping) if self.early_stopping is not None and val is not None else None,
        )
        losses = h2.history.get("val_loss") if self.early_stopping is not None and val is not None else None
        if losses:  # EarlyStopping restored the weights of this fine-tuning epoch (counted after the warm-up)
            finite = [v if math.isfinite(v) else math.inf for v in losses]
            self.best_epoch_ = int(self.warmup_epochs) + int(np.argmin(finite)) + 1
            logger.info("%s: best validation loss at epoch %d; its weights restored", self._model_name(),
                        self.best_epoch_)
        if self.flip_average:  # test-time augmentation: average with the mirrored image (same weights)
            mirrored = net(MirrorImages(name="mirror")(inputs))
            net = keras.Model(inputs, layers.Average(name="flip_average")([net(inputs), mirrored]), name=net.name)
        net.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history: dict[str, list[float]] = {}
        for part in (h1, h2):
            for key, values in part.history.items():
                history.setdefault(key, []).extend(float(v) for v in values)
        self.classes_ = classes
        self.model_ = net
        self.history_ = history
        self.input_shape_ = tuple(int(d) for d in X.shape[1:])
        self.n_features_in_ = int(np.prod(self.input_shape_))
        self.fit_time_ = time.perf_counter() - start
        logger.info("fine-tuned %s in %.1f s", self._model_name(), self.fit_time_)
        return self


DEFAULT_FINETUNE_EPOCHS = 12
"""Epochs after unfreezing, by default (after 4 warm-up epochs of the head alone)."""

FINETUNE_AUGMENTATION = {"flip": True, "rotation": 0.05, "zoom": 0.1, "translation": 0.1, "contrast": 0.0}
"""Augmentation of a ``+finetune`` row: mirror, small rotations, zooms and shifts."""
