"""ShallowNet: one convolution and a classifier, the smallest useful CNN.

Recipe (Rosebrock, *Deep Learning for Computer Vision*, Starter Bundle):
``CONV(32, 3x3, same) => RELU => FLATTEN => DENSE(classes) => SOFTMAX``.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import keras

from cvtoolkit.nn import _common

DEFAULT_INPUT_SHAPE = (32, 32, 3)


def ShallowNet(
    input_shape: Sequence[int | None] | None = DEFAULT_INPUT_SHAPE,
    classes: int = 10,
    include_top: bool = True,
    pooling: str | None = None,
    classifier_activation: str | Callable | None = "softmax",
    name: str = "shallownet",
    *,
    weights: str | os.PathLike | None = None,
    input_tensor: Any = None,
    weight_decay: float = 0.0,
    dropout: bool | float = False,
    filters: int = 32,
) -> keras.Model:
    """Build ShallowNet (one 3x3 convolution, then the classifier).

    Parameters
    ----------
    input_shape : tuple of int, default (32, 32, 3)
        ``(height, width, channels)``; any size of at least 1x1 builds.
        ``None`` means the default.
    classes : int, default 10
        Number of classes (used when ``include_top``).
    include_top : bool, default True
        Add the flatten + ``Dense(classes)`` classifier. Without it the model
        ends at the convolution's feature map.
    pooling : {None, "avg", "max"}
        With ``include_top=False``: keep the 4-D feature map, or pool it
        globally to a vector (as in ``keras.applications``).
    classifier_activation : str, callable or None, default "softmax"
        Activation of the ``predictions`` layer; ``None`` returns logits.
    name : str, default "shallownet"
        Model name.
    weights : path, optional
        A ``.weights.h5`` file saved from the same configuration.
    input_tensor : Keras tensor, optional
        Build on this tensor instead of a new ``keras.Input``.
    weight_decay : float, default 0.0
        L2 factor on every kernel.
    dropout : bool or float, default False
        Dropout before the classifier (not in the recipe): ``True`` is 0.5, a
        float is the rate.
    filters : int, default 32
        Filters of the convolution.

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> model = ShallowNet((16, 16, 3), classes=3)
    >>> model.output_shape
    (None, 3)
    >>> ShallowNet((16, 16, 3), include_top=False, pooling="avg").output_shape
    (None, 32)
    """
    img_input, shape = _common.resolve_input("ShallowNet", input_shape, input_tensor, DEFAULT_INPUT_SHAPE)
    _common.check_head_arguments("ShallowNet", include_top, pooling, classes)
    head_rate, _ = _common.dropout_rates("ShallowNet", dropout, None, recipe_head=0.5)
    reg = _common.l2(weight_decay)

    x = keras.layers.Conv2D(
        int(filters), (3, 3), padding="same", activation="relu", kernel_regularizer=reg, name="conv1"
    )(img_input)

    if include_top:
        _common.check_fixed_size("ShallowNet", shape)
        x = keras.layers.Flatten(name="flatten")(x)
        x = _common.maybe_dropout(x, head_rate, "head_dropout")
        x = _common.classifier(x, classes, classifier_activation, weight_decay)
    else:
        x = _common.feature_pooling(x, pooling)

    model = keras.Model(_common.source_inputs(img_input, input_tensor), x, name=name)
    _common.load_weights(model, weights, "ShallowNet")
    return model
