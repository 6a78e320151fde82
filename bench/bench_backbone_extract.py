"""Benchmark: backbone extraction (``extract_to_store``) against ``model.predict`` on preloaded arrays.

The reference is what a user would write by hand once the images are in
memory: the same Keras feature extractor (MobileNet 0.25, 224x224, global
average pooling, ``preprocess_input`` inside) and ``model.predict(X)`` on the
images already decoded and resized into one ``float32`` array. The toolkit
side is the whole extraction of the image folder into an HDF5 store, as
``cvtoolkit extract --features mobilenet --alpha 0.25 --no-flip-average``
runs it: listing, model build, decoding (overlapped with inference), the
forward passes and the writes. The two alternate (A B A B ...) in one
process, so the ratio holds while the machine is busy; medians are printed.
oneDNN is left at TensorFlow's default (on) for both.

It also prints the forward-pass throughput at several batch sizes (how the
default batch size was chosen) and one extraction with flip averaging on
(its cost).

Usage::

    python bench/bench_backbone_extract.py                       # Animals, 2 repeats
    python bench/bench_backbone_extract.py --repeats 3 --json /tmp/extract.json
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(SHARED / "animals"))
    parser.add_argument("--weights", default=str(SHARED / "weights" / "mobilenet_2_5_224_tf_no_top.h5"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-sizes", default="8,16,32,64,128")
    parser.add_argument("--no-flip-run", action="store_true", help="skip the run with flip averaging on")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    from cvtoolkit.data import load_dataset
    from cvtoolkit.features.extraction import extract_to_store
    from cvtoolkit.transfer.backbones import build_feature_extractor
    from cvtoolkit.transfer.features import BackboneFeatures

    t = time.perf_counter()
    ds = load_dataset(args.dataset, image_size=224, progress=False)
    X = ds.images.astype(np.float32)
    n = len(X)
    print(f"preloaded {n} images at 224x224 in {time.perf_counter() - t:.1f}s "
          f"(oneDNN opts: {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default (on)')})", flush=True)
    model = build_feature_extractor("mobilenet", image_size=(224, 224), alpha=0.25, weights=args.weights,
                                    pooling="avg")
    model.predict(X[:64], verbose=0)  # trace once

    sweep = {}
    sample = X[: min(n, 512)]
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        model.predict_on_batch(sample[:bs])
        t = time.perf_counter()
        for s in range(0, len(sample) - bs + 1, bs):
            model.predict_on_batch(sample[s:s + bs])
        done = (len(sample) // bs) * bs
        sweep[bs] = done / (time.perf_counter() - t)
        print(f"  forward passes, batch {bs:4d}: {sweep[bs]:7.1f} images/s", flush=True)

    def reference() -> float:
        t0 = time.perf_counter()
        model.predict(X, verbose=0)
        return n / (time.perf_counter() - t0)

    def toolkit(flip: bool = False) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            feats = BackboneFeatures("mobilenet", alpha=0.25, weights=args.weights, flip_average=flip)
            t0 = time.perf_counter()
            summary = extract_to_store(feats, args.dataset, Path(tmp) / "f.h5", progress=False, resume=False)
            seconds = time.perf_counter() - t0
            assert summary.n_rows == n, summary.n_rows
        return n / seconds

    ref, ours, ratios = [], [], []
    for r in range(args.repeats):
        ref.append(reference())
        ours.append(toolkit())
        ratios.append(ours[-1] / ref[-1])
        print(f"repeat {r + 1}: model.predict on preloaded array {ref[-1]:.1f} images/s; "
              f"extract_to_store (flip off) {ours[-1]:.1f} images/s; ratio {ratios[-1]:.2f}", flush=True)
    result = {"images": n, "batch_sweep_images_per_s": sweep,
              "reference_images_per_s": ref, "extract_images_per_s": ours, "ratios": ratios,
              "median_ratio": statistics.median(ratios),
              "median_reference": statistics.median(ref), "median_extract": statistics.median(ours)}
    print(f"median: reference {result['median_reference']:.1f} images/s, extract {result['median_extract']:.1f} "
          f"images/s, ratio {result['median_ratio']:.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})")
    if not args.no_flip_run:
        ref_f = reference()
        flip = toolkit(flip=True)
        result.update(flip_images_per_s=flip, flip_reference_images_per_s=ref_f)
        print(f"flip averaging on: {flip:.1f} images/s (reference in the same pair {ref_f:.1f}; "
              f"{flip / ref_f:.2f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
