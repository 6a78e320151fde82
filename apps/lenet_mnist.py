"""LeNet on MNIST handwritten digits (or any small grey dataset).

LeNet (cvtoolkit.nn.LeNet: 2 x (conv => ReLU => pool) => dense 500 =>
softmax) on 28x28 grey images scaled to [0, 1]. MNIST keeps its official
split (60,000 train / 10,000 test); other datasets get a seeded, stratified
--test-size split. Published figure: 0.98-0.99 accuracy. --max-train trains
on a random subset for a quick run.

The default dataset is the local copy ../shared/data/mnist/mnist.npz when it
exists, else `mnist` (Keras downloads it into ~/.keras/datasets). Any
Keras-layout .npz (x_train, y_train, x_test, y_test) or class-per-folder
directory works; colour images are converted to grey unless --color.

examples:
  python apps/lenet_mnist.py --dataset ../shared/data/mnist/mnist.npz --epochs 2
  python apps/lenet_mnist.py --dataset ../shared/data/mnist/mnist.npz --epochs 20 --out models/lenet-mnist
  python apps/lenet_mnist.py --dataset datasets/digits-folder --image-size 28 --test-size 0.2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _cli import (
    add_cnn_args,
    add_dataset_args,
    fit_cnn,
    load_app_dataset,
    make_parser,
    run_app,
    split_app_dataset,
    subsample,
)

LOCAL_MNIST = "../shared/data/mnist/mnist.npz"


def default_dataset() -> str:
    """The local MNIST copy when present (relative to the working folder), else Keras's ``mnist``."""
    return LOCAL_MNIST if Path(LOCAL_MNIST).is_file() else "mnist"


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__, Path(__file__).name)
    add_dataset_args(parser, default=default_dataset(), image_size=28, example="datasets/digits")
    add_cnn_args(parser, epochs=20, batch_size=128, augment_flag=False)
    parser.add_argument("--color", action="store_true", help="keep RGB images in colour (default: convert to grey)")
    parser.add_argument("--max-train", type=int, default=None, metavar="N",
                        help="train on a seeded random subset of N training images (quick runs)")
    return parser


def run(args: argparse.Namespace) -> int:
    dataset = load_app_dataset(args, grey=not args.color)
    train, test = split_app_dataset(dataset, args.test_size, args.seed)
    if args.max_train is not None:
        train = subsample(train, args.max_train, args.seed)
        print(f"training on a random subset of {len(train)} images")
    fit_cnn("lenet", train, test, args)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_app(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
