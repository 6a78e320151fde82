"""Benchmark: the toolkit's training overhead, and HDF5-fed against in-memory training.

Three ways to train the same network (same seed, optimizer, data, batch size
and epochs), timed in alternating order so that load drifts hit all of them:

- ``plain``: ``model.fit(x / 255, y, ...)`` on a float32 array (scaled
  beforehand, outside the timer);
- ``toolkit``: :func:`cvtoolkit.train.fit` on the ``uint8`` arrays (it
  scales them, inside the timer);
- ``hdf5``: :func:`cvtoolkit.train.fit` on the same training images
  written to a temporary HDF5 store (streamed by ``HDF5Batches``).

It reports the median wall time of each and the ratios toolkit/plain
(target <= 1.05) and hdf5/toolkit (target <= 1.25), and the same for the
process CPU time (steadier than wall time on a shared machine). Every run
builds a fresh model, so graph tracing is part of every run alike.

Usage::

    python bench/bench_training.py                       # Animals 32x32 if found, else synthetic
    python bench/bench_training.py --dataset ../shared/data/animals --model shallownet \\
        --epochs 3 --repeats 3 --json bench/results/training.json
    python bench/bench_training.py --synthetic 3000      # generated images, no files needed
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "data" / "animals"

TARGETS = {"toolkit/plain": 1.05, "hdf5/toolkit": 1.25}


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    if args.synthetic:
        rng = np.random.default_rng(0)
        n = int(args.synthetic)
        y = np.arange(n) % 3
        x = rng.integers(0, 256, (n, args.image_size, args.image_size, 3), dtype=np.uint8)
        return x, y, f"synthetic {n}x{args.image_size}x{args.image_size}x3"
    from cvtoolkit.data import load_dataset
    from cvtoolkit.data.split import stratified_split

    ds = load_dataset(args.dataset, image_size=args.image_size, progress=False)
    train_idx, _ = stratified_split(ds.labels, test_size=0.25, seed=42)
    size = f"{args.image_size}x{args.image_size}"
    return ds.images[train_idx], ds.labels[train_idx], f"{args.dataset} (train split, {size})"


def build(args: argparse.Namespace, input_shape, classes):
    import keras

    from cvtoolkit.nn import build_model

    keras.utils.set_random_seed(0)
    model = build_model(args.model, input_shape=input_shape, classes=classes)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET), help="image folder (default: shared Animals)")
    parser.add_argument("--synthetic", type=int, default=None, metavar="N", help="use N generated images instead")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--model", default="shallownet")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7,
                        help="timed runs of each variant (default 7: single fits swing +-20%% on 2 CPU cores, "
                             "so fewer repeats cannot resolve the 5%% target)")
    parser.add_argument("--workers", type=int, default=None, help="HDF5Batches workers (default: fit's default)")
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if not args.synthetic and not Path(args.dataset).is_dir():
        print(f"{args.dataset} not found; using synthetic data", file=sys.stderr)
        args.synthetic = 3000

    import keras

    from cvtoolkit.io import HDF5Writer
    from cvtoolkit.train import fit

    x, y, what = load_data(args)
    classes = int(y.max()) + 1
    x_float = x.astype(np.float32) / np.float32(255.0)
    tmpdir = tempfile.mkdtemp(prefix="bench_training_")
    store = Path(tmpdir) / "train.h5"
    with HDF5Writer(store, kind="images", sample_shape=x.shape[1:], dtype="uint8",
                    class_names=[str(c) for c in range(classes)]) as writer:
        writer.add(x, y)

    def timed(train):
        # Drop the previous run's model and graphs outside the timer.
        keras.backend.clear_session()
        gc.collect()
        model = build(args, x.shape[1:], classes)
        wall, cpu = time.perf_counter(), time.process_time()
        train(model)
        return time.perf_counter() - wall, time.process_time() - cpu

    def run_plain():
        return timed(lambda m: m.fit(x_float, y, batch_size=args.batch_size, epochs=args.epochs, shuffle=True,
                                     verbose=0))

    def run_toolkit():
        return timed(lambda m: fit(m, (x, y), batch_size=args.batch_size, epochs=args.epochs, verbose=0))

    def run_hdf5():
        return timed(lambda m: fit(m, store, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
                                   workers=args.workers))

    variants = {"plain": run_plain, "toolkit": run_toolkit, "hdf5": run_hdf5}
    print(f"data: {what}: {len(x)} images; model {args.model}, {args.epochs} epochs, batch {args.batch_size}, "
          f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs")
    print("warm-up (not timed) ...", flush=True)
    for fn in variants.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(args.repeats):
        order = names[r % len(names):] + names[: r % len(names)]  # rotate who goes first
        for name in order:
            wall, used = variants[name]()
            times[name].append(wall)
            cpu[name].append(used)
            print(f"  run {r + 1} {name:8s} {wall:7.2f} s wall {used:7.2f} s CPU", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}

    def ratio_of(m):
        return {"toolkit/plain": m["toolkit"] / m["plain"], "hdf5/toolkit": m["hdf5"] / m["toolkit"]}

    ratios, ratios_cpu = ratio_of(med), ratio_of(med_cpu)
    print()
    print(f"{'variant':10s} {'median wall s':>14s} {'median CPU s':>13s}   wall of each run")
    for k in names:
        print(f"{k:10s} {med[k]:14.2f} {med_cpu[k]:13.2f}   {' '.join(f'{t:.2f}' for t in times[k])}")
    ok = True
    for k, v in ratios.items():
        passed = v <= TARGETS[k]
        ok &= passed
        print(f"{k:14s} wall {v:.3f}  CPU {ratios_cpu[k]:.3f}  "
              f"(target <= {TARGETS[k]:.2f} wall: {'ok' if passed else 'MISSED'})")
    if args.json:
        from cvtoolkit.io import write_json_atomic

        write_json_atomic(args.json, {
            "data": what, "n_images": len(x), "model": args.model, "epochs": args.epochs,
            "batch_size": args.batch_size, "backend": keras.backend.backend(), "cpus": os.cpu_count(),
            "times_s": times, "cpu_s": cpu, "median_s": med, "median_cpu_s": med_cpu,
            "ratios": ratios, "ratios_cpu": ratios_cpu, "targets": TARGETS,
        })
    store.unlink(missing_ok=True)
    os.rmdir(tmpdir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
