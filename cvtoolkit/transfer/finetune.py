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
import os
from typing import Any, Sequence

import keras
from keras import layers

from cvtoolkit.errors import ModelError
from cvtoolkit.transfer.backbones import BackbonePreprocessing, build_backbone, get_backbone_spec

logger = logging.getLogger(__name__)

__all__ = ["build_finetune_model", "fine_tune", "freeze_backbone", "unfreeze_top_layers"]


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


def _fit(model: keras.Model, data: Any, val_data: Any, **kwargs: Any) -> keras.callbacks.History:
    """``model.fit`` on ``(x, y)`` / ``(x, y, sample_weight)`` tuples or a dataset."""
    if isinstance(data, tuple):
        x, y, *rest = data
        if rest:
            kwargs["sample_weight"] = rest[0]
        return model.fit(x, y, validation_data=val_data, **kwargs)
    return model.fit(data, validation_data=val_data, **kwargs)


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
    loss: Any = "sparse_categorical_crossentropy",
    metrics: Sequence[Any] = ("accuracy",),
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    **fit_kwargs: Any,
) -> tuple[keras.callbacks.History, keras.callbacks.History]:
    """Warm up the head with the base frozen, then fine-tune the top of the base.

    Phase 1 (warm-up): every base layer frozen, Adam at ``warmup_lr``, for
    ``warmup_epochs``: the randomly initialised head learns without sending
    large gradients into the pretrained layers. Phase 2 (fine-tuning): the top
    ``unfreeze_top`` base layers become trainable (batch-norm layers stay
    frozen, hence in inference mode), the model is recompiled with Adam at the lower
    ``finetune_lr`` and trained for ``finetune_epochs`` more epochs (epoch
    numbers continue from phase 1).

    Parameters
    ----------
    model, base : keras.Model
        From :func:`build_finetune_model`.
    train_data : tuple or dataset
        ``(x, y)`` (or ``(x, y, sample_weight)``) arrays, or anything
        ``model.fit`` takes (a ``keras.utils.PyDataset``, a ``tf.data``
        dataset, a generator).
    val_data : optional
        ``validation_data`` for both phases.
    warmup_epochs, finetune_epochs : int
        Epochs of each phase (0 skips the phase).
    unfreeze_top : int or None
        Base layers to unfreeze in phase 2, from the top; ``None``: all.
    warmup_lr, finetune_lr : float
        Adam learning rates; ``finetune_lr`` should be much lower (1e-5 to
        1e-4) so the pretrained weights move little.
    loss, metrics
        As ``model.compile`` (integer labels by default).
    callbacks : list of keras.callbacks.Callback, optional
        Used in both phases.
    **fit_kwargs
        Passed to ``model.fit`` (``batch_size``, ``class_weight``,
        ``verbose``, ...).

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
    callbacks = list(callbacks or [])
    warmup_epochs, finetune_epochs = int(warmup_epochs), int(finetune_epochs)

    freeze_backbone(base)
    model.compile(optimizer=keras.optimizers.Adam(warmup_lr), loss=loss, metrics=list(metrics))
    logger.info("warm-up: %d epochs, base frozen, lr %g", warmup_epochs, warmup_lr)
    warmup = _fit(model, train_data, val_data, epochs=warmup_epochs, callbacks=callbacks, **fit_kwargs)

    unfrozen = unfreeze_top_layers(base, unfreeze_top)
    # trainable flags are read at compile time: recompile after changing them.
    model.compile(optimizer=keras.optimizers.Adam(finetune_lr), loss=loss, metrics=list(metrics))
    logger.info(
        "fine-tuning: %d epochs, %d base layers with weights unfrozen (%s), lr %g",
        finetune_epochs, len(unfrozen), ", ".join(unfrozen[-5:]), finetune_lr,
    )
    finetune = _fit(
        model, train_data, val_data, initial_epoch=warmup_epochs,
        epochs=warmup_epochs + finetune_epochs, callbacks=callbacks, **fit_kwargs,
    )
    return warmup, finetune
