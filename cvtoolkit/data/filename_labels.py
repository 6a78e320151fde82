"""Datasets whose labels are in the file names, and unlabelled test folders.

Kaggle's Dogs vs. Cats keeps ``train/cat.0.jpg``, ``train/dog.7.jpg`` in one
folder: a regular expression's first group is the class. Its ``test1/``
folder holds ``1.jpg .. N.jpg`` with no labels: ids come from the file names,
in numeric order.

Examples
--------
>>> import re
>>> label_from_name("cat.12.jpg", re.compile(r"^(cat|dog)\\."))
'cat'
>>> sorted(["10.jpg", "2.jpg", "1.jpg"], key=numeric_id_key)
['1.jpg', '2.jpg', '10.jpg']
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np

from cvtoolkit.data.dataset import SkippedFile
from cvtoolkit.data.folder import FolderListing, _walk_files
from cvtoolkit.data.image_io import is_image_file
from cvtoolkit.errors import DatasetError

logger = logging.getLogger(__name__)


def label_from_name(name: str, pattern: re.Pattern) -> str | None:
    """The class a file name encodes (first group, else the whole match), or None.

    Raises
    ------
    DatasetError
        The pattern matches ``name`` but its first group (the label) takes
        no part in the match, as in ``'(cat)|(dog)'`` on ``dog.1.jpg``.

    Examples
    --------
    >>> label_from_name("dog.7.jpg", re.compile(r"^(cat|dog)\\.")), label_from_name("x.jpg", re.compile("cat"))
    ('dog', None)
    """
    m = pattern.search(name)
    if not m:
        return None
    if not m.groups():
        return m.group(0)
    if m.group(1) is None:
        raise DatasetError(
            f"--label-pattern '{pattern.pattern}' matches {name!r} but its first group, which is the label, takes "
            f"no part in that match (group {m.lastindex} does). Put the alternatives in one group, e.g. "
            "'^(cat|dog)\\.', and make other groups non-capturing: (?:...)."
        )
    return m.group(1)


def numeric_id_key(name: str) -> tuple:
    """Sort key: the file stem as a number when it is one, else the name."""
    stem = Path(name).stem
    return (0, int(stem), "") if stem.isdigit() else (1, 0, stem)


def list_by_filename(root: str | os.PathLike, label_pattern: str) -> FolderListing:
    """List image files under ``root`` labelled by a regular expression on the file name.

    Files that do not match are skipped and counted (named in the warning
    log). Classes are the sorted distinct labels.

    Raises
    ------
    DatasetError
        ``root`` is not a folder, the pattern is not a regular expression,
        matches none of the image file names, or matches one without its
        first group (see :func:`label_from_name`).
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise DatasetError(f"{root}: no such folder.")
    try:
        pattern = re.compile(label_pattern)
    except re.error as err:
        raise DatasetError(f"--label-pattern {label_pattern!r} is not a valid regular expression: {err}") from err
    found: list[tuple[str, str]] = []
    skipped: list[SkippedFile] = []
    for f in _walk_files(root_path, skipped):
        if not is_image_file(f):
            skipped.append(SkippedFile(str(f), "not an image file extension"))
            continue
        label = label_from_name(f.name, pattern)
        if label is None:
            skipped.append(SkippedFile(str(f), f"file name does not match {label_pattern!r}"))
            continue
        found.append((str(f), label))
    n_images = sum(1 for s in skipped if s.reason.startswith("file name does not match"))
    if not found and n_images:
        example = next((Path(s.path).name for s in skipped if s.reason.startswith("file name does not match")), "")
        raise DatasetError(
            f"{root}: --label-pattern '{label_pattern}' matched none of the {n_images} image file names"
            + (f" (e.g. {example!r})" if example else "")
            + ". Its first group is the class, searched in each file name, e.g. '^(cat|dog)\\.' for cat.1.jpg."
        )
    for s in skipped:
        logger.warning("skipped %s", s)
    class_names = sorted({label for _, label in found})
    index = {c: i for i, c in enumerate(class_names)}
    return FolderListing(
        str(root),
        [p for p, _ in found],
        np.asarray([index[label] for _, label in found], np.int64),
        class_names,
        skipped,
    )


def list_unlabelled(root: str | os.PathLike) -> tuple[list[str], list]:
    """Image files of an unlabelled folder and their ids, in numeric id order.

    The id of ``test1/17.jpg`` is the integer 17; a non-numeric stem is kept
    as a string id.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise DatasetError(f"{root}: no such folder.")
    files = sorted((f for f in _walk_files(root_path) if is_image_file(f)), key=lambda f: numeric_id_key(f.name))
    if not files:
        raise DatasetError(f"{root}: no image files found.")
    ids = [int(f.stem) if f.stem.isdigit() else f.stem for f in files]
    return [str(f) for f in files], ids
