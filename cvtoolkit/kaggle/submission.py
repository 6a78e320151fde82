"""Write Kaggle submissions in the common formats, after checking them.

Formats:

- ``label``: ``id,label`` with the predicted class name;
- ``proba``: ``id`` then one column per class (probabilities);
- ``binary-proba``: ``id,label`` where label is the probability of the
  ``positive`` class (Dogs vs. Cats), optionally clipped to
  ``[clip, 1 - clip]`` for log-loss competitions;
- ``digit-recognizer``: ``ImageId,Label`` with 1-based ids and the digit.

Examples
--------
>>> import numpy as np
>>> rows = submission_rows([1, 2], np.array([[0.9, 0.1], [0.2, 0.8]]), ["cat", "dog"],
...                        fmt="binary-proba", positive="dog", clip=0.05)
>>> rows
[['id', 'label'], ['1', '0.1'], ['2', '0.8']]
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from cvtoolkit.errors import SubmissionError  # noqa: F401  (defined in cvtoolkit.errors; importable here as before)

SUBMISSION_FORMATS = ("label", "proba", "binary-proba", "digit-recognizer")


def check_ids(ids: Sequence, n_rows: int, *, expected: Sequence | None = None) -> None:
    """Raise :class:`SubmissionError` unless ids are unique, one per row, and (if given) exactly ``expected``."""
    if len(ids) != n_rows:
        raise SubmissionError(f"{len(ids)} ids for {n_rows} prediction rows; they must match one to one.")
    seen, dupes = set(), []
    for i in ids:
        if i in seen:
            dupes.append(i)
        seen.add(i)
    if dupes:
        raise SubmissionError(f"duplicate ids in the submission: {dupes[:10]}{' ...' if len(dupes) > 10 else ''}")
    if expected is not None:
        missing = [i for i in expected if i not in seen]
        extra = [i for i in ids if i not in set(expected)]
        if missing or extra:
            raise SubmissionError(
                f"ids incomplete: {len(missing)} missing (e.g. {missing[:5]}), {len(extra)} unexpected (e.g. {extra[:5]})."
            )


def _fmt(p: float) -> str:
    return f"{p:.6g}"


def submission_rows(
    ids: Sequence,
    proba: np.ndarray,
    class_names: Sequence[str],
    *,
    fmt: str = "label",
    positive: str | None = None,
    clip: float | None = None,
) -> list[list[str]]:
    """The CSV rows (header first) of a submission."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != len(class_names):
        raise SubmissionError(f"probabilities of shape {proba.shape} do not match {len(class_names)} classes.")
    check_ids(list(ids), len(proba))
    if clip is not None and not 0.0 <= clip < 0.5:
        raise SubmissionError(f"--clip must be in [0, 0.5), got {clip}.")
    if fmt == "label":
        pred = np.argmax(proba, axis=1)
        return [["id", "label"]] + [[str(i), str(class_names[k])] for i, k in zip(ids, pred)]
    if fmt == "proba":
        p = np.clip(proba, clip, 1 - clip) if clip else proba
        return [["id", *map(str, class_names)]] + [[str(i), *map(_fmt, row)] for i, row in zip(ids, p)]
    if fmt == "binary-proba":
        if len(class_names) != 2:
            raise SubmissionError(f"binary-proba needs 2 classes; the model has {len(class_names)}: {list(class_names)}.")
        if positive is None:
            raise SubmissionError(f"binary-proba needs --positive, one of {list(class_names)}.")
        if positive not in class_names:
            raise SubmissionError(f"--positive {positive!r} is not a class; classes: {list(class_names)}.")
        p = proba[:, list(class_names).index(positive)]
        if clip:
            p = np.clip(p, clip, 1 - clip)
        return [["id", "label"]] + [[str(i), _fmt(v)] for i, v in zip(ids, p)]
    if fmt == "digit-recognizer":
        pred = np.argmax(proba, axis=1)
        return [["ImageId", "Label"]] + [[str(i), str(class_names[k])] for i, k in zip(ids, pred)]
    raise SubmissionError(f"unknown submission format {fmt!r}; formats: {', '.join(SUBMISSION_FORMATS)}.")


def write_submission(path: str | os.PathLike, ids: Sequence, proba: np.ndarray, class_names: Sequence[str],
                     *, fmt: str = "label", positive: str | None = None, clip: float | None = None,
                     expected_ids: Sequence | None = None) -> int:
    """Check and write a submission CSV atomically; returns the number of data rows."""
    from cvtoolkit.io.csv_safe import write_csv_atomic

    rows = submission_rows(ids, proba, class_names, fmt=fmt, positive=positive, clip=clip)
    if expected_ids is not None:
        check_ids(list(ids), len(rows) - 1, expected=list(expected_ids))
    write_csv_atomic(path, rows)
    return len(rows) - 1
