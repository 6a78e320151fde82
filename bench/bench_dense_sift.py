"""Dense SIFT speed: cvtoolkit's DenseSIFT against a plain per-image OpenCV loop over the same grid.

Run from the project root::

    python bench/bench_dense_sift.py                  # ../shared/data/flowers17, 2 threads
    python bench/bench_dense_sift.py --n 200 --repeats 5 --jobs 2

Both sides describe the same images (decoded once, longer side at most 300
px) on the same multi-scale grid (16/24/32-px patches every 8 px), with the
same number of threads over images (joblib, threads: OpenCV releases the GIL):

- reference: for every image, for every patch size, ``cv2.SIFT_create().compute``
  on that size's grid keypoints (the plain loop one would write);
- candidate: ``DenseSIFT(...).describe`` (grey), which describes all scales in
  one call, and its opponent-colour variant (three channels, for information).

They are timed alternately, repeat after repeat; the ratio is the median of the
per-repeat ratios (reference seconds / candidate seconds: above 1 is faster).
"""

from __future__ import annotations

import argparse
import glob
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _paths import SHARED  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED / "flowers17"), help="image folder (searched recursively)")
    parser.add_argument("--n", type=int, default=300, help="images")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="threads over images, both sides")
    args = parser.parse_args()

    import cv2
    from joblib import Parallel, delayed

    from cvtoolkit.data import read_image
    from cvtoolkit.features.dense import DenseSIFT, grid_keypoints

    paths = sorted(glob.glob(f"{args.data}/**/*.jpg", recursive=True))[: args.n]
    if not paths:
        print(f"no .jpg files under {args.data}", file=sys.stderr)
        return 2
    images = [read_image(p, max_side=300) for p in paths]
    sizes = (16, 24, 32)
    cv2.setNumThreads(1)

    def plain(image):
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        sift = cv2.SIFT_create()
        out = []
        for patch in sizes:
            kps = grid_keypoints(*grey.shape, patch_sizes=(patch,), step=8)
            out.append(sift.compute(grey, kps)[1])
        return np.concatenate(out)

    grey = DenseSIFT(sizes, 8, max_side=300)
    colour = DenseSIFT(sizes, 8, max_side=300, color="opponent")

    def run(function):
        t0 = time.perf_counter()
        results = Parallel(n_jobs=args.jobs, prefer="threads")(delayed(function)(im) for im in images)
        return time.perf_counter() - t0, results

    _, ref = run(plain)
    _, got = run(lambda im: grey.describe(im)[0])
    assert all(len(a) == len(b) for a, b in zip(ref, got)), "the two sides describe different grids"
    times: dict[str, list[float]] = {"plain OpenCV loop": [], "DenseSIFT grey": [], "DenseSIFT opponent": []}
    for _ in range(args.repeats):
        times["plain OpenCV loop"].append(run(plain)[0])
        times["DenseSIFT grey"].append(run(lambda im: grey.describe(im))[0])
        times["DenseSIFT opponent"].append(run(lambda im: colour.describe(im))[0])
    n = len(images)
    print(f"{n} images from {args.data} (longer side <= 300 px), {args.jobs} threads, {args.repeats} repeats, "
          f"{len(ref[0])} descriptors in the first image")
    for name, values in times.items():
        print(f"{name:>20}: {n / statistics.median(values):8.1f} images/s (median)")
    ratios = [a / b for a, b in zip(times["plain OpenCV loop"], times["DenseSIFT grey"])]
    print(f"DenseSIFT grey / plain loop speed: {statistics.median(ratios):.2f}x (median of per-repeat ratios; "
          f"min {min(ratios):.2f}, max {max(ratios):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
