"""Speed of feature extraction to HDF5 with 1 and more worker processes.

Run from the project root::

    python bench/bench_extract.py                                   # ../shared/data/animals, hsv_hist,hog,lbp
    python bench/bench_extract.py --data datasets/flowers17 --jobs 1,2,4 --repeats 2

It runs :func:`cvtoolkit.features.extract_to_store`, the loop behind
``cvtoolkit extract`` (decode, describe, write, chunk by chunk), once per
``--jobs`` value and repeat, alternating the settings so that background
load hits them alike, and prints the median wall time, images/s and the
speed-up over one process (target: ``--n-jobs 2`` at least 1.6x of
``--n-jobs 1`` for HSV histogram + HOG + LBP on the 3000 Animals images).
The command line itself only adds its start-up time (imports) on top.

Wall-clock speed-ups need idle cores: on a machine saturated by other
sessions, Linux's autogroup scheduler gives a session the same CPU share
however many processes it runs, so the CPU seconds printed per run are the
load-independent part of the picture.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "animals"


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="class-per-folder dataset (default ../shared/data/animals)")
    parser.add_argument("--features", default="hsv_hist,hog,lbp", help="comma list of descriptor names")
    parser.add_argument("--jobs", default="1,2", help="comma list of --n-jobs values (default 1,2)")
    parser.add_argument("--image-size", type=int, default=None, help="resize when decoding (default: native)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting; medians are reported")
    parser.add_argument("--keep-workers", action="store_true",
                        help="reuse warm worker processes between runs (a long-lived session) instead of starting "
                             "them each run (a fresh command)")
    args = parser.parse_args(argv)

    from joblib.externals.loky import get_reusable_executor

    from cvtoolkit.commands.extract import build_extractor
    from cvtoolkit.features.extraction import extract_to_store

    jobs = [int(j) for j in args.jobs.split(",")]
    names = [n.strip() for n in args.features.split(",") if n.strip()]
    print(f"extracting {'+'.join(names)} from {args.data} (image size {args.image_size or 'native'}); "
          f"jobs {jobs}; {args.repeats} repeat(s); cpu count {os.cpu_count()}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    times: dict[int, list[float]] = {j: [] for j in jobs}
    rows = 0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for j in jobs:
                extractor = build_extractor(names, {"n_jobs": 1})
                cpu0 = _cpu_seconds()
                t0 = time.perf_counter()
                summary = extract_to_store(extractor, args.data, Path(tmp) / f"f{j}-{r}.h5",
                                           image_size=args.image_size, batch_size=args.batch_size, n_jobs=j,
                                           max_images=args.max_images, progress=False)
                times[j].append(time.perf_counter() - t0)
                if not args.keep_workers:
                    get_reusable_executor().shutdown(wait=True)  # as a fresh command: workers start each run
                cpu = _cpu_seconds() - cpu0
                rows = summary.n_rows
                where = "this process" if args.keep_workers else "all processes"  # warm workers are not reaped yet
                print(f"  n_jobs={j} run {r + 1}: {times[j][-1]:.1f}s ({rows / times[j][-1]:.0f} images/s, "
                      f"{summary.n_features} features; CPU {cpu:.1f}s in {where})", flush=True)
    base = statistics.median(times[jobs[0]])
    print(f"\n{rows} images:")
    for j in jobs:
        med = statistics.median(times[j])
        print(f"  --n-jobs {j}: {med:7.1f}s  {rows / med:7.1f} images/s  speed-up {base / med:4.2f}x")
    if 1 in times and 2 in times:
        speedup = statistics.median(times[1]) / statistics.median(times[2])
        print(f"target --n-jobs 2 >= 1.6x --n-jobs 1: {speedup:.2f}x {'PASS' if speedup >= 1.6 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
