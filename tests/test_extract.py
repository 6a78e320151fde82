"""`cvtoolkit extract` and the streaming loop behind it, on tiny generated folders."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from cvtoolkit.cli import main
from cvtoolkit.data import Dataset
from cvtoolkit.features import LBP, ColorHistogram, make_features
from cvtoolkit.features.extraction import extract_to_store, plan_chunks, single_process
from cvtoolkit.io import read_store


@pytest.fixture()
def folder(tmp_path):
    """root/<class>/<image>: 3 classes x 4 images of varying sizes, plus one broken file."""
    rng = np.random.default_rng(0)
    root = tmp_path / "pets"
    for c, name in enumerate(("cat", "dog", "owl")):
        (root / name).mkdir(parents=True)
        for i in range(4):
            img = rng.integers(0, 256, (20 + 3 * i, 24 + c, 3), dtype=np.uint8)
            img[..., c] = 255  # each class has its own dominant colour
            cv2.imwrite(str(root / name / f"{i}.png"), img)
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return root


def _compare_rows(store, transformer, image_size):
    from cvtoolkit.data import load_images

    images, kept, _ = load_images(store.paths, image_size=image_size, progress=False)
    np.testing.assert_allclose(store.images, transformer.transform(images), rtol=1e-6, atol=1e-7)


def test_extract_folder_streams_chunks_and_records_everything(folder, tmp_path):
    out = tmp_path / "feats.h5"
    extractor = make_features("combined", hog_size=32, lbp_P=8, lbp_R=1)
    summary = extract_to_store(extractor, str(folder), out, image_size=24, batch_size=5, progress=False,
                               extractor="combined")
    assert summary.n_rows == 12 and summary.class_counts == {"cat": 4, "dog": 4, "owl": 4}
    assert len(summary.skipped) == 1 and "broken.jpg" in str(summary.skipped[0])
    store = read_store(out)
    assert store.kind == "features" and store.images.shape == (12, summary.n_features)
    assert store.class_names == ["cat", "dog", "owl"]
    assert store.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert all(p.endswith(".png") for p in store.paths)
    assert store.attrs["extractor"] == "combined" and store.attrs["image_size"] == 24
    assert store.attrs["extractor_params"]["lbp__P"] == 8
    assert len(store.skipped) == 1
    _compare_rows(store, extractor, 24)


def test_parallel_extraction_writes_the_same_store(folder, tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    extract_to_store(ColorHistogram(bins=4), folder, a, batch_size=3, n_jobs=1, progress=False)
    extract_to_store(ColorHistogram(bins=4), folder, b, batch_size=3, n_jobs=2, progress=False)
    sa, sb = read_store(a), read_store(b)
    np.testing.assert_array_equal(sa.images, sb.images)
    assert sa.paths == sb.paths and sa.labels.tolist() == sb.labels.tolist()


def test_in_memory_dataset_max_images_and_resize(tmp_path):
    rng = np.random.default_rng(1)
    ds = Dataset(rng.integers(0, 256, (10, 30, 30, 3), dtype=np.uint8), np.arange(10) % 2, ["a", "b"],
                 source="toy")
    out = tmp_path / "lbp.h5"
    summary = extract_to_store(LBP(P=8, R=1), ds, out, image_size=16, max_images=6, batch_size=4, progress=False)
    store = read_store(out)
    assert summary.n_rows == 6 == len(store)
    small = np.stack([cv2.resize(im, (16, 16), interpolation=cv2.INTER_AREA) for im in ds.images])
    full = LBP(P=8, R=1).transform(small)
    # the subset is a seeded sample kept in dataset order: find which rows
    idx = [int(np.flatnonzero((full == row).all(axis=1))[0]) for row in store.images]
    assert idx == sorted(idx) and len(set(idx)) == 6


class MeanColour(TransformerMixin, BaseEstimator):
    """Stateful: subtracts the mean colour of the fitting sample."""

    def __init__(self, n_jobs=None):
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        self.mean_ = np.mean([np.asarray(x, float).reshape(-1, 3).mean(0) for x in X], axis=0)
        self.n_fit_ = len(X)
        return self

    def transform(self, X):
        return np.stack([np.asarray(x, float).reshape(-1, 3).mean(0) - self.mean_ for x in X]).astype(np.float32)


def test_stateful_extractors_are_fitted_on_a_sample_first(folder, tmp_path):
    est = MeanColour(n_jobs=4)
    extract_to_store(est, folder, tmp_path / "m.h5", fit_size=5, progress=False)
    assert est.n_fit_ <= 5  # the broken file may fall in the sample
    worker = single_process(est)
    assert worker.n_jobs == 1 and est.n_jobs == 4 and worker.mean_ is not est.mean_


def test_plan_chunks():
    assert plan_chunks(7, 3) == [(0, 3), (3, 6), (6, 7)]
    with pytest.raises(ValueError):
        plan_chunks(3, 0)


def test_cli_extract_writes_a_store_compare_can_read(folder, tmp_path, capsys):
    out = tmp_path / "cli.h5"
    code = main(["extract", "--dataset", str(folder), "--features", "hsv_hist,lbp", "--out", str(out),
                 "--image-size", "20", "--set", "bins=4", "--set", "grid=1", "--set", "R=2", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "12 samples x 74 features" in printed and "skipped 1" in printed
    store = read_store(out)
    assert store.images.shape == (12, 64 + 10)
    assert store.attrs["extractor"] == "hsv_hist+lbp"
    assert store.attrs["extractor_params"]["hsv_hist__bins"] == 4


@pytest.mark.parametrize("argv, message", [
    (["--features", "hogg"], "unknown features 'hogg'"),
    (["--features", "hog,hog"], "lists a name twice"),
    (["--features", "hog", "--set", "size"], "expected KEY=VALUE"),
])
def test_cli_errors_are_one_line(folder, tmp_path, capsys, argv, message):
    code = main(["extract", "--dataset", str(folder), "--out", str(tmp_path / "x.h5"), "--quiet", *argv])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


def test_cli_unreadable_dataset_is_an_error(tmp_path, capsys):
    root = tmp_path / "bad"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.png").write_bytes(b"nope")
    code = main(["extract", "--dataset", str(root), "--features", "lbp", "--out", str(tmp_path / "x.h5"),
                 "--quiet"])
    assert code == 2
    assert "could be read" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "x.h5.partial").exists()


@pytest.mark.slow  # > 3 s: process pools
def test_parallel_extraction_then_parallel_transform_in_one_process(tmp_path):
    """extract_to_store's worker pool and joblib.Parallel share one process-wide pool without breaking it."""
    import numpy as np

    from cvtoolkit.data import Dataset
    from cvtoolkit.features import make_features
    from cvtoolkit.features.extraction import extract_to_store

    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (32, 32, 32, 3), dtype=np.uint8)
    ds = Dataset(X, np.arange(32) % 2, ["a", "b"])
    extract_to_store(make_features("hog"), ds, tmp_path / "f.h5", n_jobs=2, batch_size=8, progress=False)
    a = make_features("lbp", n_jobs=2).fit_transform(X)
    np.testing.assert_array_equal(a, make_features("lbp", n_jobs=1).fit_transform(X))
    extract_to_store(make_features("hog"), ds, tmp_path / "g.h5", n_jobs=2, batch_size=8, progress=False)


