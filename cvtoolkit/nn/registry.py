"""CNN builders by name: ``build_model("minivggnet", input_shape, classes)``.

:data:`MODELS` maps each name to a builder with ``keras.applications``'
signature: a live view of :data:`cvtoolkit.nn.names.REGISTRY`, the one
:class:`cvtoolkit.registry.Registry` of CNNs. :func:`register_model` adds your
own builder under a new name, so the training and benchmark commands can use
it like a built-in one; an unknown name raises
:class:`~cvtoolkit.errors.UnknownModelError` (a ``ModelError``) listing the
known ones.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import keras

from cvtoolkit.errors import ModelError
from cvtoolkit.nn.names import REGISTRY
from cvtoolkit.registry import RegistryMapping

Builder = Callable[..., keras.Model]

MODELS: RegistryMapping = REGISTRY.as_mapping()
"""Name -> builder (a live view of :data:`cvtoolkit.nn.names.REGISTRY`). Names are lower case."""


def get_builder(name: str) -> Builder:
    """The builder registered under ``name`` (case-insensitive).

    Raises
    ------
    UnknownModelError
        (a ``ModelError`` and ``ValueError``) for an unknown name; the message lists the known ones.
    """
    return REGISTRY.get(str(name))


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


def register_model(name: str, target: Builder | str | None = None, *, overwrite: bool = False) -> Any:
    """Add a builder to :data:`MODELS` under ``name``; without ``target``, a decorator that does.

    The same shape as every cvtoolkit registry (``register(name, target, *,
    overwrite=False)``, :class:`cvtoolkit.registry.Registry`).

    The builder should follow the shared signature: ``input_shape`` (with a
    default, used by :func:`default_input_shape`), ``classes``,
    ``include_top``, ``pooling``, ``classifier_activation``, ``name``.

    Parameters
    ----------
    name : str
        Registry name (stored lower case).
    target : callable or str, optional
        The builder, or ``"module:Builder"`` imported on first use. Omitted:
        return a decorator.
    overwrite : bool, default False
        Replace an existing entry instead of raising ``ValueError``
        (:meth:`cvtoolkit.registry.Registry.register`'s keyword).

    Returns
    -------
    callable
        ``target`` when given, else the decorator.

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
    >>> register_model("tiny_mlp", TinyMLP) is TinyMLP
    True
    >>> del MODELS["tiny_mlp"]
    """
    key = str(name).lower()
    if not key:
        raise ValueError("register_model needs a non-empty name")

    def decorator(builder: Builder | str) -> Builder | str:
        if not (callable(builder) or isinstance(builder, str)):
            raise TypeError(f"register_model({name!r}) takes a callable or 'module:Builder'; got {builder!r}")
        same = key in REGISTRY and REGISTRY.entry(key).target is builder  # re-running a decorated cell
        REGISTRY.register(key, builder, overwrite=overwrite or same)
        return builder

    return decorator if target is None else decorator(target)
