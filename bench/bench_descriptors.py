"""Images per second of every descriptor, and the speed targets against scikit-image.

Run from the project root::

    python bench/bench_descriptors.py                      # real images from ../shared/data/animals
    python bench/bench_descriptors.py --data none --n 300  # generated images, no data needed

What it measures (one process, one core for everyone: OpenCV's thread pool
is set to 1 thread unless ``--cv-threads`` says otherwise):

- images/s of each registered descriptor on 64x64 RGB images (median of
  ``--repeats`` runs);
- HOG target: ``HOG(size=64)`` (NumPy batch path, scikit-image compatible)
  on 64x64 grey images against a per-image ``skimage.feature.hog`` loop
  with the same parameters (target: at least 8x);
- LBP targets: ``LBP(P, R)`` uniform histograms on 64x64 grey images
  against per-image ``skimage.feature.local_binary_pattern`` +
  ``np.histogram`` (P=8, R=1 and P=24, R=3; target: at least 3x).

The reference and the candidate are timed alternately, repeat after repeat,
so that a machine loaded by other work slows both alike; each ratio is the
median of the per-repeat ratios.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "animals"


def load_images(data: str, n: int, size: int, seed: int = 0) -> np.ndarray:
    """``n`` RGB images of ``size`` x ``size``: real ones from a folder, or smooth noise."""
    import cv2

    if data != "none":
        paths = sorted(glob.glob(os.path.join(data, "*", "*")))
        if paths:
            rng = np.random.default_rng(seed)
            chosen = rng.choice(len(paths), size=min(n, len(paths)), replace=False)
            out = []
            for i in chosen:
                img = cv2.imread(paths[i], cv2.IMREAD_COLOR)
                if img is not None:
                    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
                    out.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            if out:
                return np.stack(out)
        print(f"no images under {data}; using generated images", file=sys.stderr)
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (n * size, size, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (5, 5), 0).reshape(n, size, size, 3)


def timed(func, *args) -> float:
    t0 = time.perf_counter()
    func(*args)
    return time.perf_counter() - t0


def images_per_second(func, images, repeats: int) -> float:
    func(images[:8])  # warm up (imports, caches)
    return statistics.median(len(images) / timed(func, images) for _ in range(repeats))


def paired_ratio(reference, candidate, images, repeats: int) -> tuple[float, float, float]:
    """(median reference images/s, median candidate images/s, median per-repeat speed ratio)."""
    reference(images[:4])
    candidate(images[:4])
    ref, cand, ratios = [], [], []
    for _ in range(repeats):
        r = timed(reference, images)
        c = timed(candidate, images)
        ref.append(len(images) / r)
        cand.append(len(images) / c)
        ratios.append(r / c)
    return statistics.median(ref), statistics.median(cand), statistics.median(ratios)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA),
                        help="class-per-folder images to sample (default ../shared/data/animals); 'none': generated")
    parser.add_argument("--n", type=int, default=500, help="images per measurement (default 500)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats; medians are reported (default 5)")
    parser.add_argument("--cv-threads", type=int, default=1, help="OpenCV threads (default 1: single core)")
    parser.add_argument("--skip-all", action="store_true", help="only the target ratios, not every descriptor")
    args = parser.parse_args(argv)

    import cv2
    from skimage.feature import hog as sk_hog
    from skimage.feature import local_binary_pattern

    from cvtoolkit.features import FEATURES, HOG, LBP, make_features
    from cvtoolkit.features.base import to_gray

    cv2.setNumThreads(args.cv_threads)
    rgb = load_images(args.data, args.n, 64)
    grey = to_gray(rgb)
    print(f"{len(rgb)} images 64x64 from {args.data}; {args.repeats} repeats; OpenCV threads {args.cv_threads}; "
          f"cpu count {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")

    if not args.skip_all:
        print("\nimages/s per descriptor (64x64 RGB input, n_jobs=1):")
        rows = [(name, make_features(name)) for name in FEATURES if name in (
            "raw", "color_stats", "hsv_hist", "hog", "lbp", "hu", "haralick", "combined")]
        rows.append(("hog (method=opencv)", HOG(method="opencv")))
        rows.append(("hog (method=skimage)", HOG(method="skimage")))
        rows.append(("lbp P=8 R=1", LBP(P=8, R=1)))
        for name, est in rows:
            ips = images_per_second(est.transform, rgb, args.repeats)
            print(f"  {name:24s} {ips:10.0f} images/s   ({est.n_features_out if hasattr(est, 'n_features_out') else len(est.get_feature_names_out())} values)")

    print("\ntargets (64x64 grey input, reference and candidate timed alternately):")
    results = []

    def sk_hog_loop(images):
        return np.stack([sk_hog(im, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(3, 3),
                                block_norm="L2-Hys") for im in images])

    for label, est in (("HOG numpy batch", HOG(size=64)), ("HOG opencv (not skimage-compatible)",
                                                             HOG(size=64, method="opencv"))):
        ref, cand, ratio = paired_ratio(sk_hog_loop, est.transform, grey, args.repeats)
        target = 8.0 if "numpy" in label else None
        results.append((f"{label} vs skimage.feature.hog loop", ref, cand, ratio, target))

    for P, R in ((8, 1), (24, 3)):
        def sk_lbp_loop(images, P=P, R=R):
            return np.stack([np.histogram(local_binary_pattern(im, P, R, "uniform"), bins=P + 2,
                                          range=(0, P + 2))[0] for im in images])

        ref, cand, ratio = paired_ratio(sk_lbp_loop, LBP(P=P, R=R).transform, grey, args.repeats)
        results.append((f"LBP uniform P={P} R={R} vs skimage LBP + np.histogram loop", ref, cand, ratio, 3.0))

    for label, ref, cand, ratio, target in results:
        verdict = "" if target is None else (f"  target >= {target:g}x: " + ("PASS" if ratio >= target else "FAIL"))
        print(f"  {label}\n      reference {ref:8.0f} images/s   cvtoolkit {cand:8.0f} images/s   "
              f"ratio {ratio:5.1f}x{verdict}")
    return 0 if all(t is None or r >= t for *_, r, t in results) else 1


if __name__ == "__main__":
    sys.exit(main())
