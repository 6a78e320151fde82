"""Export a CNN or backbone pipeline to SavedModel, TFLite or ONNX, with its preprocessing as JSON.

--model is a pipeline folder from 'cvtoolkit fit' (a CNN, or <backbone>+logreg)
or a .keras file from 'cvtoolkit train'. Beside the export goes
<out>.preprocessing.json: input size, channels, scaling and class names.
An existing --out is replaced only when it is an earlier export (or with
--overwrite); the folder holding --model never is.
Classical pipelines (hog+linear_svm, ...) cannot be exported: their
descriptors are Python code; the message says what can be.

examples:
  cvtoolkit export --model models/pets-vgg --format savedmodel --out exported/pets_savedmodel
  cvtoolkit export --model models/pets-vgg --format tflite --out exported/pets.tflite
  cvtoolkit export --model models/minivggnet.keras --format onnx --out exported/vgg.onnx   # needs [export]
"""

from __future__ import annotations

import argparse

FORMAT_NAMES = ("savedmodel", "tflite", "onnx")
"""Same as ``cvtoolkit.export.FORMATS``, spelled out so ``--help`` imports nothing heavy."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="DIR",
                        help="a pipeline folder from 'cvtoolkit fit' or a .keras file from 'cvtoolkit train'")
    parser.add_argument("--format", required=True, choices=FORMAT_NAMES,
                        help="savedmodel (a folder, TensorFlow Serving), tflite (LiteRT), onnx (onnxruntime; "
                             "needs the [export] extra)")
    parser.add_argument("--out", required=True, metavar="PATH",
                        help="the folder (savedmodel) or file (.tflite, .onnx) to write; never the folder "
                             "holding --model")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out (and its .preprocessing.json) even if cvtoolkit did not write it "
                             "(default: refuse)")


def run(args: argparse.Namespace) -> int:
    import logging

    from cvtoolkit.export import export_pipeline

    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module=r"keras\.src\.export")  # np.object probe
    if not getattr(args, "verbose", False):  # the converters' INFO lines are not for the user
        for name in ("tensorflow", "tf2onnx", "absl"):
            logging.getLogger(name).setLevel(logging.WARNING)
    result = export_pipeline(args.model, args.format, args.out, overwrite=args.overwrite)
    h, w, c = result.input_shape
    print(f"exported {args.model} as {result.format} to {result.path}: input {h}x{w}x{c} float32, "
          f"{len(result.class_names)} classes")
    print(f"wrote {result.preprocessing}")
    return 0
