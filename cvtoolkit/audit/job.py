"""The workflow of ``cvtoolkit audit``: check the output folder, load, audit, write ``audit.json`` and ``audit.html``.

:func:`audit_dataset` is what the command calls (one library function, as
``fit`` calls :func:`cvtoolkit.methods.fitting.run_fit`); it prints nothing and
returns an :class:`AuditJobResult` the command prints from.

Examples
--------
>>> import tempfile, os
>>> out = os.path.join(tempfile.mkdtemp(), "audit-digits")
>>> job = audit_dataset("digits", out=out, label_issues=False, cache_dir=None, progress=False)
>>> sorted(os.listdir(out)), job.result.leakage["seed"]
(['audit.html', 'audit.json'], 42)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cvtoolkit.audit.hashing import NEAR_THRESHOLD
from cvtoolkit.errors import UsageError

__all__ = ["AuditJobResult", "audit_dataset", "label_features_for"]


@dataclass
class AuditJobResult:
    """What :func:`audit_dataset` found and wrote."""

    result: Any
    """The :class:`cvtoolkit.audit.AuditResult`."""
    data: dict
    """``audit.json``'s content."""
    files: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def label_features_for(label_features: str = "auto", weights: str | os.PathLike | None = None) -> str | None:
    """The features the label-issue model will use, known before loading (their input size decides the load size).

    ``"auto"``: the backbone of ``weights``, else of a weights file in Keras's
    cache, else None (the descriptors fallback).
    """
    if label_features != "auto":
        return label_features
    from cvtoolkit.audit.label_issues import backbone_weights_on_disk

    found = backbone_weights_on_disk(weights) if weights is not None else backbone_weights_on_disk()
    return found[0] if found else None


def audit_dataset(
    spec: str,
    *,
    out: str | os.PathLike,
    image_size: int | None = None,
    size_for: Callable[[str | None], int | None] | None = None,
    label_pattern: str | None = None,
    max_pixels: int | None = None,
    test_size: float | int | str = "auto",
    seed: int = 42,
    threshold: int | None = None,
    label_issues: bool = True,
    label_features: str = "auto",
    weights: str | os.PathLike | None = None,
    alpha: float | None = None,
    folds: int = 5,
    cache_dir: str | os.PathLike | None = "default",
    n_jobs: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_dataset: Callable[[Any], None] | None = None,
) -> AuditJobResult:
    """Audit the dataset ``spec`` and write ``audit.json`` and ``audit.html`` into ``out``.

    Parameters mirror :func:`cvtoolkit.audit.run_audit` and the command's
    flags; ``size_for(features)`` gives the load size for the label model's
    features (the command's default per descriptor or backbone), else
    ``image_size``. ``cache_dir="default"`` is the feature cache's folder
    (:func:`cvtoolkit.features.cache.default_cache_dir`), None no cache.

    Raises
    ------
    UsageError
        ``folds`` below 2 or ``threshold`` outside 0..64.
    OutputError
        ``out`` is a file, not writable, or a folder cvtoolkit did not write
        (without ``overwrite``): checked before any work.
    """
    from cvtoolkit.audit.core import run_audit
    from cvtoolkit.audit.html import write_audit_html
    from cvtoolkit.data import load_dataset
    from cvtoolkit.io import write_json_atomic
    from cvtoolkit.io.outputs import check_output_location, folder_has

    started = time.perf_counter()
    if folds < 2:
        raise UsageError(f"--folds must be at least 2, got {folds}")
    threshold = NEAR_THRESHOLD if threshold is None else threshold
    if not 0 <= threshold <= 64:
        raise UsageError(f"--threshold must be between 0 and 64 bits, got {threshold}")
    out = check_output_location(out, kind="folder", overwrite=overwrite, ours=folder_has("audit.json"),
                                what="an audit report")
    features = label_features_for(label_features, weights) if label_issues else None
    size = size_for(features) if size_for is not None else image_size
    dataset = load_dataset(spec, image_size=size, label_pattern=label_pattern, max_pixels=max_pixels,
                           progress=progress)
    if on_dataset is not None:
        on_dataset(dataset)
    if cache_dir == "default":
        from cvtoolkit.features.cache import default_cache_dir

        cache_dir = str(default_cache_dir())
    result = run_audit(
        dataset, test_size=test_size, seed=seed, threshold=threshold, label_issues=label_issues,
        label_features=label_features, weights=weights, alpha=alpha, folds=folds, cache_dir=cache_dir,
        n_jobs=n_jobs or os.cpu_count() or 1, max_pixels=max_pixels, progress=progress,
    )
    data = result.to_dict()
    out = Path(out)
    write_json_atomic(out / "audit.json", data)
    write_audit_html(result, dataset, out / "audit.html")
    return AuditJobResult(result, data, {"audit.json": str(out / "audit.json"), "audit.html": str(out / "audit.html")},
                          time.perf_counter() - started)


def audit_data(dataset: Any, *, image_size: int | None = None, out: str | os.PathLike | None = None,
               progress: bool = False, **options: Any) -> Any:
    """Audit a dataset spec or a loaded dataset from Python (``cvtoolkit.audit(...)``, ``cvtoolkit.api.audit``).

    Parameters
    ----------
    dataset : str, path or Dataset
        A dataset spec (folder, ``digits``, ``.h5``, ...) or a loaded :class:`~cvtoolkit.data.Dataset`.
    image_size : int, optional
        Load size of a spec (hashes come from the files at their own size).
    out : path, optional
        Also write ``audit.json`` and ``audit.html`` there (a spec only: :func:`audit_dataset`).
    progress : bool
        Progress bars (off by default).
    **options
        Keywords of :func:`cvtoolkit.audit.run_audit` (``test_size``, ``seed``,
        ``label_issues``, ``threshold``, ``cache_dir``, ...).

    Returns
    -------
    cvtoolkit.audit.AuditResult
        ``to_dict()`` is ``audit.json``.

    Raises
    ------
    TypeError
        ``out`` with a loaded dataset (write its report with :func:`cvtoolkit.audit.write_audit_html`).
    """
    from cvtoolkit.audit.core import run_audit
    from cvtoolkit.data import Dataset, load_dataset

    if out is not None:
        if isinstance(dataset, Dataset):
            raise TypeError("audit(out=...) writes the report of a dataset spec (a path or a name); for a "
                            "loaded Dataset, pass the result to cvtoolkit.audit.write_audit_html")
        from cvtoolkit.io.outputs import folder_has, locked_output

        with locked_output(out, kind="folder", overwrite=options.get("overwrite", False),
                           ours=folder_has("audit.json"), what="an audit report"):  # as the command does
            return audit_dataset(os.fspath(dataset), out=out, image_size=image_size, progress=progress,
                                 **options).result
    if not isinstance(dataset, Dataset):
        dataset = load_dataset(os.fspath(dataset), image_size=image_size, progress=progress)
    return run_audit(dataset, progress=progress, **options)
