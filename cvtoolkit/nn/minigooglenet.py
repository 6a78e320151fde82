"""MiniGoogLeNet: Inception modules for 32x32 images (Zhang et al. 2017).

Recipe (Rosebrock, *Deep Learning for Computer Vision*, Practitioner Bundle),
built from three modules:

- conv module: ``CONV(K, kxk) => BN => RELU``;
- inception module: a 1x1 and a 3x3 conv module side by side, concatenated;
- downsample module: a 3x3 stride-2 ``valid`` conv module beside a 3x3
  stride-2 max-pool, concatenated.

Network: conv(96, 3x3) => inception(32, 32), inception(32, 48) => downsample(80)
=> inception(112, 48), (96, 64), (80, 80), (48, 96) => downsample(96)
=> inception(176, 160) x2 => global average pool => dropout(.5) =>
DENSE(classes) => SOFTMAX. (The book's 7x7 average pool is the global pool at
32x32; the global pool lets other sizes work too.)
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import keras

from cvtoolkit.nn import _common

DEFAULT_INPUT_SHAPE = (32, 32, 3)
MIN_SIZE = 7


def MiniGoogLeNet(
    input_shape: Sequence[int | None] | None = DEFAULT_INPUT_SHAPE,
    classes: int = 10,
    include_top: bool = True,
    pooling: str | None = None,
    classifier_activation: str | Callable | None = "softmax",
    name: str = "minigooglenet",
    *,
    weights: str | os.PathLike | None = None,
    input_tensor: Any = None,
    weight_decay: float = 0.0,
    dropout: bool | float = True,
    width: float = 1.0,
) -> keras.Model:
    """Build MiniGoogLeNet.

    Parameters
    ----------
    input_shape : tuple of int, default (32, 32, 3)
        ``(height, width, channels)``, at least 7x7 (two ``valid`` 3x3
        stride-2 downsamples). ``None`` means the default.
    classes : int, default 10
        Number of classes (used when ``include_top``).
    include_top : bool, default True
        Add global average pooling, dropout and ``Dense(classes)``. Without it
        the model ends at the last inception module's feature map.
    pooling : {None, "avg", "max"}
        With ``include_top=False``: keep the 4-D feature map or pool it.
    classifier_activation : str, callable or None, default "softmax"
        Activation of the ``predictions`` layer; ``None`` returns logits.
    name : str, default "minigooglenet"
        Model name.
    weights : path, optional
        A ``.weights.h5`` file saved from the same configuration.
    input_tensor : Keras tensor, optional
        Build on this tensor instead of a new ``keras.Input``.
    weight_decay : float, default 0.0
        L2 factor on every kernel (the recipe has none).
    dropout : bool or float, default True
        Dropout before the classifier: ``True`` is the recipe's 0.5,
        ``False``/0 none, a float the rate.
    width : float, default 1.0
        Multiplier on every module's filter count (rounded, at least 1);
        0.25 gives a network 16 times cheaper for quick experiments.

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> MiniGoogLeNet().count_params()
    1656250
    >>> MiniGoogLeNet(include_top=False).output_shape
    (None, 7, 7, 336)
    """
    img_input, shape = _common.resolve_input("MiniGoogLeNet", input_shape, input_tensor, DEFAULT_INPUT_SHAPE)
    _common.check_head_arguments("MiniGoogLeNet", include_top, pooling, classes)
    _common.check_min_size("MiniGoogLeNet", shape, MIN_SIZE, "two valid 3x3 stride-2 downsamples")
    head_rate, _ = _common.dropout_rates("MiniGoogLeNet", dropout, None, recipe_head=0.5)
    if float(width) <= 0:
        raise ValueError(f"MiniGoogLeNet: width must be positive; got {width!r}.")
    reg = _common.l2(weight_decay)

    def k(n: int) -> int:
        return max(1, int(round(n * float(width))))

    def conv_module(x, filters, size, strides, label, padding="same"):
        x = keras.layers.Conv2D(
            k(filters), size, strides=strides, padding=padding, kernel_regularizer=reg, name=f"{label}_conv"
        )(x)
        x = keras.layers.BatchNormalization(name=f"{label}_bn")(x)
        return keras.layers.Activation("relu", name=f"{label}_relu")(x)

    def inception_module(x, n1x1, n3x3, label):
        a = conv_module(x, n1x1, (1, 1), (1, 1), f"{label}_1x1")
        b = conv_module(x, n3x3, (3, 3), (1, 1), f"{label}_3x3")
        return keras.layers.Concatenate(axis=-1, name=f"{label}_concat")([a, b])

    def downsample_module(x, filters, label):
        a = conv_module(x, filters, (3, 3), (2, 2), f"{label}_3x3", padding="valid")
        b = keras.layers.MaxPooling2D((3, 3), strides=(2, 2), name=f"{label}_pool")(x)
        return keras.layers.Concatenate(axis=-1, name=f"{label}_concat")([a, b])

    x = conv_module(img_input, 96, (3, 3), (1, 1), "stem")
    x = inception_module(x, 32, 32, "inception1a")
    x = inception_module(x, 32, 48, "inception1b")
    x = downsample_module(x, 80, "downsample1")
    for label, (a, b) in zip("abcd", [(112, 48), (96, 64), (80, 80), (48, 96)]):
        x = inception_module(x, a, b, f"inception2{label}")
    x = downsample_module(x, 96, "downsample2")
    x = inception_module(x, 176, 160, "inception3a")
    x = inception_module(x, 176, 160, "inception3b")

    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = _common.maybe_dropout(x, head_rate, "head_dropout")
        x = _common.classifier(x, classes, classifier_activation, weight_decay)
    else:
        x = _common.feature_pooling(x, pooling)

    model = keras.Model(_common.source_inputs(img_input, input_tensor), x, name=name)
    _common.load_weights(model, weights, "MiniGoogLeNet")
    return model
