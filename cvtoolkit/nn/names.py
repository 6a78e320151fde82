"""The names of the CNNs, without importing Keras: for ``--list-methods``, ``--help`` and name checks.

:data:`cvtoolkit.nn.MODELS` maps the same names to their builders but
importing it imports Keras and its backend (seconds, hundreds of MiB).
:func:`model_names` answers from this module's list, plus the names
:func:`cvtoolkit.nn.register_model` added if the registry is already loaded.

Examples
--------
>>> "shallownet" in model_names()
True
>>> is_model_name("ShallowNet"), is_model_name("hog")
(True, False)
"""

from __future__ import annotations

import sys

BUILTIN_MODELS: tuple[str, ...] = ("shallownet", "lenet", "minivggnet", "alexnet", "minigooglenet", "resnet")
"""The built-in CNN names, in :data:`cvtoolkit.nn.MODELS`' order (a test keeps the two equal)."""


def model_names(*, load_registry: bool = False) -> list[str]:
    """Built-in CNN names, then any registered ones.

    Parameters
    ----------
    load_registry : bool, default False
        Import :mod:`cvtoolkit.nn.registry` (and Keras) to include names
        registered since; otherwise only a registry already imported is read.
    """
    names = list(BUILTIN_MODELS)
    registry = sys.modules.get("cvtoolkit.nn.registry")
    if registry is None and load_registry:
        import cvtoolkit.nn.registry as registry  # noqa: PLC0415 - imports Keras
    if registry is not None:
        names += [n for n in registry.MODELS if n not in names]
    return names


def is_model_name(name: str) -> bool:
    """Whether ``name`` (any case) is a CNN; imports the registry only for a name that is not built in."""
    key = str(name).lower()
    return key in BUILTIN_MODELS or key in model_names(load_registry=True)
