"""Smile detector: train LeNet on smiling / not-smiling faces, then find and label faces in a photo.

train: a class-per-folder dataset of face crops (e.g. SMILEsmileD's
positives/ and negatives/, or smiling/ and not_smiling/) is converted to
28x28 grey, split (seeded, stratified) and used to train LeNet with balanced
class weights (smiles are usually the minority). The test split is scored
and the model saved as a pipeline folder (default models/smile).

detect: faces are found with OpenCV's Haar cascade
(haarcascade_frontalface_default.xml from cv2.data.haarcascades, or
--cascade PATH); each face is cropped, turned into 28x28 grey, classified,
and a labelled box is drawn. Prints one line per face (box, label,
probability), or says that no face was found; --out writes the annotated
image (the plain image when there is no face).

examples:
  python apps/smile_detector.py train --dataset datasets/SMILEs --epochs 15 --out models/smile
  python apps/smile_detector.py detect --model models/smile --image photo.jpg --out photo-smiles.png
  python apps/smile_detector.py detect --model models/smile --image photo.jpg \\
      --cascade /usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from _cli import add_cnn_args, add_dataset_args, fit_cnn, load_app_dataset, make_parser, run_app, split_app_dataset

from cvtoolkit.errors import DatasetError, ModelError

CASCADE_FILE = "haarcascade_frontalface_default.xml"
"""OpenCV's frontal-face Haar cascade."""

SYSTEM_CASCADE_DIRS = (
    "/usr/share/opencv4/haarcascades",
    "/usr/share/opencv/haarcascades",
    "/usr/local/share/opencv4/haarcascades",
    "/opt/homebrew/share/opencv4/haarcascades",
)
"""Where system OpenCV packages (apt's opencv-data, Homebrew) install the cascades."""

BOX_COLOURS = ((0, 200, 0), (230, 40, 40), (40, 90, 230), (230, 200, 0))
"""RGB colour of a box, by class index (cycled)."""


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__, Path(__file__).name)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = sub.add_parser("train", help="train the smile classifier on a folder of face crops",
                           description="Train LeNet on 28x28 grey face crops (one folder per class).")
    add_dataset_args(train, image_size=28, example="datasets/SMILEs")
    add_cnn_args(train, epochs=15, batch_size=64, augment_flag=False)
    train.set_defaults(out="models/smile")

    detect = sub.add_parser("detect", help="find faces in an image and label them",
                            description="Find faces with a Haar cascade, classify each, draw labelled boxes.")
    detect.add_argument("--model", default="models/smile",
                        help="pipeline folder written by 'train' (default models/smile)")
    detect.add_argument("--image", required=True, help="the photo to search")
    detect.add_argument("--out", default=None, metavar="PNG", help="write the annotated image here")
    detect.add_argument("--cascade", default=None, metavar="XML",
                        help=f"a Haar cascade file (default: OpenCV's {CASCADE_FILE})")
    detect.add_argument("--scale-factor", type=float, default=1.1, help="cascade pyramid step (default 1.1)")
    detect.add_argument("--min-neighbors", type=int, default=5,
                        help="overlapping detections needed to keep a face (default 5)")
    detect.add_argument("--min-size", type=int, default=30, help="smallest face side in pixels (default 30)")
    return parser


# --------------------------------------------------------------------------- detection pieces
@dataclass(frozen=True)
class Face:
    """One detected face: its box ``(x, y, w, h)``, predicted label and probability."""

    box: tuple[int, int, int, int]
    label: str
    probability: float


def cascade_candidates() -> list[Path]:
    """Places OpenCV's face cascade may be, in order: the pip wheel's data folder, then system folders."""
    import cv2

    out = []
    bundled = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if bundled:
        out.append(Path(bundled) / CASCADE_FILE)
    out.extend(Path(d) / CASCADE_FILE for d in SYSTEM_CASCADE_DIRS)
    return out


def load_cascade(path: str | None = None):
    """A loaded ``cv2.CascadeClassifier`` from ``path`` or OpenCV's bundled frontal-face cascade.

    Raises
    ------
    ModelError
        The file is missing or not a cascade; without ``path``, no copy of
        the bundled cascade was found (some OpenCV builds, e.g. the 5.0
        wheels, ship without the XML files).
    """
    import cv2

    if path is not None:
        candidates = [Path(path)]
        if not candidates[0].is_file():
            raise ModelError(f"{path}: no such cascade file; pass an OpenCV Haar cascade XML with --cascade.")
    else:
        candidates = [p for p in cascade_candidates() if p.is_file()]
        if not candidates:
            looked = ", ".join(str(p.parent) for p in cascade_candidates())
            raise ModelError(
                f"OpenCV {cv2.__version__} has no {CASCADE_FILE} (looked in {looked}). Pass --cascade PATH: the "
                "file is in OpenCV's source tree (data/haarcascades/), in the opencv-python 4.x wheels "
                "(cv2/data/) and in apt's opencv-data package."
            )
    cascade = cv2.CascadeClassifier(str(candidates[0]))
    if cascade.empty():
        raise ModelError(f"{candidates[0]}: OpenCV cannot load it as a cascade classifier "
                         "(expected a Haar cascade XML).")
    return cascade


