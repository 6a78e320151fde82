"""Pieces shared by several commands: dataset arguments, default sizes, summaries."""

from __future__ import annotations

import argparse
import math

DEFAULT_IMAGE_SIZE = 32
"""Images from folders (and the 8x8 digits) are resized to this by default."""


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (``--image-size``), else a one-line usage error.

    Examples
    --------
    >>> positive_int("32")
    32
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of pixels, e.g. 32") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a positive number of pixels, e.g. 32")
    return value


SEED_MAX = 2**32 - 1
"""The largest seed NumPy and scikit-learn take."""


def seed_arg(text: str) -> int:
    """An argparse type: ``--seed``, a whole number from 0 to 2**32 - 1, else a one-line usage error.

    Examples
    --------
    >>> seed_arg("42")
    42
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number, e.g. 42") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{text!r}: a seed must be between 0 and {SEED_MAX}, e.g. 42")
    return value


def fold_count(text: str) -> int:
    """An argparse type: ``--folds`` K of a K-fold, at least 2, else a one-line usage error.

    Examples
    --------
    >>> fold_count("5")
    5
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of folds, e.g. 5") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: K-fold needs at least 2 folds (leave --folds out for one "
                                         "train/test split)")
    return value


def add_max_pixels_argument(parser: argparse.ArgumentParser) -> None:
    """``--max-pixels``: the decompression-bomb limit on decoded images (read with :func:`max_pixels_from_args`)."""
    from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS

    parser.add_argument(
        "--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
        help=f"skip (and name) image files of more than N pixels, width x height: decompression bombs "
             f"(default {DEFAULT_MAX_PIXELS:,}, Pillow's limit; 0: no limit). Formats whose size cannot be read "
             f"before decoding (Radiance HDR, PFM, PAM) are skipped too unless the limit is 0",
    )


def max_pixels_from_args(args: argparse.Namespace) -> int | None:
    """The ``--max-pixels`` value for the loaders (``None``: no limit).

    Raises
    ------
    UsageError
        A negative value.
    """
    from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS
    from cvtoolkit.errors import UsageError

    value = getattr(args, "max_pixels", DEFAULT_MAX_PIXELS)
    if value is None or value == 0:
        return None
    if value < 0:
        raise UsageError(f"--max-pixels must be a positive number of pixels (or 0 for no limit), got {value}")
    return int(value)


def test_size_arg(text: str) -> float | int | str:
    """``--test-size``: a fraction (0.25), a count (500), ``official`` or ``auto``."""
    value = text.strip().lower()
    if value in ("auto", "official"):
        return value
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a fraction such as 0.25, a number of samples, 'official' or 'auto'"
        ) from None
    if 0 < number < 1:
        return number
    if number >= 1 and number.is_integer():
        return int(number)
    raise argparse.ArgumentTypeError(f"{text!r}: a fraction must be between 0 and 1, a count a whole number")


def add_test_size_argument(parser: argparse.ArgumentParser, *, what: str = "the model") -> None:
    """``--test-size`` (default ``auto``: the dataset's official test split when it has one, else 0.25)."""
    parser.add_argument(
        "--test-size", type=test_size_arg, default="auto", metavar="F",
        help=f"test part of the one split {what} share(s): a fraction (0.25), a number of samples, 'official' "
             "(the dataset's own test split: Keras datasets and Keras-layout .npz files have one) or 'auto' "
             "(default: official when there is one, else a seeded stratified 0.25)",
    )


def add_dataset_arguments(parser: argparse.ArgumentParser, *, default_dataset: str | None = "digits") -> None:
    """``--dataset``, ``--image-size``, ``--label-pattern``, ``--max-pixels``."""
    parser.add_argument(
        "--dataset", default=default_dataset, required=default_dataset is None,
        help="'digits' (bundled), a class-per-folder directory, an .h5 store from pack/extract, a Keras "
             "dataset name (mnist, fashion_mnist, cifar10), a Keras-layout .npz, or a pixel CSV"
             + (f" (default: {default_dataset})" if default_dataset else ""),
    )
    parser.add_argument(
        "--image-size", type=positive_int, default=None, metavar="N",
        help=f"resize images to NxN (default: {DEFAULT_IMAGE_SIZE} for folders and digits, a backbone's own "
             "input size for backbone features, native size otherwise)",
    )
    parser.add_argument(
        "--label-pattern", default=None, metavar="REGEX",
        help="labels from file names in a flat folder: the first group of this regular expression, "
             "e.g. '^(cat|dog)\\.'",
    )
    add_max_pixels_argument(parser)


def default_image_size(spec: str, image_size: int | None, *, features: str | None = None) -> int | None:
    """The size to load at.

    The user's ``--image-size`` wins; then a backbone's input size when the
    features are a CNN backbone; the natural size (``None``) for dense
    descriptors (``dsift_*``, ``osift_*``: they shrink images themselves); then :data:`DEFAULT_IMAGE_SIZE` for folders
    and ``digits`` (8x8 is too small for most descriptors); else ``None``
    (native size).
    """
    from cvtoolkit.data import describe_spec

    if image_size is not None:
        return image_size
    if features:
        from cvtoolkit.features.registry import DENSE_FEATURES  # names only: no scikit-learn

        if features in DENSE_FEATURES:  # dense descriptors read images at their natural size (max_side)
            return None
        try:
            from cvtoolkit.transfer.backbones import BACKBONES

            if features in BACKBONES:
                return BACKBONES[features].default_size
        except ImportError:
            pass
    return DEFAULT_IMAGE_SIZE if spec == "digits" or describe_spec(spec) == "folder" else None


def fmt_number(value, digits: int = 4) -> str:
    """A table cell: floats to ``digits`` places, None/NaN as ``-``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_skipped(skipped, header: str, *, indent: str = "    ", limit: int = 20) -> None:
    """Print ``header``, then the first ``limit`` skipped files one a line, and how many more there are."""
    print(header)
    for item in list(skipped)[:limit]:
        print(f"{indent}{item}")
    if len(skipped) > limit:
        print(f"{indent}... and {len(skipped) - limit} more")


def print_dataset_summary(dataset) -> None:
    """Samples, shape, classes, and every skipped file (named, counted)."""
    counts = dataset.class_counts()
    shape = "x".join(str(s) for s in dataset.image_shape) if dataset.images.dtype != object else "varying size"
    print(f"dataset {dataset.source}: {len(dataset)} {dataset.kind} ({shape}), {dataset.n_classes} classes")
    shown = ", ".join(f"{k} {v}" for k, v in list(counts.items())[:12])
    print(f"  per class: {shown}{' ...' if len(counts) > 12 else ''}")
    if dataset.skipped:
        print_skipped(dataset.skipped, f"  skipped {len(dataset.skipped)} unreadable file(s):")
    if dataset.attrs.get("empty_classes"):
        print(f"  ignored empty class folder(s): {', '.join(dataset.attrs['empty_classes'])}")
