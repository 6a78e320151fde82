"""Predict class probabilities with a saved pipeline; optionally write a Kaggle submission.

--images takes an unlabelled folder (ids from numeric file names, in numeric
order: test1/1.jpg -> id 1), a single image, or a pixel CSV (ids 1..N).

examples:
  cvtoolkit predict --model models/pets-hog --images photos/
  cvtoolkit predict --model models/dvc --images ../shared/data/dogs_vs_cats/test1 \\
      --submission sub.csv --format binary-proba --positive dog --clip 0.005
  cvtoolkit predict --model models/digits --images test.csv --submission sub.csv --format digit-recognizer
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cvtoolkit.commands._common import add_max_pixels_argument, max_pixels_from_args
from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS
from cvtoolkit.errors import DatasetError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cvtoolkit.kaggle import SUBMISSION_FORMATS

    parser.add_argument("--model", required=True, help="a pipeline folder written by 'cvtoolkit fit'")
    parser.add_argument("--images", required=True, help="an unlabelled image folder, one image, or a pixel CSV")
    parser.add_argument("--out", default=None,
                        help="write every prediction (id, class, probabilities, and a last 'skipped' column giving "
                             "why an image could not be read: such rows have no class or probabilities) to this CSV")
    parser.add_argument("--submission", default=None, help="write a Kaggle submission CSV here")
    parser.add_argument("--format", choices=SUBMISSION_FORMATS, default="label", help="submission format (default label)")
    parser.add_argument("--positive", default=None, help="binary-proba: the class whose probability is written")
    parser.add_argument("--clip", type=float, default=None,
                        help="clip probabilities to [c, 1-c] (log-loss competitions; e.g. 0.005)")
    parser.add_argument("--allow-skipped", action="store_true",
                        help="write a submission even if some images could not be read (they get uniform probabilities)")
    add_max_pixels_argument(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out/--submission even if cvtoolkit did not write it (default: refuse)")
    parser.add_argument("--trust-model", action="store_true",
                        help="load a model with types outside the trusted list, or an old pickle "
                             "(pipeline.joblib): this runs code from the file; only for models you trust")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def load_inputs(spec: str, *, progress: bool = True, max_pixels: int | None = DEFAULT_MAX_PIXELS):
    """Images (or a feature matrix), their ids, and skipped files, from an --images spec.

    ``max_pixels``: the decompression-bomb limit per image (None: no limit).
    """
    import numpy as np

    from cvtoolkit.data import list_unlabelled, load_images, read_image
    from cvtoolkit.data.dataset import SkippedFile
    from cvtoolkit.data.image_io import UnreadableImageError, is_image_file

    path = Path(spec)
    if path.is_dir():
        paths, ids = list_unlabelled(path)
        images, kept, skipped = load_images(paths, progress=progress, desc="reading images", max_pixels=max_pixels)
        return images, ids, kept, skipped
    if path.is_file() and path.suffix.lower() == ".csv":
        from cvtoolkit.data import load_pixel_csv

        ds = load_pixel_csv(path)
        ids = ds.attrs.get("ids") or list(range(1, len(ds) + 1))
        return ds.images, ids, np.arange(len(ds)), []
    if path.is_file() and path.suffix.lower() in (".h5", ".hdf5"):
        from cvtoolkit.io import read_store

        ds = read_store(path)
        ids = [Path(p).stem for p in ds.paths] if ds.paths else list(range(1, len(ds) + 1))
        return ds.images, ids, np.arange(len(ds)), []
    if path.is_file() and is_image_file(path):
        try:
            return [read_image(path, max_pixels=max_pixels)], [path.stem], np.array([0]), []
        except UnreadableImageError as err:
            return [], [path.stem], np.array([], int), [SkippedFile(str(path), str(err))]
    raise DatasetError(f"{spec}: not an image folder, image file, pixel CSV or .h5 store.")


def skipped_reasons(n: int, kept, skipped) -> list[str]:
    """Per input row: '' when it was predicted, else why it was skipped (rows not in ``kept``, in order).

    Examples
    --------
    >>> from cvtoolkit.data.dataset import SkippedFile
    >>> skipped_reasons(3, [0, 2], [SkippedFile("b.jpg", "cannot be decoded")])
    ['', 'cannot be decoded', '']
    """
    reasons = ["skipped"] * n
    for i in kept:
        reasons[int(i)] = ""
    missing = [i for i in range(n) if reasons[i]]
    for i, item in zip(missing, skipped):
        reasons[i] = str(getattr(item, "reason", "") or item)
    return reasons


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from cvtoolkit.io import write_text_atomic
    from cvtoolkit.kaggle import write_submission
    from cvtoolkit.io.outputs import check_output_location, csv_starts_with
    from cvtoolkit.methods.artifact import load_pipeline

    for option, where, ours in (("--out", args.out, csv_starts_with("id,predicted")),
                                ("--submission", args.submission, csv_starts_with("id,", "ImageId,"))):
        if where:
            check_output_location(where, kind="file", overwrite=args.overwrite, ours=ours, option=option,
                                  what="a CSV cvtoolkit writes")
    pipeline = load_pipeline(args.model, trust=args.trust_model)
    print(f"model {args.model}: {pipeline.method}, classes {', '.join(pipeline.class_names)}")
    images, ids, kept, skipped = load_inputs(args.images, progress=not args.quiet, max_pixels=max_pixels_from_args(args))
    for s in skipped:
        print(f"  skipped {s}")
    if skipped and args.submission and not args.allow_skipped:
        raise DatasetError(
            f"{len(skipped)} image(s) could not be read (listed above); a submission needs a row for every id. "
            "Fix or remove them, or pass --allow-skipped to give them uniform probabilities."
        )
    n_classes = len(pipeline.class_names)
    proba = np.full((len(ids), n_classes), 1.0 / n_classes)
    if len(kept):
        proba[kept] = pipeline.predict_proba(images)
    pred = proba.argmax(axis=1)
    print(f"predicted {len(kept)} image(s)" + (f", {len(skipped)} skipped" if skipped else ""))
    reasons = skipped_reasons(len(ids), kept, skipped)
    for i in range(min(10, len(ids))):
        print(f"  {ids[i]}: skipped" if reasons[i] else
              f"  {ids[i]}: {pipeline.class_names[pred[i]]} ({proba[i, pred[i]]:.3f})")
    if len(ids) > 10:
        print(f"  ... {len(ids) - 10} more")
    if args.out:
        from cvtoolkit.io.csv_safe import csv_text

        mark = "skipped_reason" if "skipped" in pipeline.class_names else "skipped"
        rows = [["id", "predicted", *pipeline.class_names, mark]]
        for i, row, reason in zip(ids, proba, reasons):
            if reason:  # no prediction: not a uniform guess that looks like one
                rows.append([i, "", *([""] * n_classes), reason])
            else:
                rows.append([i, pipeline.class_names[int(row.argmax())], *(f"{p:.6g}" for p in row), ""])
        write_text_atomic(args.out, csv_text(rows))
        print(f"wrote {args.out}")
    if args.submission:
        n = write_submission(args.submission, ids, proba, pipeline.class_names, fmt=args.format,
                             positive=args.positive, clip=args.clip)
        print(f"wrote {args.submission}: {n} rows, format {args.format}")
    return 0
