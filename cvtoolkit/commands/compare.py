"""Run every method on one split of a dataset and print a leaderboard (the main job).

Classical rows are <features>+<classifier> (raw+knn, hog+linear_svm,
hsv_hist+random_forest, ...); CNN rows are model names (shallownet, lenet,
minivggnet, ...). Every row is fitted on the same seeded, stratified training
split and scored on the same test split.

examples:
  cvtoolkit compare                                   # embedded digits, default rows
  cvtoolkit compare --dataset datasets/animals --image-size 32 --out runs/animals
  cvtoolkit compare --dataset features.h5             # classifiers on stored features
  cvtoolkit compare --methods raw+knn,hog+linear_svm,shallownet --epochs 10
  cvtoolkit compare --dataset datasets/flowers17 --weights mobilenet_2_5_224_tf_no_top.h5 \
      --methods mobilenet+logreg,mobilenet+finetune,combined+random_forest

Pretrained-backbone rows (mobilenet+logreg, ...) join the default rows by
themselves when their weights file is in Keras's cache ($KERAS_HOME/models,
default ~/.keras/models) or given with --weights; with neither, compare
downloads MobileNet 0.25's ImageNet weights there (keras.utils.get_file)
when the network answers, unless --offline; the MobileNet width comes
from Keras's file name (mobilenet_2_5_224_tf_no_top.h5: alpha 0.25).
<backbone>+finetune fine-tunes the backbone (frozen warm-up, then its top
layers at a lower learning rate, with augmentation) on the same split.
"""

from __future__ import annotations

import argparse
import sys

from cvtoolkit.commands._common import (
    add_dataset_arguments,
    add_test_size_argument,
    fmt_number,
    fold_count,
    max_pixels_from_args,
    print_dataset_summary,
    seed_arg,
)


