"""ShallowNet: one convolution layer and a softmax, the smallest CNN worth training.

CONV(32 3x3) => ReLU => dense softmax (cvtoolkit.nn.ShallowNet), trained on
NxN RGB images scaled to [0, 1] with Adam and a warm-up + cosine learning
rate. It has no regularisation and overfits soon: about 10 epochs is right
on Animals at 32x32 (published: 0.71). The seeded, stratified test split is
scored with accuracy, macro F1 and a per-class table; --out saves the model
as a pipeline folder that `cvtoolkit predict --model DIR` loads.

examples:
  python apps/shallownet.py --dataset ../shared/data/animals
  python apps/shallownet.py --dataset ../shared/data/animals --epochs 10 --out models/shallownet --plot shallownet.png
  python apps/shallownet.py --dataset datasets/pets --image-size 48 --optimizer sgd --lr 0.005
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _cli import add_cnn_args, add_dataset_args, fit_cnn, load_app_dataset, make_parser, run_app, split_app_dataset


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__, Path(__file__).name)
    add_dataset_args(parser, image_size=32)
    add_cnn_args(parser, epochs=10)
    return parser


def run(args: argparse.Namespace) -> int:
    dataset = load_app_dataset(args)
    train, test = split_app_dataset(dataset, args.test_size, args.seed)
    fit_cnn("shallownet", train, test, args)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_app(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
