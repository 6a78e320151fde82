"""Build a 101-class image folder (about 8000 images) for the many-class benchmarks, outside the repository.

Each class is one (shape, colour) pair drawn on a dimmed photographic background:
7 shapes (disc, square, triangle, ring, cross, horizontal bars, vertical
bars) times 15 hues give 105 pairs, of which the first ``--classes`` are
used. Every image draws its own position, scale, rotation, brightness and
background crop (from the Animals, Flowers-17 and Dogs vs. Cats photographs
when they are there, else noise), so classes overlap in colour or shape with
their neighbours and the task is not trivial; the result is a stand-in for
Caltech-101's shape (101 classes of about 80 images), not a copy of it.

Usage::

    python bench/make_many_classes.py --out /tmp/many101            # 101 x 80 = 8080 JPEGs, 96x96
    python bench/make_many_classes.py --out /tmp/many20 --classes 20
"""

from __future__ import annotations

import argparse
import colorsys
import sys
from pathlib import Path

import cv2
import numpy as np

from _paths import SHARED  # noqa: E402  (bench/ is on sys.path when a script runs)
SHAPES = ("disc", "square", "triangle", "ring", "cross", "hbars", "vbars")
HUES = 15


def _backgrounds(limit: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    files = sorted(p for sub in ("animals", "flowers17", "dogs_vs_cats") for p in (SHARED / sub).rglob("*.jpg"))
    if not files:
        return [rng.integers(0, 256, (size * 2, size * 2, 3), dtype=np.uint8) for _ in range(64)]
    picks = rng.choice(len(files), size=min(limit, len(files)), replace=False)
    out = []
    for i in picks:
        img = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
        if img is not None and min(img.shape[:2]) >= size:
            out.append(img)
    return out


def _draw(shape: str, colour: tuple[int, int, int], size: int, rng: np.random.Generator, canvas: np.ndarray) -> None:
    c = (int(size / 2 + rng.integers(-size // 8, size // 8 + 1)), int(size / 2 + rng.integers(-size // 8, size // 8 + 1)))
    r = int(size * rng.uniform(0.28, 0.4))
    angle = rng.uniform(0, np.pi)
    if shape == "disc":
        cv2.circle(canvas, c, r, colour, -1, cv2.LINE_AA)
    elif shape == "ring":
        cv2.circle(canvas, c, r, colour, max(2, r // 3), cv2.LINE_AA)
    elif shape in ("square", "triangle"):
        k = 4 if shape == "square" else 3
        pts = np.array([[c[0] + r * np.cos(angle + 2 * np.pi * j / k), c[1] + r * np.sin(angle + 2 * np.pi * j / k)]
                        for j in range(k)], np.int32)
        cv2.fillPoly(canvas, [pts], colour, cv2.LINE_AA)
    elif shape == "cross":
        w = max(2, r // 3)
        cv2.rectangle(canvas, (c[0] - r, c[1] - w), (c[0] + r, c[1] + w), colour, -1)
        cv2.rectangle(canvas, (c[0] - w, c[1] - r), (c[0] + w, c[1] + r), colour, -1)
    else:
        period = int(rng.integers(size // 10, size // 6))
        for k in range(-r, r, period):
            if shape == "hbars":
                cv2.rectangle(canvas, (c[0] - r, c[1] + k), (c[0] + r, c[1] + k + period // 2), colour, -1)
            else:
                cv2.rectangle(canvas, (c[0] + k, c[1] - r), (c[0] + k + period // 2, c[1] + r), colour, -1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--classes", type=int, default=101)
    parser.add_argument("--per-class", type=int, default=80)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 2 <= args.classes <= len(SHAPES) * HUES:
        parser.error(f"--classes must be 2..{len(SHAPES) * HUES}")
    rng = np.random.default_rng(args.seed)
    backgrounds = _backgrounds(600, args.size, rng)
    out = Path(args.out)
    pairs = [(s, h) for h in range(HUES) for s in SHAPES][: args.classes]
    for shape, hue in pairs:
        folder = out / f"{shape}_{hue:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(args.per_class):
            bg = backgrounds[int(rng.integers(len(backgrounds)))]
            y = int(rng.integers(0, bg.shape[0] - args.size + 1))
            x = int(rng.integers(0, bg.shape[1] - args.size + 1))
            canvas = np.ascontiguousarray(bg[y:y + args.size, x:x + args.size])
            canvas = (canvas * rng.uniform(0.3, 0.6)).astype(np.uint8)  # a dimmer photograph behind the object
            rgb = colorsys.hsv_to_rgb(hue / HUES + rng.normal(0, 0.01), rng.uniform(0.75, 1.0), rng.uniform(0.7, 1.0))
            colour = tuple(int(255 * v) for v in rgb[::-1])  # BGR for OpenCV
            _draw(shape, colour, args.size, rng, canvas)
            cv2.imwrite(str(folder / f"{i:04d}.jpg"), canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"wrote {len(pairs)} classes x {args.per_class} images ({len(pairs) * args.per_class}) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
