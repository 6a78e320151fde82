"""Keras's home folder (``$KERAS_HOME``, default ``~/.keras``), found without importing Keras.

The one place that knows the rule: Keras datasets live in ``keras_home() /
"datasets"`` (:mod:`cvtoolkit.data.arrays`), application weights in
``keras_home() / "models"`` (:mod:`cvtoolkit.transfer.weights_files`,
:mod:`cvtoolkit.transfer.backbones`, :mod:`cvtoolkit.audit.label_issues`).

Examples
--------
>>> import os
>>> keras_home({"KERAS_HOME": "/data/keras"}).as_posix()
'/data/keras'
>>> keras_home({}).name
'.keras'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

__all__ = ["keras_home"]


def keras_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$KERAS_HOME`` (``~`` expanded) when set, else ``~/.keras``: what Keras reads when it is imported.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read (default ``os.environ``, read at each call,
        so a changed ``KERAS_HOME`` is seen).

    Returns
    -------
    pathlib.Path
        The folder; it need not exist.

    Examples
    --------
    >>> keras_home({"KERAS_HOME": "~/k"}) == Path("~/k").expanduser()
    True
    """
    env = os.environ if environ is None else environ
    home = env.get("KERAS_HOME") or os.path.join("~", ".keras")
    return Path(os.path.expanduser(home))
