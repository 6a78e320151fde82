"""Train a Keras CNN from arrays, a folder or an HDF5 store, with monitoring, checkpoints and resume.

A stratified test split (--test-size, seeded) is held out and scored at the
end; a validation split of the rest (--val-size) drives the best-model
checkpoint and early stopping. --out (default models/NAME) is a pipeline
folder like 'cvtoolkit fit' writes (manifest.json, model.keras, model.json),
which 'predict --model' and 'evaluate --model' take; --out PATH.keras writes
one .keras file plus NAME.json (class names, settings) instead, which they
take too. Beside --out it writes NAME.history.json, NAME.history.csv and
NAME.history.png (updated every epoch), NAME.best.keras, and NAME.last.keras
+ NAME.last.json (for --resume). The workflow is
cvtoolkit.methods.train_job.run_train_job (options: TrainJob).

Folders are loaded into memory at --image-size unless --stream is given
(decoded batch by batch in worker threads); .h5 stores are always streamed.

--strategy trains data-parallel with tf.distribute (TensorFlow backend):
--batch-size is then per replica and each step sees batch size x replicas.
In a multi-worker run every machine runs the same command (TF_CONFIG says
which one it is); only the chief writes --out and its companions, the other
workers write theirs to a temporary folder (and resume from the chief's
NAME.last.keras, so --out must be on a shared file system).

examples:
  cvtoolkit train --dataset datasets/animals --model shallownet --epochs 10 --out models/shallownet
  cvtoolkit predict --model models/shallownet --images photos/
  cvtoolkit train --dataset datasets/animals --model minivggnet --augment --epochs 40 \\
      --schedule one_cycle --lr 0.01 --optimizer sgd --out models/minivggnet.keras
  cvtoolkit train --dataset out/animals.h5 --model minivggnet --class-weight auto --out models/vgg.keras
  cvtoolkit train --dataset datasets/animals --model shallownet --lr-find --out models/s.keras
  cvtoolkit train ... --resume          # continue an interrupted run from NAME.last.keras
  cvtoolkit train ... --tensorboard tb/ --track mlflow   # then: tensorboard --logdir tb/ ; mlflow ui
  cvtoolkit train --dataset datasets/animals --model minivggnet --strategy mirrored --out models/vgg.keras
  TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}' \\
      cvtoolkit train --dataset datasets/animals --model minivggnet --strategy multiworker --out shared/vgg.keras
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cvtoolkit.commands._common import add_max_pixels_argument, max_pixels_from_args, positive_int, seed_arg


SCHEDULE_NAMES = ("constant", "step", "polynomial", "one_cycle", "cosine")
"""Same as ``cvtoolkit.train.schedules.SCHEDULES``, spelled out so ``--help`` needs no Keras import."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True,
                        help="a class-per-folder directory, an .h5 store (streamed), 'digits', a Keras dataset "
                             "name, an .npz or a pixel CSV")
    add_max_pixels_argument(parser)
    parser.add_argument("--model", required=True, metavar="NAME",
                        help="network name from cvtoolkit.nn (shallownet, lenet, minivggnet, alexnet, "
                             "minigooglenet, resnet)")
    parser.add_argument("--out", default=None, metavar="DIR|PATH.keras",
                        help="the pipeline folder to write, as 'cvtoolkit fit' does (default: models/NAME); "
                             "a path ending in .keras writes one Keras file plus its NAME.json sidecar instead")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: the model's recommended count, e.g. shallownet 10, "
                             "minivggnet 30; 20 otherwise)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step (default 32)")
    parser.add_argument("--image-size", type=positive_int, default=None, metavar="N",
                        help="resize images to NxN (default: the model's own input size for folders, "
                             "the stored size otherwise)")
    parser.add_argument("--label-pattern", default=None, metavar="REGEX",
                        help="labels from file names in a flat folder (first regex group)")
    parser.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd", "rmsprop"],
                        help="optimizer (default adam; sgd uses Nesterov momentum 0.9)")
    parser.add_argument("--lr", type=float, default=None,
                        help="peak learning rate (default: 1e-3 for adam/adamw/rmsprop, 0.05 for sgd)")
    parser.add_argument("--schedule", default="cosine", choices=list(SCHEDULE_NAMES),
                        help="learning-rate schedule over the run (default cosine with warm-up)")
    parser.add_argument("--lr-find", action="store_true",
                        help="sweep the learning rate first (plot NAME.lr_find.png); use the suggestion unless --lr")
    parser.add_argument("--augment", action="store_true",
                        help="random horizontal flips and shifts (up to 10%%) while training")
    parser.add_argument("--class-weight", choices=["auto"], default=None,
                        help="'auto': weight classes by inverse frequency (imbalanced data)")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="mixed precision: float16 on GPUs, bfloat16 on CPUs (helps only where the "
                             "hardware has fast 16-bit maths)")
    parser.add_argument("--test-size", type=float, default=0.25,
                        help="held-out fraction scored at the end (default 0.25; 0: no test)")
    parser.add_argument("--val-size", type=float, default=0.1,
                        help="fraction of the training part used for validation, best checkpoint and "
                             "early stopping (default 0.1; 0: none)")
    parser.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE",
                        help="stop after PATIENCE epochs without a better validation loss")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from NAME.last.keras (weights, optimizer and "
                             "schedule state); pass the same --epochs as the first run")
    parser.add_argument("--stream", action="store_true",
                        help="stream a folder batch by batch instead of loading it into memory")
    parser.add_argument("--workers", type=int, default=None, help="decoding threads when streaming")
    parser.add_argument("--strategy", choices=["mirrored", "multiworker"], default=None,
                        help="data-parallel training with tf.distribute (TensorFlow backend): 'mirrored' uses all "
                             "GPUs of this machine, 'multiworker' several machines configured by TF_CONFIG; "
                             "--batch-size is then per replica")
    parser.add_argument("--cpu-replicas", type=int, default=None, metavar="N",
                        help="with --strategy mirrored and no GPU: split the CPU into N logical devices and "
                             "mirror over them (to try distributed training or test it; no speed-up)")
    parser.add_argument("--seed", type=seed_arg, default=42, help="seed of the splits and the training (default 42)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out even if cvtoolkit did not write it (default: refuse)")
    parser.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
    parser.add_argument("--tensorboard", default=None, metavar="DIR",
                        help="write TensorBoard logs to DIR (Keras's TensorBoard callback; view: tensorboard --logdir DIR)")
    from cvtoolkit.tracking import TRACK_HELP, track_arg

    parser.add_argument("--track", type=track_arg, default=None, metavar="mlflow[:URI]", help=TRACK_HELP)


