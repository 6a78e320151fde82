"""Extraction on Dask (1 and 2 workers) against the local loop, and a kill/resume run.

Run from the project root::

    python bench/bench_dask_extract.py speed                 # hsv_hist,hog,lbp at 64x64 on ../shared/data/animals
    python bench/bench_dask_extract.py speed --workers 1,2,4 --repeats 2
    python bench/bench_dask_extract.py resume                # MobileNet 0.25: full run, SIGKILL at ~half, restart

``speed`` runs ``cvtoolkit extract`` as a library call (the same loop) with
no scheduler, then on a ``LocalCluster`` of each ``--workers`` size, and
prints images/s of the extraction itself (the cluster is started before the
clock starts; its start-up time is printed apart), and checks that every
store equals the local one (bitwise, and the largest absolute difference).

Wall-clock figures need idle cores. On a machine shared with other
sessions, Linux's autogroup scheduler gives a session about the same CPU
share however many processes it runs (the Dask workers are in the client's
session), so the script also prints the CPU seconds per image spent by the
client (which hosts the local scheduler) and by the workers: that part does
not depend on the load, and it is what the 1-million-image estimate in
docs/scaling.md is built on.

``resume`` runs the command line in a child process: one uninterrupted run
(timed), then one killed with SIGKILL at about half of that time, then the
restart (timed), and compares the finished store with the uninterrupted one.

Timings depend on the machine's load: on a shared machine, say so next to
the figures (the script prints the load average).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "animals"
DEFAULT_WEIGHTS = ROOT.parent / "shared" / "data" / "weights" / "mobilenet_2_5_224_tf_no_top.h5"


def _compare(a: Path, b: Path) -> str:
    import numpy as np

    from cvtoolkit.io import read_store

    x, y = read_store(a), read_store(b)
    same_meta = x.labels.tolist() == y.labels.tolist() and x.paths == y.paths and x.class_names == y.class_names
    if x.images.shape != y.images.shape:
        return f"DIFFERENT shapes {x.images.shape} vs {y.images.shape}"
    diff = float(np.max(np.abs(x.images.astype(np.float64) - y.images))) if x.images.size else 0.0
    bitwise = bool(np.array_equal(x.images, y.images))
    return (f"{'bitwise equal' if bitwise else 'not bitwise equal'}, max |diff| {diff:.3g}, "
            f"labels/paths/classes {'equal' if same_meta else 'DIFFERENT'}")


def _cpu_self() -> float:
    import resource

    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _worker_cpu(client) -> float:
    """CPU seconds used so far by all worker processes."""
    return float(sum(client.run(_cpu_self).values()))


def speed(args: argparse.Namespace) -> int:
    from cvtoolkit.commands.extract import build_extractor
    from cvtoolkit.features.distributed import dask_client
    from cvtoolkit.features.extraction import extract_to_store

    names = [n.strip() for n in args.features.split(",") if n.strip()]
    workers = [int(w) for w in args.workers.split(",")]
    print(f"extracting {'+'.join(names)} from {args.data} at {args.image_size}x{args.image_size}; local and "
          f"Dask workers {workers}; cpu count {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "local.h5"
        for r in range(args.repeats):
            out = Path(tmp) / f"local-{r}.h5"
            t0, c0 = time.perf_counter(), _cpu_self()
            s = extract_to_store(build_extractor(names, {"n_jobs": 1}), args.data, out, image_size=args.image_size,
                                 batch_size=args.batch_size, max_images=args.max_images, progress=False,
                                 resume=False)
            times.setdefault("local", []).append(time.perf_counter() - t0)
            cpu = _cpu_self() - c0
            rows = s.n_rows
            if r == 0:
                out.rename(ref)
            print(f"  local run {r + 1}: {times['local'][-1]:.1f}s, {rows / times['local'][-1]:.1f} images/s; "
                  f"CPU {1000 * cpu / rows:.2f} ms/image", flush=True)
        for w in workers:
            t0 = time.perf_counter()
            with dask_client(f"local:{w}") as client:
                client.wait_for_workers(w)
                print(f"  LocalCluster of {w} worker(s) started in {time.perf_counter() - t0:.1f}s", flush=True)
                for r in range(args.repeats):
                    out = Path(tmp) / f"dask{w}-{r}.h5"
                    t0, c0, w0 = time.perf_counter(), _cpu_self(), _worker_cpu(client)
                    extract_to_store(build_extractor(names, {"n_jobs": 1}), args.data, out,
                                     image_size=args.image_size, batch_size=args.batch_size,
                                     max_images=args.max_images, progress=False, resume=False, scheduler=client)
                    key = f"dask:{w}"
                    times.setdefault(key, []).append(time.perf_counter() - t0)
                    cpu_c, cpu_w = _cpu_self() - c0, _worker_cpu(client) - w0
                    print(f"  {w} worker(s) run {r + 1}: {times[key][-1]:.1f}s, {rows / times[key][-1]:.1f} images/s;"
                          f" CPU {1000 * cpu_w / rows:.2f} ms/image in workers + {1000 * cpu_c / rows:.2f} in the "
                          f"client; vs local: {_compare(ref, out)}", flush=True)
    print(f"\n{rows} images (median of {args.repeats}):")
    base = statistics.median(times["local"])
    for key, values in times.items():
        med = statistics.median(values)
        print(f"  {key:8s} {med:7.1f}s  {rows / med:7.1f} images/s  speed-up vs local {base / med:4.2f}x")
    return 0


def _cli(args: argparse.Namespace, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "cvtoolkit", "extract", "--dataset", args.data, "--features", args.features,
           "--out", str(out), "--quiet", "--batch-size", str(args.batch_size)]
    if args.features.startswith("mobilenet"):
        cmd += ["--alpha", str(args.alpha), "--weights", args.weights]
    if args.image_size:
        cmd += ["--image-size", str(args.image_size)]
    if args.scheduler:
        cmd += ["--scheduler", args.scheduler]
    return cmd


def resume(args: argparse.Namespace) -> int:
    import h5py

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    print(f"kill/resume of {args.features} on {args.data}; load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        full, out = Path(tmp) / "full.h5", Path(tmp) / "resumed.h5"
        t0 = time.perf_counter()
        subprocess.run(_cli(args, full), check=True, env=env, stdout=subprocess.DEVNULL)
        t_full = time.perf_counter() - t0
        print(f"  uninterrupted run: {t_full:.1f}s", flush=True)
        t0 = time.perf_counter()
        child = subprocess.Popen(_cli(args, out), env=env, stdout=subprocess.DEVNULL)
        try:
            child.wait(timeout=t_full * args.kill_at)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait()
        else:
            print("  the run finished before it was killed; use a larger dataset or a smaller --kill-at")
            return 1
        t_killed = time.perf_counter() - t0
        with h5py.File(f"{out}.partial", "r") as f:
            done = int(f.attrs["rows_committed"])
        print(f"  killed with SIGKILL after {t_killed:.1f}s: {done} rows committed; {out.name} exists: {out.exists()}",
              flush=True)
        t0 = time.perf_counter()
        subprocess.run(_cli(args, out), check=True, env=env, stdout=subprocess.DEVNULL)
        t_restart = time.perf_counter() - t0
        print(f"  restart: {t_restart:.1f}s ({t_restart / t_full:.0%} of the uninterrupted run)")
        print(f"  finished store vs uninterrupted: {_compare(full, out)}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["speed", "resume"])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="class-per-folder dataset")
    parser.add_argument("--features", default=None,
                        help="comma list (default hsv_hist,hog,lbp for speed, mobilenet for resume)")
    parser.add_argument("--image-size", type=int, default=None, help="default 64 for speed, native for resume")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--workers", default="1,2", help="speed: comma list of LocalCluster sizes")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--alpha", type=float, default=0.25, help="resume: MobileNet width")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="resume: MobileNet weights file")
    parser.add_argument("--scheduler", default=None, help="resume: run the command on this scheduler")
    parser.add_argument("--kill-at", type=float, default=0.5, help="resume: kill after this share of the full time")
    args = parser.parse_args(argv)
    if args.mode == "speed":
        args.features = args.features or "hsv_hist,hog,lbp"
        args.image_size = args.image_size or 64
        return speed(args)
    args.features = args.features or "mobilenet"
    return resume(args)


if __name__ == "__main__":
    sys.exit(main())
