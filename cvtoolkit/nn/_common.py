"""Pieces every builder in :mod:`cvtoolkit.nn` shares.

Input resolution and size checks, the ``include_top``/``pooling`` tail,
weight loading, L2 regularisers and dropout rates. Nothing here is a layer of
its own: models are made of built-in Keras layers only, so a saved ``.keras``
file loads back with ``keras.saving.load_model`` and no ``custom_objects``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Sequence

import keras

from cvtoolkit.errors import ModelError, one_line

POOLING_MODES = (None, "avg", "max")


def resolve_input(
    model_name: str,
    input_shape: Sequence[int | None] | None,
    input_tensor: Any,
    default_shape: tuple[int, int, int],
) -> tuple[Any, tuple[int | None, int | None, int | None]]:
    """The input tensor a builder starts from, and its ``(H, W, C)`` shape.

    ``input_shape=None`` means the builder's default. With ``input_tensor``
    (a Keras tensor, as in ``keras.applications``) its own shape wins and
    ``input_shape`` is ignored.
    """
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            f"{model_name} is built channels_last, but keras.config.image_data_format() is "
            f"{keras.config.image_data_format()!r}. Call "
            "keras.config.set_image_data_format('channels_last') before building."
        )
    if input_tensor is not None:
        if not keras.backend.is_keras_tensor(input_tensor):
            raise ValueError(
                f"{model_name}: input_tensor must be a Keras tensor (keras.Input(...) or a layer's "
                f"output); got {type(input_tensor).__name__}. Pass input_shape for plain arrays."
            )
        img_input = input_tensor
        shape = tuple(img_input.shape[1:])
    else:
        shape = tuple(default_shape) if input_shape is None else tuple(input_shape)
        img_input = None
    if len(shape) != 3:
        raise ValueError(
            f"{model_name} takes images shaped (height, width, channels); got input_shape={shape!r}. "
            "Add the channel axis, e.g. (28, 28, 1) for grey images."
        )
    for dim in shape:
        if dim is not None and int(dim) < 1:
            raise ValueError(f"{model_name}: input_shape must have positive sizes, got {shape!r}")
    shape = tuple(None if d is None else int(d) for d in shape)
    if img_input is None:
        img_input = keras.Input(shape=shape, name="image")
    return img_input, shape


def source_inputs(img_input: Any, input_tensor: Any) -> Any:
    """Inputs of the functional model, following ``input_tensor`` back to its source."""
    if input_tensor is not None:
        return keras.utils.get_source_inputs(input_tensor)
    return img_input


def check_min_size(model_name: str, shape: Sequence[int | None], min_size: int, why: str) -> None:
    """Raise ``ValueError`` when the spatial size is below ``min_size``."""
    h, w = shape[0], shape[1]
    if (h is not None and h < min_size) or (w is not None and w < min_size):
        raise ValueError(
            f"{model_name} needs inputs of at least {min_size}x{min_size} pixels ({why}); "
            f"got {h}x{w}. Resize the images (e.g. image_size={max(min_size, 32)}) "
            "or pick a model with fewer downsampling steps (shallownet)."
        )


def check_head_arguments(
    model_name: str,
    include_top: bool,
    pooling: str | None,
    classes: int,
) -> None:
    """Validate ``pooling`` and ``classes`` the way ``keras.applications`` does."""
    if pooling not in POOLING_MODES:
        raise ValueError(
            f"{model_name}: pooling must be None, 'avg' or 'max'; got {pooling!r}."
        )
    if include_top:
        if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
            raise ValueError(f"{model_name}: classes must be a positive integer; got {classes!r}.")


def check_fixed_size(model_name: str, shape: Sequence[int | None]) -> None:
    """A flattening classifier needs a known height and width."""
    if shape[0] is None or shape[1] is None:
        raise ValueError(
            f"{model_name} with include_top=True flattens the last feature map, so it needs a fixed "
            f"input size; got input_shape={tuple(shape)!r}. Give the height and width, or use "
            "include_top=False with pooling='avg'."
        )


def l2(weight_decay: float) -> keras.regularizers.Regularizer | None:
    """An L2 kernel regulariser, or ``None`` for ``weight_decay == 0``."""
    weight_decay = float(weight_decay)
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0; got {weight_decay}.")
    return keras.regularizers.L2(weight_decay) if weight_decay > 0 else None


def dropout_rates(
    model_name: str,
    dropout: bool | float,
    block_dropout: float | None,
    recipe_head: float,
    recipe_block: float = 0.0,
) -> tuple[float, float]:
    """``(head_rate, block_rate)`` from the ``dropout``/``block_dropout`` keywords.

    ``dropout=True`` keeps the recipe's rates, ``False`` (or 0) removes every
    dropout layer, a float sets the head rate. ``block_dropout=None`` follows
    ``dropout`` (recipe rate when on, 0 when off); a float overrides it.
    """
    if isinstance(dropout, bool):
        head = recipe_head if dropout else 0.0
        on = dropout
    else:
        head = float(dropout)
        on = head > 0
    block = (recipe_block if on else 0.0) if block_dropout is None else float(block_dropout)
    for label, rate in (("dropout", head), ("block_dropout", block)):
        if not 0.0 <= rate < 1.0:
            raise ValueError(
                f"{model_name}: {label} rate must be in [0, 1); got {rate}. Use True/False to keep "
                "or remove the recipe's dropout, or a rate such as 0.5."
            )
    return head, block


def maybe_dropout(x: Any, rate: float, name: str) -> Any:
    """``Dropout(rate)`` when ``rate > 0``, else ``x`` unchanged."""
    return keras.layers.Dropout(rate, name=name)(x) if rate > 0 else x


def classifier(
    x: Any,
    classes: int,
    classifier_activation: str | Callable | None,
    weight_decay: float = 0.0,
) -> Any:
    """The last ``Dense(classes)`` layer, named ``predictions``.

    It computes in float32 so a softmax stays accurate under a
    ``mixed_float16`` policy.
    """
    return keras.layers.Dense(
        classes,
        activation=classifier_activation,
        kernel_regularizer=l2(weight_decay),
        dtype="float32",
        name="predictions",
    )(x)


def feature_pooling(x: Any, pooling: str | None) -> Any:
    """The ``include_top=False`` tail: nothing, global average or global max."""
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def pool_padding(size: int | None, window: int) -> str:
    """``"valid"`` as the recipes use, ``"same"`` once the map is smaller than the window.

    A ``None`` (unknown) size keeps ``"valid"``.
    """
    return "same" if size is not None and size < window else "valid"


def spatial(x: Any) -> tuple[int | None, int | None]:
    """Height and width of a channels-last Keras tensor."""
    return x.shape[1], x.shape[2]


def load_weights(model: keras.Model, weights: str | os.PathLike | None, model_name: str) -> None:
    """Load ``weights`` (a file path) into ``model``; ``None`` keeps the random start."""
    if weights is None:
        return
    if isinstance(weights, str) and weights.lower() == "imagenet":
        raise ModelError(
            f"{model_name} has no published ImageNet weights; use weights=None to train from "
            "scratch, or a keras.applications backbone (e.g. the 'vgg16' feature extractor) "
            "for transfer learning."
        )
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise ModelError(
            f"weights file {path} does not exist; expected a .weights.h5 file saved by "
            f"model.save_weights() from the same {model_name} configuration. Check the path "
            "or use weights=None."
        )
    try:
        # Keras warns about each part it skips before raising; the error below
        # says it all, so warnings are replayed only when loading succeeds.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(path)
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    except Exception as err:  # Keras raises ValueError/KeyError for mismatches
        detail = one_line(err, 300)
        raise ModelError(
            f"cannot load weights from {path} into {model_name}: {detail} The file must come from a "
            "model built with the same input shape, classes and options."
        ) from err
