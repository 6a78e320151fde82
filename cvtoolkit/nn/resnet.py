"""A small pre-activation ResNet with bottleneck residual modules.

Recipe (He et al. 2016, "Identity Mappings in Deep Residual Networks", as in
Rosebrock, *Deep Learning for Computer Vision*, Practitioner Bundle): each
residual module is ``BN => RELU => CONV(K/4, 1x1) => BN => RELU =>
CONV(K/4, 3x3, stride) => BN => RELU => CONV(K, 1x1)``, added to the
shortcut (a strided 1x1 convolution of the first activation when the module
reduces the size or changes the width). Stage ``i`` stacks ``stages[i]``
modules of ``filters[i + 1]`` filters; every stage after the first starts
with stride 2. The input is batch-normalised, then a stem convolution of
``filters[0]`` filters (``stem="cifar"``: 3x3; ``stem="imagenet"``: 5x5,
BN, ReLU, zero padding and a 3x3 stride-2 max-pool, the Tiny ImageNet
variant). The network ends with BN => RELU => global average pool => Dense.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import keras

from cvtoolkit.nn import _common

DEFAULT_INPUT_SHAPE = (32, 32, 3)
STEMS = ("cifar", "imagenet")


def ResNet(
    input_shape: Sequence[int | None] | None = DEFAULT_INPUT_SHAPE,
    classes: int = 10,
    include_top: bool = True,
    pooling: str | None = None,
    classifier_activation: str | Callable | None = "softmax",
    name: str = "resnet",
    *,
    weights: str | os.PathLike | None = None,
    input_tensor: Any = None,
    weight_decay: float = 1e-4,
    dropout: bool | float = False,
    stages: Sequence[int] = (3, 3, 3),
    filters: Sequence[int] = (64, 16, 32, 64),
    stem: str = "cifar",
    bn_epsilon: float = 2e-5,
    bn_momentum: float = 0.9,
) -> keras.Model:
    """Build a pre-activation bottleneck ResNet.

    Parameters
    ----------
    input_shape : tuple of int, default (32, 32, 3)
        ``(height, width, channels)``; any size builds (strided layers use
        ``same`` padding). ``None`` means the default.
    classes : int, default 10
        Number of classes (used when ``include_top``).
    include_top : bool, default True
        Add global average pooling and ``Dense(classes)``. Without it the
        model ends at the final BN-ReLU feature map.
    pooling : {None, "avg", "max"}
        With ``include_top=False``: keep the 4-D feature map or pool it.
    classifier_activation : str, callable or None, default "softmax"
        Activation of the ``predictions`` layer; ``None`` returns logits.
    name : str, default "resnet"
        Model name.
    weights : path, optional
        A ``.weights.h5`` file saved from the same configuration.
    input_tensor : Keras tensor, optional
        Build on this tensor instead of a new ``keras.Input``.
    weight_decay : float, default 1e-4
        L2 factor on every kernel (the recipe's value).
    dropout : bool or float, default False
        Dropout before the classifier (not in the recipe): ``True`` is 0.5.
    stages : sequence of int, default (3, 3, 3)
        Residual modules per stage. ResNet-56 for CIFAR-10 is ``(9, 9, 9)``
        with ``filters=(64, 64, 128, 256)``.
    filters : sequence of int, default (64, 16, 32, 64)
        Stem filters, then the output width of each stage
        (``len(stages) + 1`` values; bottlenecks use a quarter of it).
    stem : {"cifar", "imagenet"}
        First layers: a 3x3 convolution, or 5x5 + max-pool for larger images.
    bn_epsilon, bn_momentum : float
        Batch-normalisation settings (the recipe's ``2e-5`` and ``0.9``).

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> ResNet((32, 32, 3), classes=10).output_shape
    (None, 10)
    >>> ResNet((32, 32, 3), include_top=False, stages=(1, 1), filters=(8, 16, 32)).output_shape
    (None, 16, 16, 32)
    """
    img_input, shape = _common.resolve_input("ResNet", input_shape, input_tensor, DEFAULT_INPUT_SHAPE)
    _common.check_head_arguments("ResNet", include_top, pooling, classes)
    head_rate, _ = _common.dropout_rates("ResNet", dropout, None, recipe_head=0.5)
    stages = [int(s) for s in stages]
    filters = [int(f) for f in filters]
    if not stages or min(stages) < 1:
        raise ValueError(f"ResNet: stages must be a non-empty list of positive ints; got {stages!r}.")
    if len(filters) != len(stages) + 1 or min(filters) < 1:
        raise ValueError(
            f"ResNet: filters needs len(stages) + 1 = {len(stages) + 1} positive values (stem, then one "
            f"per stage); got {filters!r}, e.g. stages=(3, 3, 3), filters=(64, 16, 32, 64)."
        )
    if stem not in STEMS:
        raise ValueError(f"ResNet: stem must be one of {STEMS}; got {stem!r}.")
    reg = _common.l2(weight_decay)

    def bn(x, label):
        return keras.layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum, name=label)(x)

    def relu(x, label):
        return keras.layers.Activation("relu", name=label)(x)

    def conv(x, f, size, label, strides=(1, 1)):
        return keras.layers.Conv2D(
            f, size, strides=strides, padding="same", use_bias=False, kernel_regularizer=reg, name=label
        )(x)

    def residual_module(x, f, strides, reduce, label):
        shortcut = x
        act1 = relu(bn(x, f"{label}_bn1"), f"{label}_relu1")
        y = conv(act1, max(1, f // 4), (1, 1), f"{label}_conv1")
        y = relu(bn(y, f"{label}_bn2"), f"{label}_relu2")
        y = conv(y, max(1, f // 4), (3, 3), f"{label}_conv2", strides=strides)
        y = relu(bn(y, f"{label}_bn3"), f"{label}_relu3")
        y = conv(y, f, (1, 1), f"{label}_conv3")
        if reduce:
            shortcut = conv(act1, f, (1, 1), f"{label}_shortcut", strides=strides)
        return keras.layers.Add(name=f"{label}_add")([y, shortcut])

    x = bn(img_input, "input_bn")
    if stem == "cifar":
        x = conv(x, filters[0], (3, 3), "stem_conv")
    else:
        x = conv(x, filters[0], (5, 5), "stem_conv")
        x = relu(bn(x, "stem_bn"), "stem_relu")
        x = keras.layers.ZeroPadding2D((1, 1), name="stem_pad")(x)
        x = keras.layers.MaxPooling2D((3, 3), strides=(2, 2), name="stem_pool")(x)

    for i, n_modules in enumerate(stages):
        strides = (1, 1) if i == 0 else (2, 2)
        x = residual_module(x, filters[i + 1], strides, True, f"stage{i + 1}_block1")
        for j in range(1, n_modules):
            x = residual_module(x, filters[i + 1], (1, 1), False, f"stage{i + 1}_block{j + 1}")

    x = relu(bn(x, "post_bn"), "post_relu")

    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = _common.maybe_dropout(x, head_rate, "head_dropout")
        x = _common.classifier(x, classes, classifier_activation, weight_decay)
    else:
        x = _common.feature_pooling(x, pooling)

    model = keras.Model(_common.source_inputs(img_input, input_tensor), x, name=name)
    _common.load_weights(model, weights, "ResNet")
    return model
