"""CNN builders by name: ``build_model("minivggnet", input_shape, classes)``.

:data:`MODELS` maps each name to a builder with ``keras.applications``'
signature. :func:`register_model` adds your own builder under a new name, so
the training and benchmark commands can use it like a built-in one.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable, Sequence

import keras

from cvtoolkit.errors import ModelError
from cvtoolkit.nn.alexnet import AlexNet
from cvtoolkit.nn.lenet import LeNet
from cvtoolkit.nn.minigooglenet import MiniGoogLeNet
from cvtoolkit.nn.minivggnet import MiniVGGNet
from cvtoolkit.nn.resnet import ResNet
from cvtoolkit.nn.shallownet import ShallowNet

Builder = Callable[..., keras.Model]

MODELS: dict[str, Builder] = {
    "shallownet": ShallowNet,
    "lenet": LeNet,
    "minivggnet": MiniVGGNet,
    "alexnet": AlexNet,
    "minigooglenet": MiniGoogLeNet,
    "resnet": ResNet,
}
"""Name -> builder. Names are lower case."""


def _unknown(name: str) -> ModelError:
    close = difflib.get_close_matches(str(name).lower(), MODELS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ModelError(
        f"unknown model {name!r}; expected one of {', '.join(sorted(MODELS))}.{hint} "
        "Register your own with cvtoolkit.nn.register_model."
    )


def get_builder(name: str) -> Builder:
    """The builder registered under ``name`` (case-insensitive).

    Raises
    ------
    ModelError
        (a ``ValueError``) for an unknown name; the message lists the valid ones.
    """
    try:
        return MODELS[str(name).lower()]
    except KeyError:
        raise _unknown(name) from None


def build_model(
    name: str,
    input_shape: Sequence[int | None] | None = None,
    classes: int = 10,
    **kwargs: Any,
) -> keras.Model:
    """Build the CNN registered under ``name``.

    Parameters
    ----------
    name : str
        One of :data:`MODELS` (``shallownet``, ``lenet``, ``minivggnet``,
        ``alexnet``, ``minigooglenet``, ``resnet``) or a registered name.
    input_shape : tuple of int, optional
        ``(height, width, channels)``; ``None`` is the model's default
        (see :func:`default_input_size`).
    classes : int, default 10
        Number of classes.
    **kwargs
        Any other keyword of the builder (``include_top``, ``pooling``,
        ``weight_decay``, ``dropout``, ``batch_norm``, ...).

    Returns
    -------
    keras.Model
        Uncompiled.

    Raises
    ------
    ModelError
        Unknown name, or a keyword the builder does not take (the message
        lists the ones it does).

    Examples
    --------
    >>> model = build_model("lenet", (28, 28, 1), classes=10)
    >>> model.name, model.output_shape
    ('lenet', (None, 10))
    """
    builder = get_builder(name)
    params = inspect.signature(builder).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = sorted(k for k in kwargs if k not in params)
    if unknown and not takes_any:
        raise ModelError(
            f"model {str(name).lower()!r} does not take {', '.join(unknown)}; it takes "
            f"{', '.join(p for p in params if p not in ('input_shape', 'classes'))}."
        )
    if input_shape is not None:  # None: leave the builder's own default
        kwargs["input_shape"] = tuple(input_shape)
    return builder(classes=classes, **kwargs)


def default_input_shape(name: str) -> tuple[int, int, int]:
    """``(height, width, channels)`` the model was designed for (its default ``input_shape``).

    Examples
    --------
    >>> default_input_shape("lenet"), default_input_shape("resnet")
    ((28, 28, 1), (32, 32, 3))
    """
    builder = get_builder(name)
    param = inspect.signature(builder).parameters.get("input_shape")
    default = None if param is None else param.default
    if default is None or default is inspect.Parameter.empty or len(default) != 3:
        raise ModelError(
            f"model {str(name).lower()!r} declares no default input shape; give its builder a default "
            "input_shape=(height, width, channels), or pass the shape explicitly."
        )
    return int(default[0]), int(default[1]), int(default[2])


def default_input_size(name: str) -> tuple[int, int]:
    """``(height, width)`` the model was designed for, to resize images to.

    Examples
    --------
    >>> default_input_size("alexnet"), default_input_size("lenet")
    ((227, 227), (28, 28))
    """
    height, width, _ = default_input_shape(name)
    return height, width


def register_model(name: str, *, overwrite: bool = False) -> Callable[[Builder], Builder]:
    """Decorator that adds a builder to :data:`MODELS` under ``name``.

    The builder should follow the shared signature: ``input_shape`` (with a
    default, used by :func:`default_input_shape`), ``classes``,
    ``include_top``, ``pooling``, ``classifier_activation``, ``name``.

    Parameters
    ----------
    name : str
        Registry name (stored lower case).
    overwrite : bool, default False
        Replace an existing entry instead of raising ``ValueError``.

    Examples
    --------
    >>> import keras
    >>> @register_model("tiny_mlp")
    ... def TinyMLP(input_shape=(8, 8, 1), classes=10, include_top=True, pooling=None,
    ...             classifier_activation="softmax", name="tiny_mlp"):
    ...     inputs = keras.Input(input_shape)
    ...     x = keras.layers.Flatten()(inputs)
    ...     x = keras.layers.Dense(classes, activation=classifier_activation)(x)
    ...     return keras.Model(inputs, x, name=name)
    >>> build_model("tiny_mlp", classes=3).output_shape
    (None, 3)
    >>> del MODELS["tiny_mlp"]
    """
    key = str(name).lower()
    if not key:
        raise ValueError("register_model needs a non-empty name")

    def decorator(builder: Builder) -> Builder:
        if not callable(builder):
            raise TypeError(f"register_model({name!r}) decorates a callable; got {builder!r}")
        if key in MODELS and not overwrite and MODELS[key] is not builder:
            raise ValueError(
                f"a model named {key!r} is already registered ({MODELS[key].__name__}); "
                "pick another name or pass overwrite=True."
            )
        MODELS[key] = builder
        return builder

    return decorator
