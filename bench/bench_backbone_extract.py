"""Benchmark: backbone extraction end to end against the forward passes alone (Keras and ONNX Runtime).

Four timings of the same images, alternated in one process (A B C D A B C
D ...) so that their ratios hold while the machine is busy; medians are
printed with the load average, and this process's CPU time per image
(all its threads), which a busy machine disturbs much less than the rates:

- ``extract``: the whole extraction of the image folder into an HDF5 store,
  as ``cvtoolkit extract --features mobilenet --alpha 0.25 --weights W
  --no-flip-average`` runs it (listing, model, decoding in a thread,
  forward passes through ONNX Runtime, writes). The ONNX model is converted
  once before the timings (the cache is a temporary folder), as a second run
  of the command finds it cached;
- ``extract (before)``: the same extraction as the code before issue 19 ran
  it: Keras forward passes, files decoded at their own size and resized in
  the forward passes' thread (``CVTOOLKIT_BACKBONE_RUNTIME=keras`` and no
  decoding size hint); the baseline of the 2x target;
- ``extract (keras)`` (``--keras-extract``): the extraction of today's code
  without onnxruntime (Keras forward passes, decoding to the input size);
- ``keras forward``: ``model.predict_on_batch`` in batches of 32 on the
  images already decoded and resized into one ``float32`` array;
- ``onnx forward``: ONNX Runtime's session (the cached conversion, the
  session settings extraction uses) on the same array.

Targets of issue 19: ``extract`` at least 2x ``extract (before)`` and at
least 0.8x ``onnx forward``.

Usage::

    python bench/bench_backbone_extract.py                     # 1000 Animals images, 3 repeats
    python bench/bench_backbone_extract.py --images 3000 --repeats 3 --json /tmp/extract.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cvtoolkit._quiet import quiet_tensorflow_import  # noqa: E402

quiet_tensorflow_import()

import numpy as np  # noqa: E402

from _paths import SHARED  # noqa: E402  (bench/ is on sys.path when a script runs)


@contextlib.contextmanager
def _env(name: str, value: str | None):
    old = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(SHARED / "animals"))
    parser.add_argument("--weights", default=str(SHARED / "weights" / "mobilenet_2_5_224_tf_no_top.h5"))
    parser.add_argument("--images", type=int, default=1000, help="seeded subset, as extract --max-images")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-before", action="store_true", help="leave out the extraction as before issue 19")
    parser.add_argument("--keras-extract", action="store_true",
                        help="also time the extraction in Keras (the fallback without onnxruntime)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    cache = tempfile.TemporaryDirectory(prefix="bench-onnx-")  # removed at exit
    os.environ["CVTOOLKIT_CACHE_DIR"] = cache.name

    from cvtoolkit.data import list_image_folder, load_images
    from cvtoolkit.features.extraction import extract_to_store
    from cvtoolkit.transfer import onnx_runtime
    from cvtoolkit.transfer.features import BackboneFeatures

    class Before(BackboneFeatures):
        """As before issue 19: no decoding size hint (files decoded at their own size, resized here)."""

        preferred_image_size = None

    paths = list(list_image_folder(args.dataset).paths)
    order = np.arange(len(paths))
    if args.images < len(paths):  # the subset extract_to_store(max_images=, seed=42) describes
        order = np.sort(np.random.default_rng(42).choice(len(paths), size=args.images, replace=False))
    t = time.perf_counter()
    images, kept, _ = load_images([paths[i] for i in order], image_size=224, progress=False)
    X = images.astype(np.float32)
    n = len(X)
    print(f"preloaded {n} images at 224x224 in {time.perf_counter() - t:.1f}s; load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)

    keras_feats = BackboneFeatures("mobilenet", alpha=0.25, weights=args.weights, flip_average=False)
    with _env(onnx_runtime.RUNTIME_ENV, "keras"):
        keras_feats.fit()
    model = keras_feats.model_
    t = time.perf_counter()
    onnx_feats = BackboneFeatures("mobilenet", alpha=0.25, weights=args.weights, flip_average=False).fit()
    assert onnx_feats._runtime == "onnx", "ONNX Runtime is not used: is the [export] extra installed?"
    session = onnx_feats._forward()
    print(f"converted to ONNX once in {time.perf_counter() - t:.1f}s; outputs differ from Keras by "
          f"{np.abs(session(X[:32]) - model.predict_on_batch(X[:32])).max():.2g}", flush=True)
    model.predict_on_batch(X[:32])
    session(X[:32])

    def keras_forward() -> float:
        t0 = time.perf_counter()
        for s in range(0, n, 32):
            model.predict_on_batch(X[s:s + 32])
        return n / (time.perf_counter() - t0)

    def onnx_forward() -> float:
        t0 = time.perf_counter()
        for s in range(0, n, 32):
            session(X[s:s + 32])
        return n / (time.perf_counter() - t0)

    def extract(before: bool = False, keras: bool = False) -> float:
        cls = Before if before else BackboneFeatures
        runtime = "keras" if before or keras else None
        with tempfile.TemporaryDirectory() as tmp, _env(onnx_runtime.RUNTIME_ENV, runtime):
            feats = cls("mobilenet", alpha=0.25, weights=args.weights, flip_average=False)
            t0 = time.perf_counter()
            summary = extract_to_store(feats, args.dataset, Path(tmp) / "f.h5", progress=False, resume=False,
                                       max_images=args.images)
            seconds = time.perf_counter() - t0
            assert summary.n_rows == n, summary.n_rows
        return n / seconds

    runs = {"extract": lambda: extract(), "extract (before)": lambda: extract(before=True),
            "keras forward": keras_forward, "onnx forward": onnx_forward}
    if args.skip_before:
        runs.pop("extract (before)")
    if args.keras_extract:
        runs["extract (keras)"] = lambda: extract(keras=True)
    rates: dict[str, list[float]] = {k: [] for k in runs}
    cpu_ms: dict[str, list[float]] = {k: [] for k in runs}  # this process's CPU time (all threads) per image
    loads = []
    for r in range(args.repeats):
        for name, fn in runs.items():
            c0 = time.process_time()
            rates[name].append(fn())
            cpu_ms[name].append((time.process_time() - c0) * 1e3 / n)
        loads.append(os.getloadavg()[0])
        print(f"repeat {r + 1}: " + "; ".join(f"{k} {v[-1]:.0f} ({cpu_ms[k][-1]:.2f} CPU-ms)"
                                               for k, v in rates.items())
              + f" images/s (load {loads[-1]:.2f})", flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    ratios = {"extract / onnx forward": [a / b for a, b in zip(rates["extract"], rates["onnx forward"])],
              "extract / keras forward": [a / b for a, b in zip(rates["extract"], rates["keras forward"])],
              "onnx forward / keras forward": [a / b for a, b in zip(rates["onnx forward"], rates["keras forward"])]}
    if "extract (before)" in rates:
        ratios["extract / extract (before)"] = [a / b for a, b in zip(rates["extract"], rates["extract (before)"])]
    print(f"\nmedians over {args.repeats} alternated repeats, {n} images, flip averaging off "
          f"(load average {statistics.median(loads):.2f} median, {min(loads):.2f}-{max(loads):.2f}):")
    for k, v in med.items():
        print(f"  {k:18s} {v:7.0f} images/s   {statistics.median(cpu_ms[k]):5.2f} CPU-ms per image")
    for k, v in ratios.items():
        print(f"  {k:30s} {statistics.median(v):5.2f} (min {min(v):.2f}, max {max(v):.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"images": n, "rates": rates, "cpu_ms_per_image": cpu_ms,
                                               "medians": med, "ratios": ratios,
                                               "load_average": loads}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
