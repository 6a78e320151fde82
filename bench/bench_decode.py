"""Benchmark: decoding a JPEG folder with ``load_dataset`` against plain code.

Times, on the same files and in the same run, with the methods alternated in
each repeat (so a change in the machine's load hits all of them alike):

- ``toolkit``: ``cvtoolkit.data.load_dataset(folder, image_size=S)`` (listing,
  reduced-scale JPEG decoding, area resize, threads: the default ``n_jobs``);
- ``toolkit-1thread``: the same with ``n_jobs=1`` (what the threads add);
- ``cv2``: a plain one-thread loop, ``cv2.imread`` + ``cv2.resize(INTER_AREA)``
  + ``cv2.cvtColor`` to RGB (the output the toolkit gave before reduced decoding);
- ``tf.data``: ``tf.io.decode_jpeg(ratio=R)`` + ``tf.image.resize(method="area")``
  mapped with ``num_parallel_calls=AUTOTUNE`` (R: the largest of 1, 2, 4, 8 that
  keeps the median image at least twice the target; TensorFlow is imported
  before the clock starts).

It prints, per size, the median seconds and images/s of each method, the ratio
of the toolkit's speed to each reference (median of the per-repeat ratios, with
their min and max), CPU/wall (above 1: threads overlap; on a machine busy
with other sessions, Linux gives this session about one share of the CPUs
however many threads it runs, so threads cannot show there), CPU
milliseconds per image (the work, whatever the load), and how far the
toolkit's pixels are from the plain loop's (mean and largest absolute
difference, 0-255). Ratios from alternated repeats hold on a busy machine;
absolute images/s do not.

Usage::

    python bench/bench_decode.py                        # ../shared/data/animals, 32 and 128, 5 repeats
    python bench/bench_decode.py --sizes 32 --repeats 9 --methods toolkit,cv2
    python bench/bench_decode.py --json bench/results/decode.json

Targets (issue 14): at 32x32 at least 1.5x the plain cv2 loop, at 128x128 at least 1.2x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

# ../shared/data from the project root (the first parent folder that has one)
from _paths import SHARED  # noqa: E402  (bench/ is on sys.path when a script runs)
DEFAULT_DATASET = SHARED / "animals"
TARGETS = {32: 1.5, 128: 1.2}


def list_files(root: Path) -> list[str]:
    """Every file under the class folders, sorted (as the toolkit's listing)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        files.extend(os.path.join(dirpath, f) for f in sorted(filenames) if not f.startswith("."))
    return sorted(files)


def run_toolkit(root: Path, size: int, n_jobs: int | None = None) -> np.ndarray:
    from cvtoolkit.data import load_dataset

    return load_dataset(str(root), image_size=size, n_jobs=n_jobs, progress=False).images


def run_cv2(root: Path, size: int) -> np.ndarray:
    out = []
    for path in list_files(root):
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        out.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    return np.stack(out)


def make_tfdata(root: Path, size: int, ratio: int):
    import tensorflow as tf

    paths = list_files(root)

    def decode(path):
        img = tf.io.decode_jpeg(tf.io.read_file(path), channels=3, ratio=ratio)
        return tf.cast(tf.round(tf.image.resize(img, (size, size), method="area")), tf.uint8)

    def run(_root: Path, _size: int) -> np.ndarray:
        ds = tf.data.Dataset.from_tensor_slices(paths).map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(256)
        return np.concatenate([b.numpy() for b in ds])

    return run


def tf_ratio(root: Path, size: int) -> int:
    """Largest of 1, 2, 4, 8 keeping the median image at least twice ``size`` on its short side."""
    import simplejpeg

    sides = [min(simplejpeg.decode_jpeg_header(Path(p).read_bytes())[:2]) for p in list_files(root)[::20]]
    short = statistics.median(sides)
    return max([r for r in (1, 2, 4, 8) if short / r >= 2 * size] or [1])


def timed(fn, *args) -> tuple[float, float, np.ndarray]:
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn(*args)
    wall = time.perf_counter() - t0
    return wall, (time.process_time() - c0) / wall, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET))
    parser.add_argument("--sizes", default="32,128")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--methods", default="toolkit,toolkit-1thread,cv2,tf.data")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--margin", type=float, default=None,
                        help="override cvtoolkit.data.image_io.REDUCED_DECODE_MARGIN (to weigh speed against pixels)")
    args = parser.parse_args(argv)
    if args.margin is not None:
        import cvtoolkit.data.image_io as image_io

        image_io.REDUCED_DECODE_MARGIN = args.margin
    root = Path(args.dataset)
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    n_files = len(list_files(root))
    from cvtoolkit.data.image_io import REDUCED_DECODE_MARGIN

    print(f"{root}: {n_files} files; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; "
          f"reduced-decode margin {REDUCED_DECODE_MARGIN}")
    results = {}
    for size in sizes:
        runners = {"toolkit": lambda r, s: run_toolkit(r, s), "toolkit-1thread": lambda r, s: run_toolkit(r, s, 1),
                   "cv2": run_cv2}
        if "tf.data" in methods:
            ratio = tf_ratio(root, size)
            runners["tf.data"] = make_tfdata(root, size, ratio)
            print(f"size {size}: tf.data decode_jpeg ratio={ratio}")
        outputs = {m: runners[m](root, size) for m in methods}  # warm-up (imports, graph building, file cache)
        walls: dict[str, list[float]] = {m: [] for m in methods}
        cpus: dict[str, list[float]] = {m: [] for m in methods}
        for rep in range(args.repeats):
            order = methods if rep % 2 == 0 else methods[::-1]
            for m in order:
                wall, cpu, _ = timed(runners[m], root, size)
                walls[m].append(wall)
                cpus[m].append(cpu)
        row = {"size": size, "repeats": args.repeats, "load_average": os.getloadavg()[0], "methods": {}}
        print(f"\n{size}x{size}, {args.repeats} alternated repeats (median seconds; images/s; CPU/wall):")
        for m in methods:
            med = statistics.median(walls[m])
            cpu_ms = statistics.median(w * c for w, c in zip(walls[m], cpus[m])) / n_files * 1e3
            row["methods"][m] = {"median_s": med, "images_per_s": n_files / med,
                                 "cpu_per_wall": statistics.median(cpus[m]), "cpu_ms_per_image": cpu_ms,
                                 "walls": walls[m]}
            print(f"  {m:16s} {med:7.3f} s  {n_files / med:7.0f} img/s  CPU/wall {statistics.median(cpus[m]):.2f}"
                  f"  CPU {cpu_ms:.3f} ms/img")
        if "toolkit" in methods:
            for ref in [m for m in methods if m != "toolkit"]:
                ratios = [b / a for a, b in zip(walls["toolkit"], walls[ref])]
                med = statistics.median(ratios)
                row["methods"][ref]["toolkit_speedup"] = {"median": med, "min": min(ratios), "max": max(ratios)}
                target = f" (target {TARGETS[size]}x)" if ref == "cv2" and size in TARGETS else ""
                print(f"  toolkit / {ref}: {med:.2f}x faster (per-repeat min {min(ratios):.2f}, max {max(ratios):.2f})"
                      f"{target}")
            for ref in ("cv2", "tf.data"):
                if ref in outputs and outputs[ref].shape == outputs["toolkit"].shape:
                    d = np.abs(outputs["toolkit"].astype(np.int16) - outputs[ref].astype(np.int16))
                    row["methods"][ref]["pixel_diff"] = {"mean": float(d.mean()), "max": int(d.max())}
                    print(f"  pixels, toolkit vs {ref}: mean abs diff {d.mean():.3f}, max {d.max()} (0-255)")
        results[size] = row
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
