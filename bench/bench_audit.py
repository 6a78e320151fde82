"""Benchmark the audit: label issues on planted flips, perceptual-hash choice, audit wall time.

Three modes:

``--flip``: make a copy of a class-per-folder dataset (symbolic links, under
``--copy``, never in the repository) in which a seeded ``--fraction`` of the
images are linked into a different, random class folder; run the audit's
label-issue step on the copy and report the precision and recall of the
flagged list against the flipped images::

    python bench/bench_audit.py --flip --dataset ../shared/data/animals --fraction 0.05 --seed 0 \\
        --weights ../shared/data/weights/mobilenet_2_5_224_tf_no_top.h5 --json /tmp/flip.json

Measured (2 shared cores, seed 0, 150 of 3000 Animals labels flipped): MobileNet 0.25
features (224 px) + logistic regression flagged 230 images, 138 of them flipped:
recall 0.92, precision 0.60 (precision of the top 100: 0.94); ``combined``
descriptors (32 px) flagged 1071, 121 flipped: recall 0.81, precision 0.11.

``--hashes``: speed per image and detection of resized / re-encoded copies for
ImageHash's phash, dhash, average hash and wavelet hash (what chose phash with
a 6-bit threshold; see cvtoolkit/audit/hashing.py)::

    python bench/bench_audit.py --hashes --dataset ../shared/data/animals

``--timing``: ``run_audit`` without the label-issue step, cold (no cache) and
warm (hashes cached), ``--repeat`` times each, medians.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def make_flipped_copy(src: str, dst: str, fraction: float, seed: int) -> set[str]:
    """Link every image of ``src`` into ``dst/<class>/``; a seeded ``fraction`` go to another class. Returns those."""
    from cvtoolkit.data.folder import list_image_folder

    listing = list_image_folder(src)
    rng = random.Random(seed)
    n = len(listing.paths)
    flip = set(rng.sample(range(n), round(fraction * n)))
    out = Path(dst)
    if out.exists():
        raise SystemExit(f"{dst} exists; pass a new --copy folder")
    flipped = set()
    for i, (path, label) in enumerate(zip(listing.paths, listing.labels)):
        cls = int(label)
        if i in flip:
            cls = rng.choice([c for c in range(len(listing.class_names)) if c != cls])
        folder = out / listing.class_names[cls]
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / f"{listing.class_names[int(label)]}__{Path(path).name}"
        os.symlink(os.path.abspath(path), link)
        if i in flip:
            flipped.add(str(link))
    return flipped


def bench_flip(args) -> dict:
    from cvtoolkit.audit import find_label_issues
    from cvtoolkit.audit.label_issues import backbone_weights_on_disk
    from cvtoolkit.commands._common import default_image_size
    from cvtoolkit.data import load_dataset

    copy = args.copy or f"/tmp/cvtoolkit-flipped-{Path(args.dataset).name}-{args.seed}-{os.getpid()}"
    flipped = make_flipped_copy(args.dataset, copy, args.fraction, args.seed)
    features = args.features
    if features == "auto":
        found = backbone_weights_on_disk(args.weights)
        features = found[0] if found else "combined"
    size = args.image_size or default_image_size(copy, None, features=features)
    t0 = time.perf_counter()
    ds = load_dataset(copy, image_size=size, progress=False)
    load_s = time.perf_counter() - t0
    result = find_label_issues(ds, features=features, weights=args.weights, alpha=args.alpha, folds=args.folds,
                               seed=args.seed, cache_dir=args.cache_dir, n_jobs=args.n_jobs, progress=False)
    flagged = {i["path"] for i in result.issues}
    hits = len(flagged & flipped)
    out = {
        "dataset": args.dataset, "copy": copy, "images": len(ds), "fraction": args.fraction, "seed": args.seed,
        "flipped": len(flipped), "flagged": len(flagged), "flagged_and_flipped": hits,
        "recall": round(hits / max(1, len(flipped)), 4), "precision": round(hits / max(1, len(flagged)), 4),
        "features": result.features, "options": {k: str(v) for k, v in result.options.items()},
        "image_size": size, "cv_accuracy": result.cv_accuracy, "folds": result.folds,
        "label_step_seconds": round(result.seconds, 1), "load_seconds": round(load_s, 1),
        # a list from a weak model, or flagging too much, is withheld (listed: 0) with the reasons
        "reliable": result.reliable, "flagged_by_cleanlab": result.flagged, "unreliable_because": result.unreliable,
    }
    for k in (50, 100, 150):
        top = {i["path"] for i in result.issues[:k]}
        out[f"precision_at_{k}"] = round(len(top & flipped) / max(1, min(k, len(top))), 4)
    return out


def bench_hashes(args) -> dict:
    import cv2
    import imagehash
    from PIL import Image

    from cvtoolkit.audit.hashing import shrink
    from cvtoolkit.data.folder import list_image_folder
    from cvtoolkit.data.image_io import read_image

    paths = list_image_folder(args.dataset).paths
    funcs = {"phash": imagehash.phash, "dhash": imagehash.dhash, "average_hash": imagehash.average_hash,
             "whash": imagehash.whash}
    images = [shrink(read_image(p)) for p in paths]
    bits = {}
    out: dict = {"images": len(paths), "ms_per_image": {}, "distinct_pairs_within": {}, "copies": {}}
    for name, f in funcs.items():
        f(Image.fromarray(images[0]))  # imports and warm-up out of the timing
        t0 = time.perf_counter()
        hashes = [f(Image.fromarray(im)) for im in images]
        out["ms_per_image"][name] = round(1000 * (time.perf_counter() - t0) / len(images), 3)
        bits[name] = np.array([int(np.packbits(h.hash.reshape(-1)).view(">u8")[0]) for h in hashes], np.uint64)
        d = np.concatenate([np.bitwise_count(bits[name][i] ^ bits[name][i + 1:]) for i in range(len(images) - 1)])
        out["distinct_pairs_within"][name] = {t: int((d <= t).sum()) for t in (0, 2, 4, 6, 8, 10)}

    def jpeg(a, q):
        ok, b = cv2.imencode(".jpg", np.ascontiguousarray(a[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, q])
        return cv2.imdecode(b, cv2.IMREAD_COLOR)[:, :, ::-1]

    def half(a, f=0.5):
        return cv2.resize(a, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)

    copies = {"resize_0.5": half, "resize_0.25": lambda a: half(a, 0.25), "jpeg_q60": lambda a: jpeg(a, 60),
              "resize_0.5_jpeg_q40": lambda a: jpeg(half(a), 40)}
    rng = np.random.default_rng(0)
    picks = rng.choice(len(paths), min(200, len(paths)), replace=False)
    originals = {int(i): read_image(paths[i]) for i in picks}
    for name, f in funcs.items():
        out["copies"][name] = {}
        for cname, tf in copies.items():
            dist = [int(np.bitwise_count(np.uint64(int(np.packbits(f(Image.fromarray(shrink(tf(originals[i])))).hash
                                                                   .reshape(-1)).view(">u8")[0])) ^ bits[name][i]))
                    for i in originals]
            out["copies"][name][cname] = {"max": max(dist), **{f"recall_at_{t}": round(float(np.mean(np.array(dist) <= t)), 3)
                                                              for t in (0, 2, 4, 6, 8)}}
    t0 = time.perf_counter()
    for p in paths[:300]:
        read_image(p)
    out["decode_ms_per_image"] = round(1000 * (time.perf_counter() - t0) / 300, 3)
    return out


def bench_timing(args) -> dict:
    import tempfile

    from cvtoolkit.audit import run_audit
    from cvtoolkit.data import load_dataset

    cold, warm = [], []
    for _ in range(args.repeat):
        cache = tempfile.mkdtemp(prefix="audit-bench-")
        for bucket in (cold, warm):
            t0 = time.perf_counter()
            ds = load_dataset(args.dataset, image_size=32, progress=False)
            run_audit(ds, label_issues=False, cache_dir=cache, n_jobs=args.n_jobs, progress=False)
            bucket.append(time.perf_counter() - t0)
    return {"dataset": args.dataset, "cold_s": [round(x, 2) for x in cold], "warm_s": [round(x, 2) for x in warm],
            "cold_median_s": round(statistics.median(cold), 2), "warm_median_s": round(statistics.median(warm), 2)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--flip", action="store_true")
    mode.add_argument("--hashes", action="store_true")
    mode.add_argument("--timing", action="store_true")
    p.add_argument("--dataset", default="../shared/data/animals")
    p.add_argument("--copy", default=None, help="folder for the flipped copy (default: a new one under /tmp)")
    p.add_argument("--fraction", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--features", default="auto")
    p.add_argument("--weights", default=None)
    p.add_argument("--alpha", type=float, default=None)
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--n-jobs", type=int, default=None)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    result = bench_flip(args) if args.flip else bench_hashes(args) if args.hashes else bench_timing(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
