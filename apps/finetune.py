"""Fine-tune a pretrained backbone (MobileNet, VGG16, ResNet50, ...) on your class-per-folder dataset.

The recipe of the Keras transfer-learning guide (cvtoolkit.transfer):
a new head (global pooling => dense --head-units => dropout => softmax) on
the pretrained base; a warm-up trains the head alone with the base frozen
(--warmup-epochs at --warmup-lr), then the top --unfreeze-top layers of the
base are unfrozen (batch-norm layers stay frozen) and the whole is trained at
the much lower --finetune-lr. The seeded, stratified test split is the
validation data of both phases and is scored at the end; --out saves a
pipeline folder that `cvtoolkit predict --model DIR` loads.

--weights takes 'imagenet' (Keras's cache, or a download), a local weights
file of the same backbone (and --alpha), or 'none' (random weights: a smoke
test only). Published figure: fine-tuned VGG16 on Flowers-17 about 0.95.

examples:
  python apps/finetune.py --dataset ../shared/data/flowers17 --backbone mobilenet --alpha 0.25 \\
      --weights ../shared/data/weights/mobilenet_2_5_224_tf_no_top.h5 --image-size 224 --out models/f17-mobilenet
  python apps/finetune.py --dataset datasets/pets --backbone vgg16 --warmup-epochs 10 --finetune-epochs 20 \\
      --unfreeze-top 4 --finetune-lr 1e-4
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _cli import (
    add_dataset_args,
    full_proba,
    load_app_dataset,
    make_parser,
    print_report,
    run_app,
    save_app_pipeline,
    split_app_dataset,
)

from cvtoolkit.errors import DatasetError


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__, Path(__file__).name)
    add_dataset_args(parser, image_size=None, example="../shared/data/flowers17",
                     image_size_help="the backbone's own input size, 224; at least 32")
    parser.add_argument("--backbone", default="mobilenet",
                        help="vgg16, resnet50, mobilenet (default), mobilenetv2 or efficientnetb0")
    parser.add_argument("--alpha", type=float, default=None, help="width multiplier of MobileNet backbones (e.g. 0.25)")
    parser.add_argument("--weights", default="imagenet", metavar="imagenet|none|PATH",
                        help="backbone weights (default imagenet)")
    parser.add_argument("--head-units", type=int, default=256,
                        help="width of the new dense layer (0: none; default 256)")
    parser.add_argument("--dropout", type=float, default=0.5, help="dropout before the output layer (default 0.5)")
    parser.add_argument("--warmup-epochs", type=int, default=5, help="epochs training the head only (default 5)")
    parser.add_argument("--finetune-epochs", type=int, default=10, help="epochs after unfreezing (default 10)")
    parser.add_argument("--unfreeze-top", type=int, default=20,
                        help="base layers unfrozen for fine-tuning, from the top (default 20; -1: all)")
    parser.add_argument("--warmup-lr", type=float, default=1e-3,
                        help="Adam learning rate of the warm-up (default 1e-3)")
    parser.add_argument("--finetune-lr", type=float, default=1e-5,
                        help="Adam learning rate after unfreezing (default 1e-5)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step (default 32)")
    parser.add_argument("--augment", action="store_true", help="random flips, zooms and shifts while training")
    parser.add_argument("--out", default=None, metavar="DIR", help="save the fine-tuned model as a pipeline folder")
    parser.add_argument("--log-dir", default=None, metavar="DIR",
                        help="write DIR/<backbone>_finetuned/history.csv, one row per epoch of both phases")
    parser.add_argument("--tensorboard", default=None, metavar="DIR",
                        help="TensorBoard logs of both phases in DIR/<backbone>_finetuned (tensorboard --logdir DIR)")
    return parser


def run(args: argparse.Namespace) -> int:
    import keras

    from cvtoolkit.train.data import ArrayBatches
    from cvtoolkit.transfer import build_finetune_model, fine_tune, get_backbone_spec

    for name in ("warmup_epochs", "finetune_epochs", "batch_size"):
        if getattr(args, name) < (1 if name == "batch_size" else 0):
            raise DatasetError(f"--{name.replace('_', '-')} must not be negative (batch size at least 1)")
    spec = get_backbone_spec(args.backbone)
    size = args.image_size or spec.default_size
    dataset = load_app_dataset(args, image_size=size)
    if dataset.images.shape[-1] != 3:  # backbones take RGB
        import numpy as np

        dataset.images = np.repeat(dataset.images, 3, axis=-1)
    train, test = split_app_dataset(dataset, args.test_size, args.seed)
    keras.utils.set_random_seed(args.seed)
    weights = None if str(args.weights).lower() in ("none", "random") else args.weights
    model, base = build_finetune_model(spec.name, dataset.n_classes, input_shape=(size, size, 3), alpha=args.alpha,
                                       weights=weights, head_units=args.head_units or None, dropout=args.dropout)
    # The saved network takes images in [0, 1], as every cvtoolkit CNN does; the backbone's own
    # preprocess_input is inside `model`, which takes 0..255 pixels.
    inputs = keras.Input((size, size, 3), name="image")
    network = keras.Model(inputs, model(keras.layers.Rescaling(255.0, name="to_pixels")(inputs)),
                          name=f"{spec.name}_finetuned")
    train_data = ArrayBatches(train.images, train.labels, args.batch_size, shuffle=True, seed=args.seed)
    val_data = ArrayBatches(test.images, test.labels, max(args.batch_size, 64), shuffle=False)
    unfreeze = None if args.unfreeze_top < 0 else args.unfreeze_top
    print(f"fine-tuning {spec.name} ({base.count_params():,} base parameters, weights: {args.weights}) on "
          f"{len(train)} images at {size}x{size}: {args.warmup_epochs} warm-up + {args.finetune_epochs} epochs")
    started = time.perf_counter()
    # Both phases build, compile and fit through KerasImageClassifier.build_trainer/fit_data (the one CNN path).
    histories = fine_tune(
        network, base, train_data, val_data, warmup_epochs=args.warmup_epochs, finetune_epochs=args.finetune_epochs,
        unfreeze_top=unfreeze, warmup_lr=args.warmup_lr, finetune_lr=args.finetune_lr, augment=args.augment,
        batch_size=args.batch_size, seed=args.seed, verbose=0 if args.quiet else 2, log_dir=args.log_dir,
        tensorboard_dir=args.tensorboard,
    )
    proba = network.predict(ArrayBatches(test.images, test.labels, 64, shuffle=False), verbose=0)
    proba = full_proba(proba, range(dataset.n_classes), dataset.n_classes)
    report = print_report(test.labels, proba, dataset.class_names, f"{spec.name} fine-tuned",
                          seconds=time.perf_counter() - started)
    if args.out:
        network.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        from cvtoolkit.train import KerasImageClassifier

        clf = KerasImageClassifier.from_model(network, history=histories, model=f"{spec.name}_finetuned",
                                              batch_size=args.batch_size)
        save_app_pipeline(clf, args.out, method=f"{spec.name}_finetuned", dataset=train, report=report,
                          extra={"backbone": spec.name, "alpha": args.alpha, "weights": str(args.weights)})
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_app(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
