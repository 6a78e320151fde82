"""MiniVGGNet: two VGG blocks (two 3x3 convolutions each) for small images.

Recipe (Rosebrock, *Deep Learning for Computer Vision*, Starter Bundle):
``(CONV(32) => RELU => BN) x2 => POOL => DROPOUT(.25) =>
(CONV(64) => RELU => BN) x2 => POOL => DROPOUT(.25) =>
DENSE(512) => RELU => BN => DROPOUT(.5) => DENSE(classes) => SOFTMAX``,
all convolutions 3x3 with ``same`` padding (32x32 CIFAR-10 by default).
Batch normalisation and dropout can each be switched off to reproduce the
book's ablation.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import keras

from cvtoolkit.nn import _common

DEFAULT_INPUT_SHAPE = (32, 32, 3)
MIN_SIZE = 4


def MiniVGGNet(
    input_shape: Sequence[int | None] | None = DEFAULT_INPUT_SHAPE,
    classes: int = 10,
    include_top: bool = True,
    pooling: str | None = None,
    classifier_activation: str | Callable | None = "softmax",
    name: str = "minivggnet",
    *,
    weights: str | os.PathLike | None = None,
    input_tensor: Any = None,
    weight_decay: float = 0.0,
    batch_norm: bool = True,
    dropout: bool | float = True,
    block_dropout: float | None = None,
    filters: Sequence[int] = (32, 64),
    units: int = 512,
) -> keras.Model:
    """Build MiniVGGNet.

    Parameters
    ----------
    input_shape : tuple of int, default (32, 32, 3)
        ``(height, width, channels)``, at least 4x4 (two 2x2 max-pools).
        ``None`` means the default.
    classes : int, default 10
        Number of classes (used when ``include_top``).
    include_top : bool, default True
        Add flatten + ``Dense(units)`` + ``Dense(classes)``. Without it the
        model ends at the second block's (pooled) feature map.
    pooling : {None, "avg", "max"}
        With ``include_top=False``: keep the 4-D feature map or pool it.
    classifier_activation : str, callable or None, default "softmax"
        Activation of the ``predictions`` layer; ``None`` returns logits.
    name : str, default "minivggnet"
        Model name.
    weights : path, optional
        A ``.weights.h5`` file saved from the same configuration.
    input_tensor : Keras tensor, optional
        Build on this tensor instead of a new ``keras.Input``.
    weight_decay : float, default 0.0
        L2 factor on every kernel.
    batch_norm : bool, default True
        Batch normalisation after every convolution and the hidden dense layer.
    dropout : bool or float, default True
        ``True``: the recipe's dropout (0.25 after each block, 0.5 before the
        classifier). ``False``/0: no dropout at all. A float: the head rate.
    block_dropout : float, optional
        Rate after each block; ``None`` follows ``dropout`` (0.25 or 0).
    filters : pair of int, default (32, 64)
        Filters of the convolutions of block 1 and block 2.
    units : int, default 512
        Width of the hidden dense layer.

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> MiniVGGNet((32, 32, 3), classes=10).output_shape
    (None, 10)
    >>> plain = MiniVGGNet((32, 32, 3), batch_norm=False, dropout=False)
    >>> any("bn" in layer.name or "dropout" in layer.name for layer in plain.layers)
    False
    """
    img_input, shape = _common.resolve_input("MiniVGGNet", input_shape, input_tensor, DEFAULT_INPUT_SHAPE)
    _common.check_head_arguments("MiniVGGNet", include_top, pooling, classes)
    _common.check_min_size("MiniVGGNet", shape, MIN_SIZE, "two 2x2 max-pools")
    head_rate, block_rate = _common.dropout_rates(
        "MiniVGGNet", dropout, block_dropout, recipe_head=0.5, recipe_block=0.25
    )
    reg = _common.l2(weight_decay)

    x = img_input
    for b, f in enumerate(filters, start=1):
        for c in (1, 2):
            x = keras.layers.Conv2D(
                int(f), (3, 3), padding="same", activation="relu", kernel_regularizer=reg,
                name=f"block{b}_conv{c}",
            )(x)
            if batch_norm:
                x = keras.layers.BatchNormalization(name=f"block{b}_bn{c}")(x)
        x = keras.layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{b}_pool")(x)
        x = _common.maybe_dropout(x, block_rate, f"block{b}_dropout")

    if include_top:
        _common.check_fixed_size("MiniVGGNet", shape)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(int(units), activation="relu", kernel_regularizer=reg, name="fc1")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name="fc1_bn")(x)
        x = _common.maybe_dropout(x, head_rate, "head_dropout")
        x = _common.classifier(x, classes, classifier_activation, weight_decay)
    else:
        x = _common.feature_pooling(x, pooling)

    model = keras.Model(_common.source_inputs(img_input, input_tensor), x, name=name)
    _common.load_weights(model, weights, "MiniVGGNet")
    return model
