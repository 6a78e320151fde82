"""Exceptions that carry a message meant for the user.

The command line catches :class:`CvToolkitError`, prints its message on one
line and exits with status 2. Library code raises these (not bare
``Exception``) for problems the user can fix: a missing path, an empty
dataset, a file of the wrong kind. Each message says what happened, what was
expected and how to fix it.

Examples
--------
>>> from cvtoolkit.errors import DatasetError
>>> try:
...     raise DatasetError("datasets/pets has one class ('cat'); need at least 2. "
...                        "Add a folder per class.")
... except ValueError as err:       # DatasetError is also a ValueError
...     print(err)
datasets/pets has one class ('cat'); need at least 2. Add a folder per class.
"""

from __future__ import annotations

from typing import Any


class CvToolkitError(Exception):
    """Base class of every error whose message is written for the user."""


class DatasetError(CvToolkitError, ValueError):
    """A dataset cannot be used: missing, empty, one class, wrong layout."""


class StoreError(CvToolkitError, ValueError):
    """An HDF5 file is not a finalised cvtoolkit store of the expected kind."""


class ModelError(CvToolkitError, ValueError):
    """A model, weights file or saved pipeline cannot be built or loaded."""


class MissingDownloadError(CvToolkitError, OSError):
    """Something Keras would download is not available offline.

    The message names the file and the folder to put it in.
    """


class UsageError(CvToolkitError, ValueError):
    """A command-line option or a library argument has a value that cannot work (``--epochs 0``)."""


class ExtractArgumentError(UsageError):
    """A bad ``extract`` argument (features list, ``--set``)."""


class MethodError(CvToolkitError, ValueError):
    """A method name that names no known features, classifier or CNN."""


class UnknownNameError(CvToolkitError, ValueError):
    """A name that is not in a registry (:class:`cvtoolkit.registry.Registry`); the message lists the known ones."""


class UnknownModelError(UnknownNameError, ModelError):
    """A CNN or backbone name that is not in its registry (also a :class:`ModelError`)."""


class UnknownFeaturesError(UnknownNameError):
    """A feature name that is not in the registry, or a keyword the named features do not take."""


class SchedulerError(CvToolkitError, ValueError):
    """A ``--scheduler`` that cannot be parsed, started or reached."""


class DistributionError(CvToolkitError, RuntimeError):
    """A distribution strategy cannot be set up (wrong backend, no TF_CONFIG, devices already fixed)."""


class SubmissionError(CvToolkitError, ValueError):
    """A submission that would be rejected: wrong row count, duplicate or missing ids, bad options."""


def one_line(err: Any, limit: int | None = 300, *, ellipsis: str = "...") -> str:
    """``err``'s message (or any text) on one line, whitespace collapsed, cut to ``limit`` characters (None: whole).

    A cut text ends in ``ellipsis`` and is ``limit`` characters long with it.

    Examples
    --------
    >>> one_line(ValueError("shape mismatch:\\n  (3, 3)  vs  (5, 5)"))
    'shape mismatch: (3, 3) vs (5, 5)'
    >>> one_line("x" * 10, limit=6), one_line("x" * 10, limit=6, ellipsis="\u2026")
    ('xxx...', 'xxxxx\u2026')
    """
    text = " ".join(str(err).split())
    return text if limit is None or len(text) <= limit else text[: max(0, limit - len(ellipsis))] + ellipsis


class OutputError(CvToolkitError, OSError):
    """An output location cannot or must not be written (a file where a folder is expected, read-only,
    full, or holding something cvtoolkit did not write)."""


class UnreadableImageError(ValueError):
    """A file that cannot be decoded into an image; ``str(err)`` is the reason.

    Raised by :func:`cvtoolkit.data.image_io.read_image` (and importable from
    there). Not a :class:`CvToolkitError`: loaders catch it per file and
    skip (and name) the file, so it seldom reaches the command line.
    """


class ExportError(CvToolkitError, ValueError):
    """A model that cannot be exported to the asked format, or a missing converter."""


class FoldsError(CvToolkitError, ValueError):
    """Folds that the data cannot give (too few samples in a class, K < 2, ...)."""


class LearningCurveError(CvToolkitError, ValueError):
    """Fractions that are not numbers in (0, 1], or rows that were not run."""


class TrackingError(CvToolkitError, ValueError):
    """Tracking was asked for but cannot be done (unknown tracker, MLflow missing)."""


class MemoryBudgetError(CvToolkitError, ValueError):
    """A setting needs more memory than the machine has (estimated before allocating; :mod:`cvtoolkit.memory`)."""
