"""LeNet: two convolution + max-pool blocks and a 500-unit hidden layer.

Recipe (LeCun et al. 1998, as in Rosebrock, *Deep Learning for Computer
Vision*, Starter Bundle): ``CONV(20, 5x5) => RELU => POOL(2) =>
CONV(50, 5x5) => RELU => POOL(2) => DENSE(500) => RELU => DENSE(classes) =>
SOFTMAX``, convolutions with ``same`` padding (28x28 MNIST digits by default).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import keras

from cvtoolkit.nn import _common

DEFAULT_INPUT_SHAPE = (28, 28, 1)
MIN_SIZE = 4


def LeNet(
    input_shape: Sequence[int | None] | None = DEFAULT_INPUT_SHAPE,
    classes: int = 10,
    include_top: bool = True,
    pooling: str | None = None,
    classifier_activation: str | Callable | None = "softmax",
    name: str = "lenet",
    *,
    weights: str | os.PathLike | None = None,
    input_tensor: Any = None,
    weight_decay: float = 0.0,
    dropout: bool | float = False,
    filters: Sequence[int] = (20, 50),
    units: int = 500,
) -> keras.Model:
    """Build LeNet.

    Parameters
    ----------
    input_shape : tuple of int, default (28, 28, 1)
        ``(height, width, channels)``, at least 4x4 (two 2x2 max-pools).
        ``None`` means the default.
    classes : int, default 10
        Number of classes (used when ``include_top``).
    include_top : bool, default True
        Add flatten + ``Dense(units)`` + ``Dense(classes)``. Without it the
        model ends at the second pooled feature map.
    pooling : {None, "avg", "max"}
        With ``include_top=False``: keep the 4-D feature map or pool it.
    classifier_activation : str, callable or None, default "softmax"
        Activation of the ``predictions`` layer; ``None`` returns logits.
    name : str, default "lenet"
        Model name.
    weights : path, optional
        A ``.weights.h5`` file saved from the same configuration.
    input_tensor : Keras tensor, optional
        Build on this tensor instead of a new ``keras.Input``.
    weight_decay : float, default 0.0
        L2 factor on every kernel.
    dropout : bool or float, default False
        Dropout after the hidden dense layer (not in the recipe): ``True`` is
        0.5, a float is the rate.
    filters : pair of int, default (20, 50)
        Filters of the two convolutions.
    units : int, default 500
        Width of the hidden dense layer.

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> LeNet((28, 28, 1), classes=10).count_params()
    1256080
    >>> LeNet((8, 8, 3), include_top=False).output_shape
    (None, 2, 2, 50)
    """
    img_input, shape = _common.resolve_input("LeNet", input_shape, input_tensor, DEFAULT_INPUT_SHAPE)
    _common.check_head_arguments("LeNet", include_top, pooling, classes)
    _common.check_min_size("LeNet", shape, MIN_SIZE, "two 2x2 max-pools")
    head_rate, _ = _common.dropout_rates("LeNet", dropout, None, recipe_head=0.5)
    reg = _common.l2(weight_decay)
    f1, f2 = (int(f) for f in filters)

    x = img_input
    for i, f in enumerate((f1, f2), start=1):
        x = keras.layers.Conv2D(
            f, (5, 5), padding="same", activation="relu", kernel_regularizer=reg, name=f"conv{i}"
        )(x)
        x = keras.layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"pool{i}")(x)

    if include_top:
        _common.check_fixed_size("LeNet", shape)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(int(units), activation="relu", kernel_regularizer=reg, name="fc1")(x)
        x = _common.maybe_dropout(x, head_rate, "head_dropout")
        x = _common.classifier(x, classes, classifier_activation, weight_decay)
    else:
        x = _common.feature_pooling(x, pooling)

    model = keras.Model(_common.source_inputs(img_input, input_tensor), x, name=name)
    _common.load_weights(model, weights, "LeNet")
    return model
