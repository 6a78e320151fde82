"""AlexNet with batch normalisation, as in *Deep Learning for Computer Vision*.

Recipe (Krizhevsky et al. 2012; ImageNet Bundle version with BN and dropout),
for 227x227 inputs::

    CONV(96, 11x11, stride 4) => RELU => BN => POOL(3, 2) => DROPOUT(.25)
    CONV(256, 5x5)            => RELU => BN => POOL(3, 2) => DROPOUT(.25)
    (CONV(384) => RELU => BN) x2, CONV(256) => RELU => BN => POOL(3, 2) => DROPOUT(.25)
    (DENSE(4096) => RELU => BN => DROPOUT(.5)) x2 => DENSE(classes) => SOFTMAX

Convolutions use ``same`` padding. Max-pools use the recipe's ``valid``
padding, except a pool whose input is already smaller than its 3x3 window,
which switches to ``same``: at 227x227 the network is the published one
(6x6x256 before the dense layers), and small inputs (32x32, 64x64) still
build.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import keras

from cvtoolkit.nn import _common

DEFAULT_INPUT_SHAPE = (227, 227, 3)


def AlexNet(
    input_shape: Sequence[int | None] | None = DEFAULT_INPUT_SHAPE,
    classes: int = 1000,
    include_top: bool = True,
    pooling: str | None = None,
    classifier_activation: str | Callable | None = "softmax",
    name: str = "alexnet",
    *,
    weights: str | os.PathLike | None = None,
    input_tensor: Any = None,
    weight_decay: float = 2e-4,
    batch_norm: bool = True,
    dropout: bool | float = True,
    block_dropout: float | None = None,
    filters: Sequence[int] = (96, 256, 384, 384, 256),
    units: int = 4096,
) -> keras.Model:
    """Build AlexNet (the batch-normalised variant).

    Parameters
    ----------
    input_shape : tuple of int, default (227, 227, 3)
        ``(height, width, channels)``; any size builds (see the module notes
        on pooling). ``None`` means the default.
    classes : int, default 1000
        Number of classes (used when ``include_top``).
    include_top : bool, default True
        Add the two hidden dense layers and ``Dense(classes)``. Without them
        the model ends at the last pooled feature map.
    pooling : {None, "avg", "max"}
        With ``include_top=False``: keep the 4-D feature map or pool it.
    classifier_activation : str, callable or None, default "softmax"
        Activation of the ``predictions`` layer; ``None`` returns logits.
    name : str, default "alexnet"
        Model name.
    weights : path, optional
        A ``.weights.h5`` file saved from the same configuration.
    input_tensor : Keras tensor, optional
        Build on this tensor instead of a new ``keras.Input``.
    weight_decay : float, default 2e-4
        L2 factor on every kernel (the recipe's value).
    batch_norm : bool, default True
        Batch normalisation after every convolution and hidden dense layer.
    dropout : bool or float, default True
        ``True``: the recipe's dropout (0.25 after each block, 0.5 after each
        hidden dense layer). ``False``/0: none. A float: the dense-layer rate.
    block_dropout : float, optional
        Rate after each convolution block; ``None`` follows ``dropout``.
    filters : five ints, default (96, 256, 384, 384, 256)
        Filters of the five convolutions.
    units : int, default 4096
        Width of the two hidden dense layers.

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> AlexNet(include_top=False).output_shape
    (None, 6, 6, 256)
    >>> AlexNet((32, 32, 3), classes=10, filters=(8, 8, 8, 8, 8), units=16).output_shape
    (None, 10)
    """
    img_input, shape = _common.resolve_input("AlexNet", input_shape, input_tensor, DEFAULT_INPUT_SHAPE)
    _common.check_head_arguments("AlexNet", include_top, pooling, classes)
    head_rate, block_rate = _common.dropout_rates(
        "AlexNet", dropout, block_dropout, recipe_head=0.5, recipe_block=0.25
    )
    filters = [int(f) for f in filters]
    if len(filters) != 5:
        raise ValueError(f"AlexNet: filters must list 5 convolution widths; got {filters!r}.")
    reg = _common.l2(weight_decay)

    def conv(x, f, size, strides, label):
        x = keras.layers.Conv2D(
            f, size, strides=strides, padding="same", activation="relu", kernel_regularizer=reg,
            name=f"{label}_conv",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"{label}_bn")(x)
        return x

    def pool(x, block):
        h, w = _common.spatial(x)
        padding = "same" if "same" in (_common.pool_padding(h, 3), _common.pool_padding(w, 3)) else "valid"
        x = keras.layers.MaxPooling2D((3, 3), strides=(2, 2), padding=padding, name=f"block{block}_pool")(x)
        return _common.maybe_dropout(x, block_rate, f"block{block}_dropout")

    x = conv(img_input, filters[0], (11, 11), (4, 4), "block1")
    x = pool(x, 1)
    x = conv(x, filters[1], (5, 5), (1, 1), "block2")
    x = pool(x, 2)
    x = conv(x, filters[2], (3, 3), (1, 1), "block3a")
    x = conv(x, filters[3], (3, 3), (1, 1), "block3b")
    x = conv(x, filters[4], (3, 3), (1, 1), "block3c")
    x = pool(x, 3)

    if include_top:
        _common.check_fixed_size("AlexNet", shape)
        x = keras.layers.Flatten(name="flatten")(x)
        for i in (1, 2):
            x = keras.layers.Dense(int(units), activation="relu", kernel_regularizer=reg, name=f"fc{i}")(x)
            if batch_norm:
                x = keras.layers.BatchNormalization(name=f"fc{i}_bn")(x)
            x = _common.maybe_dropout(x, head_rate, f"fc{i}_dropout")
        x = _common.classifier(x, classes, classifier_activation, weight_decay)
    else:
        x = _common.feature_pooling(x, pooling)

    model = keras.Model(_common.source_inputs(img_input, input_tensor), x, name=name)
    _common.load_weights(model, weights, "AlexNet")
    return model
