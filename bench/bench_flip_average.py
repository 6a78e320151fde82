"""Benchmark: what flip averaging buys (accuracy) and costs (images/s) for backbone features + logistic regression.

Features of every image and of its left-right mirror are computed once
(MobileNet 0.25, 224x224, local weights); "off" uses the first, "on" their
mean, exactly what ``BackboneFeatures(flip_average=True)`` computes. The
toolkit's ``logreg`` is then fitted on stratified 75/25 splits of several
seeds (the toolkit's ``split_dataset``), and the paired accuracy difference
is printed with its spread. The cost is timed on the same images: the
transformer's ``transform`` with and without flip averaging, alternated.

Usage::

    python bench/bench_flip_average.py                      # Flowers-17, seeds 0..9
    python bench/bench_flip_average.py --dataset ../shared/data/animals --seeds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cvtoolkit._quiet import quiet_tensorflow_import  # noqa: E402

quiet_tensorflow_import()

import numpy as np  # noqa: E402

from _paths import SHARED  # noqa: E402  (bench/ is on sys.path when a script runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(SHARED / "flowers17"))
    parser.add_argument("--weights", default=str(SHARED / "weights" / "mobilenet_2_5_224_tf_no_top.h5"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--timing-images", type=int, default=512)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from cvtoolkit.classifiers import make_classifier
    from cvtoolkit.data import Dataset, load_dataset
    from cvtoolkit.data.split import split_dataset
    from cvtoolkit.transfer.features import BackboneFeatures

    ds = load_dataset(args.dataset, image_size=224, progress=False)
    feats = BackboneFeatures("mobilenet", alpha=0.25, weights=args.weights, flip_average=False).fit()
    t = time.perf_counter()
    plain = feats.transform(ds.images)
    mirror = feats.transform(np.ascontiguousarray(ds.images[:, :, ::-1]))
    print(f"{len(ds)} images, {ds.n_classes} classes; features in {time.perf_counter() - t:.1f}s", flush=True)
    both = {"off": plain, "on": 0.5 * (plain + mirror)}

    acc: dict[str, list[float]] = {"off": [], "on": []}
    index = Dataset(np.arange(len(ds))[:, None], ds.labels, ds.class_names)
    for seed in range(args.seeds):
        train, test = split_dataset(index, test_size=0.25, seed=seed)
        tr, te = train.images[:, 0], test.images[:, 0]
        for key, X in both.items():
            with threadpool_limits(limits=1, user_api="blas"):
                clf = make_classifier("logreg", random_state=seed).fit(X[tr], ds.labels[tr])
            acc[key].append(float((clf.predict(X[te]) == ds.labels[te]).mean()))
    diff = [a - b for a, b in zip(acc["on"], acc["off"])]
    sd = statistics.stdev(diff) if len(diff) > 1 else 0.0
    print(f"accuracy, flip off: mean {statistics.mean(acc['off']):.4f} (sd {statistics.pstdev(acc['off']):.4f})")
    print(f"accuracy, flip on:  mean {statistics.mean(acc['on']):.4f} (sd {statistics.pstdev(acc['on']):.4f})")
    print(f"paired gain on - off over {len(diff)} splits: {statistics.mean(diff):+.4f} "
          f"(sd {sd:.4f}, standard error {sd / max(1, len(diff)) ** 0.5:.4f}; on better in "
          f"{sum(d > 0 for d in diff)}, worse in {sum(d < 0 for d in diff)})")

    images = ds.images[: args.timing_images]
    flipper = BackboneFeatures("mobilenet", alpha=0.25, weights=args.weights, flip_average=True).fit()
    rates: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(3):
        for key, tr_ in (("off", feats), ("on", flipper)):
            t = time.perf_counter()
            tr_.transform(images)
            rates[key].append(len(images) / (time.perf_counter() - t))
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    print(f"transform speed (median of 3, alternated): flip off {off:.1f} images/s, on {on:.1f} images/s "
          f"({on / off:.2f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps({"accuracy": acc, "gain": diff, "images_per_s": rates}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
