"""Audit a dataset before trusting a leaderboard: duplicates, train/test leakage, label issues, odd images.

- :func:`run_audit` (``cvtoolkit audit``): everything, as plain data
  (:class:`AuditResult`, ``to_dict()`` is ``audit.json``);
  :func:`write_audit_html` renders it.
- :func:`preflight_leakage` (``compare`` and ``fit``): the cheap part only,
  test images with an exact or near duplicate in train, optionally dropped.
- :func:`compute_hashes`, :func:`group_duplicates`,
  :func:`find_label_issues`: the pieces.

Examples
--------
>>> from cvtoolkit.data import load_dataset
>>> result = run_audit(load_dataset("digits", progress=False), label_issues=False, progress=False)
>>> result.leakage["test_size"], result.leakage["seed"]
(0.25, 42)
"""

import sys
import types

from cvtoolkit.audit.core import AuditResult, run_audit
from cvtoolkit.audit.duplicates import group_duplicates, near_pairs
from cvtoolkit.audit.hashing import NEAR_THRESHOLD, ImageHashes, compute_hashes
from cvtoolkit.audit.html import write_audit_html
from cvtoolkit.audit.label_issues import LabelIssues, find_label_issues
from cvtoolkit.audit.leakage import leakage_line, preflight_leakage, sample_names


class _CallableAudit(types.ModuleType):
    """``cvtoolkit.audit(dataset, ...)`` is :func:`cvtoolkit.audit.job.audit_data`; the package's names stay."""

    def __call__(self, dataset, **options):
        from cvtoolkit.audit.job import audit_data

        return audit_data(dataset, **options)


sys.modules[__name__].__class__ = _CallableAudit

__all__ = [
    "AuditResult", "ImageHashes", "LabelIssues", "NEAR_THRESHOLD", "compute_hashes", "find_label_issues",
    "group_duplicates", "leakage_line", "near_pairs", "preflight_leakage", "run_audit", "sample_names",
    "write_audit_html",
]
