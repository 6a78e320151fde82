"""Predict class probabilities with a saved pipeline; optionally write a Kaggle submission.

--model takes a pipeline folder (cvtoolkit fit or train) or a .keras file
(wrapped with its sidecar's class names and input size). The workflow is
cvtoolkit.methods.predict.run_predict.

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
import sys

from cvtoolkit.commands._common import add_max_pixels_argument, max_pixels_from_args
from cvtoolkit.methods.predict import load_inputs, skipped_reasons  # noqa: F401  (their old home)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cvtoolkit.kaggle import SUBMISSION_FORMATS

    parser.add_argument("--model", required=True, help="a pipeline folder written by 'cvtoolkit fit' or 'cvtoolkit train', or a .keras file")
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


def run(args: argparse.Namespace) -> int:
    from cvtoolkit.methods.predict import run_predict

    r = run_predict(args.model, args.images, out=args.out, submission=args.submission, fmt=args.format,
                    positive=args.positive, clip=args.clip, allow_skipped=args.allow_skipped,
                    overwrite=args.overwrite, trust=args.trust_model, progress=not args.quiet and sys.stderr.isatty(),
                    max_pixels=max_pixels_from_args(args), echo=print)
    names, pred = r.pipeline.class_names, r.proba.argmax(axis=1)
    print(f"predicted {len(r.ids) - len(r.skipped)} image(s)" + (f", {len(r.skipped)} skipped" if r.skipped else ""))
    for i in range(min(10, len(r.ids))):
        print(f"  {r.ids[i]}: skipped" if r.reasons[i] else f"  {r.ids[i]}: {names[pred[i]]} ({r.proba[i, pred[i]]:.3f})")
    if len(r.ids) > 10:
        print(f"  ... {len(r.ids) - 10} more")
    if args.out:
        print(f"wrote {args.out}")
    if args.submission:
        print(f"wrote {args.submission}: {r.submission_rows} rows, format {args.format}")
    return 0
