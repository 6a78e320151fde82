"""The layout of a cvtoolkit HDF5 store, shared by the writer and the reader.

A store is one HDF5 file::

    /data         (N, *sample_shape)  uint8 images (N, H, W, C) or float32 features (N, D)
    /labels       (N,)                int64, -1 = unlabelled
    /class_names  (K,)                UTF-8 strings, in label order
    /paths        (N,)                UTF-8 strings (optional): source file of each row
    /skipped      (S, 2)              UTF-8 strings (optional): (path, reason) of files left out

with these attributes on the root group:

``kind`` (``"images"`` or ``"features"``), ``source``, ``preprocessing``,
``extractor``, ``extractor_params`` (JSON), ``cvtoolkit_version``,
``created`` (ISO 8601, UTC), ``n_rows``, ``rows_committed``, ``complete``
(true only once finalised), ``format_version``, ``json_attrs`` (JSON list of
the attribute names whose value is JSON text), plus any extra attributes the
writer was given.

While it is being written the file is called ``<path>.partial``; it is
renamed to ``<path>`` only when complete.

Examples
--------
>>> encode_attr({"C": 1.0})
'{"C": 1.0}'
>>> decode_attrs({"extractor_params": '{"C": 1.0}', "json_attrs": '["extractor_params"]'})
{'extractor_params': {'C': 1.0}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

FORMAT_VERSION = 1
"""Version of the store layout; readers refuse newer versions."""

PARTIAL_SUFFIX = ".partial"
"""Suffix of a store that is still being written (or was interrupted)."""

KINDS = ("images", "features")
"""What a store can hold."""

REQUIRED_ATTRS = ("kind", "format_version", "complete", "n_rows")
"""Root attributes every cvtoolkit store has."""

REQUIRED_DATASETS = ("data", "labels", "class_names")
"""Datasets every cvtoolkit store has."""

JSON_ATTRS_KEY = "json_attrs"
"""Attribute listing which attributes hold JSON text."""

ALWAYS_JSON = ("extractor_params",)
"""Attributes always stored as JSON text."""

BOOKKEEPING_ATTRS = (
    "kind",
    "cvtoolkit_version",
    "created",
    "n_rows",
    "rows_committed",
    "complete",
    "format_version",
    JSON_ATTRS_KEY,
)
"""Attributes the writer manages itself (not user metadata)."""


def partial_path(path: str | Path) -> Path:
    """The name a store has while it is written: ``<path>.partial``.

    Examples
    --------
    >>> partial_path("features.h5").name
    'features.h5.partial'
    """
    p = Path(path)
    return p.with_name(p.name + PARTIAL_SUFFIX)


def needs_json(value: Any) -> bool:
    """True when ``value`` cannot be an HDF5 attribute as it is (dict, list, tuple, None)."""
    return value is None or isinstance(value, (dict, list, tuple))


def encode_attr(value: Any) -> Any:
    """A value HDF5 can store as an attribute: JSON text for containers.

    NumPy scalars become Python scalars; containers become JSON text.
    """
    if isinstance(value, np.generic):
        return value.item()
    if needs_json(value):
        from cvtoolkit.io.atomic import _json_default

        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)
    return value


def plain(value: Any) -> Any:
    """An attribute as h5py returns it, made plain Python (``str``, ``int``, ``float``, ``bool``, list)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def decode_attrs(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Plain-Python attributes with the JSON ones decoded (``json_attrs`` itself dropped)."""
    attrs = {key: plain(value) for key, value in raw.items()}
    json_keys = set(ALWAYS_JSON)
    listed = attrs.pop(JSON_ATTRS_KEY, None)
    if isinstance(listed, str):
        try:
            json_keys.update(json.loads(listed))
        except ValueError:
            pass
    for key in json_keys:
        value = attrs.get(key)
        if isinstance(value, str):
            try:
                attrs[key] = json.loads(value)
            except ValueError:
                pass  # a plain string after all
    return attrs