def run(args: argparse.Namespace) -> int:
    from cvtoolkit.io.outputs import is_keras_file, is_pipeline_folder, locked_output
    from cvtoolkit.tracking import check_tensorboard
    from cvtoolkit.train.distribute import is_chief
    from cvtoolkit.train.workflow import check_out

    check_tensorboard(args.tensorboard)  # the [tensorboard] extra: one line before any work
    if not is_chief():  # another worker of a multi-worker run writes to a temporary folder, not --out
        return _run(args)
    out = check_out(Path(args.out or f"models/{args.model}"))
    if out.suffix == ".keras":
        check = dict(kind="file", ours=is_keras_file, what="a .keras model")
    else:
        check = dict(kind="folder", ours=is_pipeline_folder, what="a saved pipeline")
    with locked_output(out, overwrite=args.overwrite, **check):  # before any work: a second run stops here
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from cvtoolkit.commands._common import print_dataset_summary
    from cvtoolkit.methods.train_job import TrainJob, run_train_job

    job = TrainJob.from_args(args, max_pixels=max_pixels_from_args(args), verbose=getattr(args, "verbose", False))
    result = run_train_job(job, echo=print, on_dataset=print_dataset_summary)
    if result.tracked:
        print(result.tracked)
    print(f"done in {result.seconds:.1f} s")
    return 0