def _at_least(low: int, example: str):
    """An argparse type: a whole number >= ``low`` (checked while parsing, before any work)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number, e.g. {example}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r}: must be at least {low}, e.g. {example}")
        return value

    parse.__name__ = f"whole number >= {low}"
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number such as 0.25") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be above 0, e.g. 0.25")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser)
    parser.add_argument("--methods", default=None,
                        help="comma-separated rows (default: raw pixels with 4 classifiers, one row per "
                             "descriptor family, and shallownet); see --list-methods")
    parser.add_argument("--list-methods", action="store_true", help="list features, classifiers and CNNs, then exit")
    add_test_size_argument(parser, what="every method")
    parser.add_argument("--train-per-class", type=int, default=None, metavar="N",
                        help="a published protocol instead of --test-size: N training images per class "
                             "(Caltech-101: 30, Flowers-17: 40), the rest (or --test-per-class) for testing; "
                             "balanced accuracy is then the papers' mean per-class accuracy")
    parser.add_argument("--test-per-class", type=int, default=None, metavar="M",
                        help="with --train-per-class: M test images per class (Caltech-101: 50; default: all the rest)")
    parser.add_argument("--seed", type=seed_arg, default=42, help="seed of the split and of every model (default 42)")
    parser.add_argument("--epochs", type=_at_least(1, "10"), default=None, help="epochs for CNN rows (default: the model's)")
    parser.add_argument("--batch-size", type=_at_least(1, "32"), default=None, help="batch size for CNN rows")
    parser.add_argument("--weights", default=None, metavar="PATH",
                        help="weights file of a CNN backbone for backbone and +finetune rows (default: Keras's "
                             "cache); with no --methods it adds the backbone row its name says")
    parser.add_argument("--offline", action="store_true",
                        help="never download backbone weights (also CVTOOLKIT_OFFLINE=1); by default, with no "
                             "--methods and no weights in Keras's cache, the MobileNet 0.25 ImageNet weights "
                             "(2.1 MB) are downloaded there when the network answers within 5 s")
    parser.add_argument("--alpha", type=_positive_float, default=None,
                        help="width of a MobileNet backbone (default: from the weights file's name, else 1.0)")
    parser.add_argument("--search", choices=["grid", "random"], default=None,
                        help="cross-validated hyper-parameter search of each classifier on the training split")
    parser.add_argument("--n-jobs", type=_at_least(1, "2"), default=None, help="processes for descriptors/classifiers (default: all cores)")
    parser.add_argument("--cache-dir", default=None,
                        help="feature cache (default: $CVTOOLKIT_CACHE_DIR or ~/.cache/cvtoolkit/features)")
    parser.add_argument("--no-cache", action="store_true", help="compute features without the cache")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output folder (default: runs/compare-<dataset>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out even if cvtoolkit did not write it (default: refuse)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--metric", choices=["accuracy", "balanced_accuracy", "f1_macro", "log_loss"], default=None,
                        help="ranking metric (default: balanced_accuracy when the largest class has more than 1.5x "
                             "the samples of the smallest, else accuracy)")
    parser.add_argument("--folds", type=fold_count, default=None, metavar="K",
                        help="repeated stratified K-fold instead of one split: mean +- std per row and the "
                             "corrected resampled t-test (default: one split)")
    parser.add_argument("--repeats", type=_at_least(1, "2"), default=1, metavar="R", help="repeats of --folds (default 1)")
    parser.add_argument("--learning-curve", nargs="?", const="0.1,0.25,0.5,1.0", default=None, metavar="FRACTIONS",
                        help="after the run, refit the best classical and best deep rows on nested stratified "
                             "fractions of the training split (default 0.1,0.25,0.5,1.0): learning_curve.png/.json")
    parser.add_argument("--learning-curve-methods", default=None, metavar="ROWS",
                        help="comma-separated rows for --learning-curve instead of the best classical and deep")
    from cvtoolkit.tracking import TRACK_HELP, track_arg

    parser.add_argument("--track", type=track_arg, default=None, metavar="mlflow[:URI]", help=TRACK_HELP)
    parser.add_argument("--tensorboard", default=None, metavar="DIR",
                        help="TensorBoard logs of CNN rows in DIR/<network> (view: tensorboard --logdir DIR)")
    parser.add_argument("--keep", choices=["none", "best", "all"], default="none",
                        help="keep the best row's fitted pipeline (or every row's) in OUT/models/<row>, fitted on "
                             "the split the leaderboard scored; 'cvtoolkit predict --model' takes it (default: none)")
    parser.add_argument("--resume", action="store_true",
                        help="reuse the rows an earlier run on the same --out finished (stored in OUT/rows as each "
                             "row finishes) when their data, split and settings match; run the rest")
    parser.add_argument("--time-budget", type=_duration, default=None, metavar="DURATION",
                        help="e.g. 10m, 600s, 1h: run rows cheapest first by an estimated cost and skip those that "
                             "would not fit (listed as skipped; the verdict says which side is incomplete)")
    parser.add_argument("--dedupe", action="store_true",
                        help="drop test images with an exact or near duplicate in train (and exact duplicates "
                             "within train) before fitting; see 'cvtoolkit audit'")


def _duration(text: str) -> str:
    """``argparse`` type of ``--time-budget``: checked now (a usage error), kept as written."""
    from cvtoolkit.errors import UsageError
    from cvtoolkit.methods.budget import parse_duration

    try:
        parse_duration(text)
    except UsageError as err:
        raise argparse.ArgumentTypeError(str(err).split(": ", 1)[-1]) from None
    return text


def _list_methods() -> int:
    from cvtoolkit.classifiers import CLASSIFIERS
    from cvtoolkit.features import FEATURES
    from cvtoolkit.nn.names import model_names  # not cvtoolkit.nn: no Keras import to list names

    print("features:    " + ", ".join(FEATURES))
    print("classifiers: " + ", ".join(CLASSIFIERS))
    print("CNNs:        " + ", ".join(model_names()))
    print("rows are <features>+<classifier> or a CNN name, e.g. hog+linear_svm,shallownet")
    print("pretrained backbones: <backbone>+<classifier> (mobilenet+logreg) or <backbone>+finetune "
          "(mobilenet+finetune); weights from Keras's cache or --weights PATH")
    print("strongest classical rows (images at their natural size): osift_fisher+ridge, dsift_fisher+ridge, "
          "dsift_spm+chi2_svm")
    print("late fusion of one side's rows: classical_ensemble, deep_ensemble (weights from the training split only)")
    return 0


def _print_leakage(info) -> None:
    from cvtoolkit.audit import leakage_line

    print(leakage_line(info), flush=True)


def _print_row(row) -> None:
    if row.get("skipped"):
        print(f"  {row['method']:<28} SKIPPED: {row['skipped']}", flush=True)
    elif row.get("error"):
        print(f"  {row['method']:<28} FAILED: {row['error']}", flush=True)
    else:
        print(f"  {row['method']:<28} accuracy {fmt_number(row['accuracy'])}  macro F1 {fmt_number(row['f1_macro'])}  "
              f"fit {row['fit_seconds']:.2f}s" + ("  (reused: --resume)" if row.get("reused") else ""), flush=True)


_PER_ROW = ("confusion_", "top_losses_", "curves_")


def files_summary(out, written) -> list[str]:
    """Lines naming every file written: one line per kind, per-row figures counted by kind.

    Examples
    --------
    >>> for line in files_summary("runs/x", ["report.html", "leaderboard.json", "confusion_a.png",
    ...                                      "confusion_b.png", "logs/shallownet/history.csv"]):
    ...     print(line)
    wrote 5 files in runs/x/:
      leaderboard.json, report.html
      confusion_<row>.png: 2 (a, b)
      logs/shallownet/: history.csv
    """
    import os
    from pathlib import Path

    names = sorted(os.path.relpath(str(p), str(out)) if os.path.isabs(str(p)) else str(p) for p in written)
    top = [n for n in names if "/" not in n and not n.startswith(_PER_ROW)]
    groups: dict[str, list[str]] = {}
    for n in names:
        for prefix in _PER_ROW:
            if "/" not in n and n.startswith(prefix):
                stem, ext = os.path.splitext(n[len(prefix):])
                groups.setdefault(f"{prefix}<row>{ext}", []).append(stem)
    nested = [n for n in names if "/" in n]
    lines = [f"wrote {len(names)} files in {Path(out).as_posix().rstrip('/')}/:"]
    if top:
        import textwrap

        lines += textwrap.wrap(", ".join(top), 100, initial_indent="  ", subsequent_indent="  ",
                               break_on_hyphens=False)
    for pattern, rows in groups.items():
        shown = ", ".join(rows) if len(rows) <= 4 else "one per row"
        lines.append(f"  {pattern}: {len(rows)} ({shown})")
    folders: dict[str, list[str]] = {}  # logs/<row>/history.csv, models/<row>/manifest.json, ...
    for n in nested:
        folder, _, name = n.rpartition("/")
        folders.setdefault(folder, []).append(name)
    for folder, files in list(folders.items())[:30]:
        lines.append(f"  {folder}/: {', '.join(files[:6])}" + (f", ... ({len(files)} files)" if len(files) > 6 else ""))
    if len(folders) > 30:
        lines.append(f"  ... and {len(folders) - 30} more folders under {Path(out).as_posix()}/")
    return lines


def _print_outcome(outcome) -> None:
    """The verdict first, then the table, the legend, the files written and the skipped files."""
    result = outcome.result
    print()
    print(f"verdict: {result.verdict}")
    print()
    print(result.board.to_text())
    print(f"({result.settings['train_samples']} train, {result.settings['test_samples']} test samples)")
    print()
    if result.folds:
        print(f"mean \u00b1 std over {result.folds['n_splits']} folds; CIs and 'vs best' from the Nadeau-Bengio "
              "corrected resampled t-test (Holm over rows)")
    else:
        print("[95% CI]: stratified bootstrap of the test set; 'vs best': exact McNemar test, Holm over rows, "
              "tied = not significantly different at 0.05")
    print()
    for line in files_summary(outcome.out, getattr(outcome, "written", None) or list(result.files.values())):
        print(line)
    for i, (name, folder) in enumerate(outcome.models.items()):
        label = "best model" if i == 0 and name == _first_ok(result) else "model"
        print(f"kept {label} {name} in {folder} (cvtoolkit predict --model {folder} --images ...)")
    if outcome.models_note:
        print(f"--keep: {outcome.models_note}")
    if result.skipped:
        print(f"skipped {len(result.skipped)} row(s) for the time budget: "
              f"{', '.join(r['method'] for r in result.skipped)}")
    if outcome.dataset.skipped:
        print(f"skipped {len(outcome.dataset.skipped)} file(s) (see warnings above)")


def _first_ok(result) -> str | None:
    return next((r["method"] for r in result.rows if not r.get("error")), None)


def run(args: argparse.Namespace) -> int:
    if args.list_methods:
        return _list_methods()
    from cvtoolkit.methods.compare_job import CompareJob, run_compare_job

    from cvtoolkit.io.outputs import locked_output
    from cvtoolkit.methods.row_store import is_compare_output

    job = CompareJob.from_args(args, max_pixels=max_pixels_from_args(args))
    # checked and locked before any work: a second run on the same --out stops here
    with locked_output(job.out_dir(), kind="folder", overwrite=job.overwrite, ours=is_compare_output,
                       what="a compare report"):
        outcome = run_compare_job(job, say=print, on_dataset=print_dataset_summary, on_row=_print_row,
                                  on_leakage=_print_leakage)
    _print_outcome(outcome)
    if outcome.tracking is not None:
        print(outcome.tracking)
    print(f"total wall time {outcome.seconds:.1f}s")
    failed = outcome.result.failed
    if failed:
        print(f"{len(failed)} method(s) failed: {', '.join(r['method'] for r in failed)}", file=sys.stderr)
        return 1
    return 0
