"""Kaggle submission files from predicted probabilities."""

from cvtoolkit.kaggle.submission import SUBMISSION_FORMATS, check_ids, submission_rows, write_submission

__all__ = ["SUBMISSION_FORMATS", "check_ids", "submission_rows", "write_submission"]
