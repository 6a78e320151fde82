"""The names of the CNNs, without importing Keras: for ``--list-methods``, ``--help`` and name checks.

:data:`REGISTRY` (a :class:`cvtoolkit.registry.Registry`) is the one CNN
registry: the built-in builders are lazy ``"module:Builder"`` targets, so
listing or checking names imports no Keras (seconds, hundreds of MiB);
:func:`cvtoolkit.nn.register_model` and :data:`cvtoolkit.nn.MODELS` (a live
mapping view) write to and read from it.

Examples
--------
>>> "shallownet" in model_names()
True
>>> is_model_name("ShallowNet"), is_model_name("hog")
(True, False)
"""

from __future__ import annotations

from cvtoolkit.errors import UnknownModelError
from cvtoolkit.registry import Registry

BUILTIN_MODELS: tuple[str, ...] = ("shallownet", "lenet", "minivggnet", "alexnet", "minigooglenet", "resnet")
"""The built-in CNN names, in :data:`cvtoolkit.nn.MODELS`' order (a test keeps the two equal)."""

REGISTRY = Registry("model", error=UnknownModelError, normalize=lambda name: str(name).lower(),
                    hint="Register your own with cvtoolkit.nn.register_model.")
"""Every CNN name -> its builder; built-in ones are ``"module:Builder"`` targets, imported (with Keras) on first use."""

_BUILDERS = {"shallownet": "ShallowNet", "lenet": "LeNet", "minivggnet": "MiniVGGNet", "alexnet": "AlexNet",
             "minigooglenet": "MiniGoogLeNet", "resnet": "ResNet"}
for _name in BUILTIN_MODELS:
    REGISTRY.register(_name, f"cvtoolkit.nn.{_name}:{_BUILDERS[_name]}")


def model_names(*, load_registry: bool = False) -> list[str]:
    """Built-in CNN names, then any registered ones (no Keras import).

    Parameters
    ----------
    load_registry : bool, default False
        Kept for compatibility: :func:`cvtoolkit.nn.register_model` writes to
        :data:`REGISTRY` itself, so every registered name is listed either way.
    """
    return REGISTRY.names()


def is_model_name(name: str) -> bool:
    """Whether ``name`` (any case) is a registered CNN."""
    return str(name) in REGISTRY