class SlowInWorkers(TransformerMixin, BaseEstimator):
    """Mean colour per image; sleeps when run outside the process ``main_pid`` (a slow worker)."""

    def __init__(self, main_pid=0, delay=0.5):
        self.main_pid = main_pid
        self.delay = delay

    def fit(self, X=None, y=None):
        return self

    def transform(self, X):
        import os
        import time

        if os.getpid() != self.main_pid:
            time.sleep(self.delay)
        return np.stack([np.asarray(x, np.float32).mean(axis=(0, 1)) for x in X])


def test_main_process_runs_ahead_of_slow_workers_and_keeps_the_order(tmp_path, caplog):
    import logging
    import os
    import re

    rng = np.random.default_rng(1)
    ds = Dataset(rng.integers(0, 256, (24, 6, 6, 3), dtype=np.uint8), np.arange(24) % 3, ["a", "b", "c"])
    with caplog.at_level(logging.DEBUG, logger="cvtoolkit.features"):
        extract_to_store(SlowInWorkers(os.getpid()), ds, tmp_path / "p.h5", batch_size=2, n_jobs=2,
                         progress=False)
    extract_to_store(SlowInWorkers(os.getpid()), ds, tmp_path / "s.h5", batch_size=2, n_jobs=1, progress=False)
    np.testing.assert_array_equal(read_store(tmp_path / "p.h5").images, read_store(tmp_path / "s.h5").images)
    here = int(re.search(r"(\d+) chunks described in the main process", caplog.text).group(1))
    # 12 chunks; the worker holds at most 2 at a time and sleeps 0.5 s on each: the main process,
    # not held back by the order rows are written in, describes most of them.
    assert here >= 8


def _describe_path_imported():
    import sys

    return "cvtoolkit.features" in sys.modules and "cvtoolkit.data.image_io" in sys.modules


def test_start_workers_has_them_import_before_any_work():
    from cvtoolkit import parallel

    parallel.stop_workers()
    parallel.start_workers(1)  # one process: nothing to start
    assert parallel._pool is None
    parallel.start_workers(2)
    try:
        assert parallel._pool is not None
        assert parallel.worker_pool(1).submit(_describe_path_imported).result(timeout=60) is True
    finally:
        parallel.stop_workers()
    assert parallel._pool is None
    parallel.stop_workers()  # twice: harmless


def test_commands_and_workers_start_without_scikit_learn():
    """`cvtoolkit --help`, the data layer and the worker pool do not wait a second for scikit-learn."""
    import subprocess
    import sys

    code = ("import sys; import cvtoolkit.data, cvtoolkit.parallel; from cvtoolkit.cli import build_parser; "
            "build_parser(['extract']); print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_cli_extract_max_pixels_skips_and_names_large_files(folder, tmp_path, capsys, n_jobs):
    # The fixture's images are at most 29 x 26 = 754 pixels; one larger file joins the owls.
    cv2.imwrite(str(folder / "owl" / "huge.png"), np.zeros((40, 40, 3), np.uint8))
    out = tmp_path / "mp.h5"
    code = main(["extract", "--dataset", str(folder), "--features", "hsv_hist", "--out", str(out),
                 "--max-pixels", "1000", "--n-jobs", str(n_jobs), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "12 samples" in printed and "skipped 2" in printed and "huge.png" in printed
    assert "decompression bomb" in printed
    store = read_store(out)
    assert store.attrs["max_pixels"] == 1000 and not any(p.endswith("huge.png") for p in store.paths)
    assert main(["extract", "--dataset", str(folder), "--features", "hsv_hist", "--out", str(tmp_path / "n.h5"),
                 "--max-pixels", "0", "--quiet"]) == 0
    assert "13 samples" in capsys.readouterr().out
