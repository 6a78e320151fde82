"""One small registry class for everything cvtoolkit builds by name.

A :class:`Registry` maps names to factories (callables, or
``"module:attribute"`` strings imported on first use, so that a name whose
module needs a missing or heavy dependency costs nothing until it is used).
Registering a taken name needs ``overwrite=True``; an unknown name raises
:class:`~cvtoolkit.errors.UnknownNameError` (or the subclass the registry was
made with) listing the known names and the closest one.

The one registry class of cvtoolkit, used by the feature descriptors
(:data:`cvtoolkit.features.registry.REGISTRY`), the classifiers
(``cvtoolkit.classifiers.registry.REGISTRY``), the CNNs
(``cvtoolkit.nn.names.REGISTRY``, Keras-free), the ImageNet backbones
(``cvtoolkit.transfer.backbones.REGISTRY``) and the learning-rate schedules
(``cvtoolkit.train.schedules.factory.REGISTRY``).

Examples
--------
>>> colours = Registry("colour")
>>> colours.register("red", lambda: (255, 0, 0), description="pure red")
>>> colours.get("red")()
(255, 0, 0)
>>> colours.names(), "red" in colours, colours.describe("red")
(['red'], True, 'pure red')
>>> colours.get("redd")
Traceback (most recent call last):
...
cvtoolkit.errors.UnknownNameError: unknown colour 'redd'; known: red. Did you mean 'red'?
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from dataclasses import dataclass, field
from collections.abc import MutableMapping
from typing import Any, Callable, Iterator

from cvtoolkit.errors import UnknownNameError


@dataclass(frozen=True)
class Entry:
    """One registered name: its factory (or ``"module:attribute"``), a one-line description and free metadata."""

    name: str
    target: Callable[..., Any] | str
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


class Registry:
    """Names to factories, with lazy ``"module:attribute"`` targets, aliases and clear errors.

    Parameters
    ----------
    kind : str
        What the names name, for messages (``"features"``, ``"learning-rate schedule"``).
    error : type of Exception
        Raised for an unknown name or an entry whose module cannot be
        imported; :class:`~cvtoolkit.errors.UnknownNameError` or a subclass.
    normalize : callable, optional
        Applied to every name looked up or registered (e.g. ``str.lower``).
    hint : str, optional
        A sentence added to the unknown-name message (how to register one's own).
    """

    def __init__(self, kind: str, *, error: type[Exception] = UnknownNameError,
                 normalize: Callable[[str], str] | None = None, hint: str = "") -> None:
        self.kind = kind
        self.error = error
        self.hint = hint
        self._normalize = normalize or (lambda name: name)
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}

    # ---- registering
    def register(self, name: str, target: Callable[..., Any] | str, *, description: str = "",
                 aliases: tuple[str, ...] = (), overwrite: bool = False, **metadata: Any) -> None:
        """Add ``name`` (and its ``aliases``); ``overwrite=True`` to replace a registered name.

        The description defaults to the first line of the factory's docstring.
        """
        key = self._normalize(name)
        if (key in self._entries or key in self._aliases) and not overwrite:
            raise ValueError(f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it")
        if not description and (inspect.isfunction(target) or inspect.isclass(target)):
            description = (inspect.getdoc(target) or name).splitlines()[0]
        self._aliases.pop(key, None)
        self._entries[key] = Entry(key, target, description or name, dict(metadata))
        for alias in aliases:
            self._aliases[self._normalize(alias)] = key

    def unregister(self, name: str) -> None:
        """Remove ``name`` and its aliases (no error if absent)."""
        key = self._normalize(name)
        self._entries.pop(key, None)
        for alias in [a for a, k in self._aliases.items() if k == key]:
            del self._aliases[alias]

    # ---- looking up
    def names(self) -> list[str]:
        """Registered names (not aliases), in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = self._normalize(name)
        return key in self._entries or key in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, name: str) -> Entry:
        """The :class:`Entry` of ``name`` or of the name it is an alias of."""
        key = self._normalize(str(name))
        key = self._aliases.get(key, key)
        try:
            return self._entries[key]
        except KeyError:
            close = difflib.get_close_matches(key, [*self._entries, *self._aliases], n=1)
            hint = f" Did you mean {self._aliases.get(close[0], close[0])!r}?" if close else ""
            hint += f" {self.hint}" if self.hint else ""
            raise self.error(f"unknown {self.kind} {name!r}; known: {', '.join(self._entries)}.{hint}") from None

    def get(self, name: str) -> Callable[..., Any]:
        """The factory of ``name``, importing its module first for a ``"module:attribute"`` target."""
        entry = self.entry(name)
        if not isinstance(entry.target, str):
            return entry.target
        module_name, _, attr = entry.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise self.error(
                f"{self.kind} {entry.name!r} need module {module_name}, which cannot be imported ({err}). "
                "Install the missing dependency or choose another name."
            ) from err
        try:
            return getattr(module, attr)
        except AttributeError:
            raise self.error(
                f"{self.kind} {entry.name!r}: {module_name} has no {attr}; the installed cvtoolkit is incomplete."
            ) from None

    def describe(self, name: str) -> str:
        """The one-line description of ``name``."""
        return self.entry(name).description

    def as_mapping(self) -> RegistryMapping:
        """A live ``dict``-like view, name -> factory (what the older ``MODELS``/``BACKBONES`` dicts were)."""
        return RegistryMapping(self)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()!r})"


class RegistryMapping(MutableMapping):
    """A live mapping view of a :class:`Registry`: ``view[name]`` is ``registry.get(name)``.

    Setting a key registers it (``overwrite=True``), deleting one unregisters
    it; iteration, ``len`` and ``in`` read the registry without importing any
    lazy target.

    Examples
    --------
    >>> shapes = Registry("shape", normalize=str.lower)
    >>> view = shapes.as_mapping()
    >>> view["Square"] = lambda side: side * side
    >>> list(view), view["square"](3), "SQUARE" in view
    (['square'], 9, True)
    >>> del view["square"]; len(shapes)
    0
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __getitem__(self, name: str) -> Any:
        if name not in self.registry:
            raise KeyError(name)
        return self.registry.get(name)

    def __setitem__(self, name: str, target: Any) -> None:
        self.registry.register(name, target, overwrite=True)

    def __delitem__(self, name: str) -> None:
        if name not in self.registry:
            raise KeyError(name)
        self.registry.unregister(name)

    def __contains__(self, name: object) -> bool:
        return name in self.registry

    def __iter__(self) -> Iterator[str]:
        return iter(self.registry.names())

    def __len__(self) -> int:
        return len(self.registry)

    def __repr__(self) -> str:
        return f"{{{', '.join(repr(n) for n in self.registry.names())}}} (a view of {self.registry!r})"