def detect_faces(image, cascade, *, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_size: int = 30) -> list[tuple[int, int, int, int]]:
    """Face boxes ``(x, y, w, h)`` in an RGB (or grey) image, largest first."""
    import cv2
    import numpy as np

    grey = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
    if grey.ndim == 3:
        grey = cv2.cvtColor(np.ascontiguousarray(grey), cv2.COLOR_RGB2GRAY)
    found = cascade.detectMultiScale(grey, scaleFactor=scale_factor, minNeighbors=min_neighbors,
                                     minSize=(min_size, min_size), flags=cv2.CASCADE_SCALE_IMAGE)
    boxes = [tuple(int(v) for v in box) for box in (found if len(found) else [])]
    return sorted(boxes, key=lambda b: -b[2] * b[3])


def classify_faces(image, boxes: Sequence[tuple[int, int, int, int]], model) -> list[Face]:
    """Label each face crop with ``model`` (a loaded pipeline: it resizes and greys the crops itself)."""
    import numpy as np

    if not boxes:
        return []
    crops = [np.ascontiguousarray(image[y : y + h, x : x + w]) for x, y, w, h in boxes]
    proba = model.predict_proba(crops)
    best = np.argmax(proba, axis=1)
    return [Face(tuple(box), str(model.class_names[k]), float(proba[i, k]))
            for i, (box, k) in enumerate(zip(boxes, best))]


def draw_faces(image, faces: Sequence[Face], class_names: Sequence[str]):
    """A copy of the RGB image with a box and ``label probability`` over each face."""
    import cv2
    import numpy as np

    out = np.ascontiguousarray(image.copy())
    if out.ndim == 3 and out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    for face in faces:
        x, y, w, h = face.box
        k = list(class_names).index(face.label) if face.label in class_names else 0
        colour = BOX_COLOURS[k % len(BOX_COLOURS)]
        thickness = max(1, round(min(out.shape[:2]) / 300))
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness)
        text = f"{face.label} {face.probability:.2f}"
        cv2.putText(out, text, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * thickness, colour, thickness)
    return out


def write_image(path: str, image) -> None:
    """Encode an RGB image by the file's extension and write it atomically."""
    import cv2

    from cvtoolkit.io import write_bytes_atomic

    suffix = Path(path).suffix.lower() or ".png"
    bgr = image[..., ::-1] if image.ndim == 3 and image.shape[2] == 3 else image
    try:
        ok, buf = cv2.imencode(suffix, bgr)
    except cv2.error:
        ok = False
    if not ok:
        raise DatasetError(f"{path}: cannot encode an image with extension {suffix!r}; use .png or .jpg.")
    write_bytes_atomic(path, buf.tobytes())


# --------------------------------------------------------------------------- commands
def run_train(args: argparse.Namespace) -> int:
    dataset = load_app_dataset(args, grey=True)
    train, test = split_app_dataset(dataset, args.test_size, args.seed)
    fit_cnn("lenet", train, test, args, class_weight="auto")
    print(f"next: python apps/smile_detector.py detect --model {args.out} --image PHOTO --out labelled.png")
    return 0


def run_detect(args: argparse.Namespace) -> int:
    from cvtoolkit.data import UnreadableImageError, read_image
    from cvtoolkit.methods.artifact import load_pipeline

    model = load_pipeline(args.model)  # first: a wrong --model fails before any image work
    cascade = load_cascade(args.cascade)
    try:
        image = read_image(args.image)
    except UnreadableImageError as err:
        raise DatasetError(f"{args.image}: cannot read the image ({err}).") from err
    except FileNotFoundError as err:
        raise DatasetError(f"{args.image}: no such file.") from err
    boxes = detect_faces(image, cascade, scale_factor=args.scale_factor, min_neighbors=args.min_neighbors,
                         min_size=args.min_size)
    faces = classify_faces(image, boxes, model)
    if not faces:
        print(f"no faces found in {args.image}")
    else:
        print(f"{len(faces)} face(s) in {args.image}:")
        for face in faces:
            x, y, w, h = face.box
            print(f"  at x={x} y={y} size {w}x{h}: {face.label} ({face.probability:.3f})")
    if args.out:
        write_image(args.out, draw_faces(image, faces, model.class_names))
        print(f"wrote {args.out}")
    return 0


def run(args: argparse.Namespace) -> int:
    return run_train(args) if args.command == "train" else run_detect(args)


def main(argv: list[str] | None = None) -> int:
    return run_app(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
