"""Benchmark: the default classical ``compare`` rows on a many-class folder, against today's classifiers.

Step ``features`` describes the folder once with every default descriptor
(images loaded at ``compare``'s default 32x32, the stratified 75/25 split of
seed 42 that ``compare`` uses) into one ``.npz``. Step ``fit`` then fits each
row's classifier from the ``cvtoolkit`` on ``PYTHONPATH`` and prints its fit
seconds and test accuracy, so the same features can be fitted by two
versions of the code, alternated::

    python bench/make_many_classes.py --out /tmp/many101
    python bench/bench_many_classes.py features --dataset /tmp/many101 --npz /tmp/many101.npz
    PYTHONPATH=. python bench/bench_many_classes.py fit --npz /tmp/many101.npz --json new.json
    PYTHONPATH=/path/to/old/checkout python bench/bench_many_classes.py fit --npz /tmp/many101.npz --json old.json

``--classes K`` fits on the first K classes only (today's slowest rows take
minutes to tens of minutes at 101 classes), ``--rows`` a subset of rows.
Both sides fit with BLAS at one thread (the thread policy of ``compare``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROWS = ("raw+knn", "raw+logreg", "raw+linear_svm", "raw+random_forest", "color_stats+random_forest",
        "hsv_hist+random_forest", "hog+linear_svm", "lbp+rbf_svm", "hu+random_forest", "haralick+random_forest",
        "sift_bovw+linear_svm", "combined+random_forest", "combined+rbf_svm")


def features(args: argparse.Namespace) -> int:
    from cvtoolkit.data import load_dataset
    from cvtoolkit.data.split import split_dataset
    from cvtoolkit.methods.build import make_features_step
    from cvtoolkit.methods.spec import parse_method
    from threadpoolctl import threadpool_limits

    ds = load_dataset(args.dataset, image_size=32, progress=False)
    train, test = split_dataset(ds, test_size=0.25, seed=42)
    arrays = {"y_train": train.labels, "y_test": test.labels}
    for feat in sorted({r.split("+")[0] for r in ROWS}):
        t = time.perf_counter()
        step = make_features_step(parse_method(f"{feat}+knn"), {"n_jobs": args.n_jobs}, image_size=(32, 32),
                                  channels=int(train.images.shape[-1]))
        with threadpool_limits(limits=1, user_api="blas"):
            step.fit(train.images, train.labels)
            arrays[f"{feat}_train"] = np.asarray(step.transform(train.images), np.float32)
            arrays[f"{feat}_test"] = np.asarray(step.transform(test.images), np.float32)
        print(f"{feat}: {arrays[feat + '_train'].shape[1]} values, {time.perf_counter() - t:.1f}s", flush=True)
    np.savez(args.npz, **arrays)
    print(f"wrote {args.npz}: {len(train)} train, {len(test)} test, {ds.n_classes} classes")
    return 0


def fit(args: argparse.Namespace) -> int:
    import cvtoolkit
    from cvtoolkit.classifiers import make_classifier
    from threadpoolctl import threadpool_limits

    data = np.load(args.npz)
    y_tr, y_te = data["y_train"], data["y_test"]
    keep_tr = y_tr < args.classes if args.classes else np.ones(len(y_tr), bool)
    keep_te = y_te < args.classes if args.classes else np.ones(len(y_te), bool)
    rows = [r.strip() for r in args.rows.split(",")] if args.rows else list(ROWS)
    out = {"cvtoolkit": str(Path(cvtoolkit.__file__).parent), "classes": int(len(np.unique(y_tr[keep_tr]))),
           "train": int(keep_tr.sum()), "rows": {}}
    print(f"cvtoolkit from {out['cvtoolkit']}; {out['classes']} classes, {out['train']} train samples", flush=True)
    for row in rows:
        feat, clf_name = row.split("+")
        X_tr, X_te = data[f"{feat}_train"][keep_tr], data[f"{feat}_test"][keep_te]
        try:  # compare tells the classifier how many classes there are (cvtoolkit after issue 14)
            clf = make_classifier(clf_name, random_state=42, n_jobs=args.n_jobs, n_classes=out["classes"])
        except (TypeError, ValueError):  # before issue 14: no n_classes
            clf = make_classifier(clf_name, random_state=42, n_jobs=args.n_jobs)
        with threadpool_limits(limits=1, user_api="blas"):
            t = time.perf_counter()
            clf.fit(X_tr, y_tr[keep_tr])
            seconds = time.perf_counter() - t
            accuracy = float((clf.predict(X_te) == y_te[keep_te]).mean())
        out["rows"][row] = {"fit_seconds": round(seconds, 2), "accuracy": round(accuracy, 4)}
        print(f"  {row:<28} fit {seconds:8.2f}s  accuracy {accuracy:.4f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    f = sub.add_parser("features")
    f.add_argument("--dataset", required=True)
    f.add_argument("--npz", required=True)
    f.add_argument("--n-jobs", type=int, default=2)
    g = sub.add_parser("fit")
    g.add_argument("--npz", required=True)
    g.add_argument("--classes", type=int, default=None)
    g.add_argument("--rows", default=None)
    g.add_argument("--n-jobs", type=int, default=2)
    g.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    return features(args) if args.step == "features" else fit(args)


if __name__ == "__main__":
    sys.exit(main())
