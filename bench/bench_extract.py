"""Speed of ``cvtoolkit extract`` with 1 and more processes (``--n-jobs``).

Run from the project root::

    python bench/bench_extract.py                        # ../shared/data/animals, hsv_hist,hog,lbp, --n-jobs 1,2
    python bench/bench_extract.py --data datasets/flowers17 --jobs 1,2,4 --repeats 5
    python bench/bench_extract.py --library              # extract_to_store() in this process instead

By default each run is a fresh ``python -m cvtoolkit extract`` command, as a
user runs it; the settings alternate so that background load hits them
alike. It prints, per ``--n-jobs`` value, the medians of

- the extraction's own time and images/s, as the command reports them and
  records in the store (``seconds``, ``images_per_second`` attributes):
  listing, decoding, describing and writing; target: ``--n-jobs 2`` at
  least 1.6x the speed of ``--n-jobs 1`` for HSV histogram + HOG + LBP on
  the 3000 Animals images;
- the whole command's wall time, which adds the interpreter's start and
  imports (about a second, the same for every ``--n-jobs``, so it dilutes
  the ratio).

``--library`` times :func:`cvtoolkit.features.extract_to_store` called in
this process instead, with its workers started afresh each run (as a
script calling it once would), or kept warm with ``--keep-workers`` (as a
notebook calling it repeatedly would).

Wall-clock speed-ups need idle cores: on a machine saturated by other
work, Linux's autogroup scheduler gives a session the same CPU share
however many processes it runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "animals"
TARGET = 1.6


def _run_command(args: argparse.Namespace, n_jobs: int, out: Path) -> tuple[float, float, int]:
    """(extraction seconds, whole-command seconds, rows) of one fresh ``cvtoolkit extract``."""
    import h5py

    cmd = [sys.executable, "-m", "cvtoolkit", "extract", "--dataset", args.data, "--features", args.features,
           "--out", str(out), "--n-jobs", str(n_jobs), "--batch-size", str(args.batch_size), "--quiet",
           "--no-resume"]
    if args.image_size:
        cmd += ["--image-size", str(args.image_size)]
    if args.max_images:
        cmd += ["--max-images", str(args.max_images)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    with h5py.File(out, "r") as f:
        return float(f.attrs["seconds"]), wall, int(f.attrs["n_rows"])


def _run_library(args: argparse.Namespace, n_jobs: int, out: Path) -> tuple[float, float, int]:
    """(extraction seconds, the same, rows) of one :func:`extract_to_store` call in this process."""
    from cvtoolkit.commands.extract import build_extractor
    from cvtoolkit.features.extraction import extract_to_store
    from cvtoolkit.parallel import stop_workers

    names = [n.strip() for n in args.features.split(",") if n.strip()]
    t0 = time.perf_counter()
    summary = extract_to_store(build_extractor(names, {"n_jobs": 1}), args.data, out,
                               image_size=args.image_size, batch_size=args.batch_size, n_jobs=n_jobs,
                               max_images=args.max_images, progress=False, resume=False)
    seconds = time.perf_counter() - t0
    if not args.keep_workers:
        stop_workers()  # as a script calling it once: the workers start afresh next run
    return seconds, seconds, summary.n_rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="dataset spec (default ../shared/data/animals)")
    parser.add_argument("--features", default="hsv_hist,hog,lbp", help="comma list of descriptor names")
    parser.add_argument("--jobs", default="1,2", help="comma list of --n-jobs values; the first is the "
                                                       "reference (default 1,2)")
    parser.add_argument("--image-size", type=int, default=None, help="resize when decoding (default: native)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5, help="runs per setting; medians are reported (default 5)")
    parser.add_argument("--library", action="store_true",
                        help="time extract_to_store() in this process instead of whole commands")
    parser.add_argument("--keep-workers", action="store_true",
                        help="with --library: reuse warm workers between runs instead of starting them each run")
    args = parser.parse_args(argv)

    jobs = [int(j) for j in args.jobs.split(",")]
    mode = "extract_to_store() in this process" if args.library else "fresh `cvtoolkit extract` commands"
    print(f"extracting {args.features} from {args.data} (image size {args.image_size or 'native'}); {mode}; "
          f"--n-jobs {jobs}; {args.repeats} repeat(s); cpu count {os.cpu_count()}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    extraction: dict[int, list[float]] = {j: [] for j in jobs}
    whole: dict[int, list[float]] = {j: [] for j in jobs}
    rows = 0
    run = _run_library if args.library else _run_command
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for j in jobs:
                seconds, wall, rows = run(args, j, Path(tmp) / f"f{j}-{r}.h5")
                extraction[j].append(seconds)
                whole[j].append(wall)
                print(f"  --n-jobs {j} run {r + 1}: extraction {seconds:.2f}s ({rows / seconds:.0f} images/s)"
                      + ("" if args.library else f", whole command {wall:.2f}s"), flush=True)
    print(f"\n{rows} images, medians of {args.repeats}:")
    ref = jobs[0]
    for j in jobs:
        ext, cmd = statistics.median(extraction[j]), statistics.median(whole[j])
        line = (f"  --n-jobs {j}: extraction {ext:6.2f}s {rows / ext:7.1f} images/s  "
                f"speed-up {statistics.median(extraction[ref]) / ext:4.2f}x")
        if not args.library:
            line += f" | whole command {cmd:6.2f}s  speed-up {statistics.median(whole[ref]) / cmd:4.2f}x"
        print(line)
    if 1 in jobs and 2 in jobs:
        ratio = statistics.median(extraction[1]) / statistics.median(extraction[2])
        print(f"target: extraction with --n-jobs 2 >= {TARGET}x the speed of --n-jobs 1: {ratio:.2f}x "
              f"{'PASS' if ratio >= TARGET else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
