"""Package attributes that load their module on first use (PEP 562).

Several packages export names whose modules are expensive to import
(scikit-learn, h5py, Keras): ``cvtoolkit.data`` (splits), ``cvtoolkit.io``
(the HDF5 store), ``cvtoolkit.evaluate`` (plots, Grad-CAM),
``cvtoolkit.features`` (cache, extraction) and ``cvtoolkit.train``. Each
declares ``name -> module`` and gets its ``__getattr__`` and ``__dir__``
here, so ``import cvtoolkit.data`` stays cheap and ``from cvtoolkit.data
import split_dataset`` still works.

Examples
--------
>>> import types, sys
>>> pkg = types.ModuleType("demo_pkg"); sys.modules["demo_pkg"] = pkg
>>> pkg.__getattr__, pkg.__dir__ = lazy_attributes("demo_pkg", {"sqrt": "math"})
>>> pkg.sqrt(9.0), "sqrt" in dir(pkg)
(3.0, True)
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping


def lazy_attributes(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each of ``names`` is imported from its module on first use.

    The value is then stored on the package, so later lookups are plain
    attribute reads.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
