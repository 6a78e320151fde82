"""CNN rows on imbalanced data: compare's defaults (validation split, early stopping, class weights) against the old fit.

Animals at 32 px with the pandas cut to 250 (1000 : 1000 : 250), compare's split (test 0.25, seed 42),
ShallowNet for 10 epochs, three ways: the old fit (all of the training split, last epoch), a 10%
validation split with early stopping (patience 5, best epoch kept), and that plus balanced class weights
(what ``compare`` does when it ranks by balanced accuracy)::

    python bench/bench_cnn_imbalance.py

Measured (2 shared cores, seeds 42 and 1): balanced accuracy 0.634 / 0.645 (old), 0.640 / 0.640
(validation + early stopping), 0.671 / 0.662 (and class weights); panda recall 0.603 / 0.603 against
0.698 / 0.714. About a minute.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paths import SHARED  # noqa: E402  (bench/ is on sys.path when a script runs)


def main() -> int:
    from cvtoolkit.data import load_dataset, split_dataset
    from cvtoolkit.train import KerasImageClassifier

    ds = load_dataset(str(SHARED / "animals"), image_size=32, progress=False)
    rng = np.random.default_rng(0)
    panda = np.flatnonzero(ds.labels == 2)
    ds = ds.subset(np.sort(np.concatenate([np.flatnonzero(ds.labels != 2), rng.choice(panda, 250, replace=False)])))
    train, test = split_dataset(ds, test_size=0.25, seed=42)
    ways = (("old: all of train, last epoch", {}),
            ("validation 10% + early stopping", {"validation_fraction": 0.1, "early_stopping": 5}),
            ("+ balanced class weights", {"validation_fraction": 0.1, "early_stopping": 5, "class_weight": "auto"}))
    for seed in (42, 1):
        for name, options in ways:
            started = time.perf_counter()
            clf = KerasImageClassifier("shallownet", epochs=10, verbose=0, seed=seed, **options)
            pred = clf.fit(train.images, train.labels).predict(test.images)
            y = test.labels
            balanced = np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)])
            print(f"seed {seed:2d}  {name:34s} accuracy {np.mean(pred == y):.3f}  balanced {balanced:.3f}  "
                  f"panda recall {np.mean(pred[y == 2] == 2):.3f}  best epoch {getattr(clf, 'best_epoch_', '-')}  "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
