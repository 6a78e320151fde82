"""Extraction on a Dask LocalCluster (2 worker processes): the same store as a local run.

One cluster serves the whole module (starting worker processes takes
seconds). The data are tiny generated folders, never ../shared.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from conftest import make_class_images, write_image_folder
from cvtoolkit.cli import main
from cvtoolkit.commands.extract import build_extractor
from cvtoolkit.features import make_features
from cvtoolkit.features.distributed import (
    SchedulerError,
    dask_chunk_results,
    dask_client,
    joblib_on_dask,
    parse_scheduler,
)
from cvtoolkit.features.extraction import (
    _open_source,
    describe_chunk,
    extract_to_store,
    plan_chunks,
    single_process,
)
from cvtoolkit.io import read_store

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

# Classes defined here are pickled by value, so the workers need not import this module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

RUN_INFO = {"created", "seconds", "images_per_second", "n_jobs", "scheduler", "resumed_rows"}
"""Attributes that describe how a run went, not what the store holds."""


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 single-threaded worker processes, as ``--scheduler local:2`` starts."""
    with dask_client("local:2") as c:
        c.wait_for_workers(2, timeout=60)
        yield c


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """24 PNG images of 32x32 in 3 classes, plus one file that is not an image."""
    root = write_image_folder(tmp_path_factory.mktemp("dask") / "shapes", n_per_class=8, size=32)
    (root / "square" / "009_broken.png").write_bytes(b"\x89PNG not really")
    return root


def _assert_same_store(a: Path, b: Path) -> None:
    x, y = read_store(a), read_store(b)
    assert x.images.dtype == y.images.dtype == np.float32
    np.testing.assert_array_equal(x.images, y.images)
    np.testing.assert_array_equal(x.labels, y.labels)
    assert x.paths == y.paths and x.class_names == y.class_names
    assert [(s.path, s.reason) for s in x.skipped] == [(s.path, s.reason) for s in y.skipped]
    keep = lambda attrs: {k: v for k, v in attrs.items() if k not in RUN_INFO}  # noqa: E731
    assert keep(x.attrs) == keep(y.attrs)


@pytest.mark.slow  # Dask LocalCluster
def test_local_cluster_writes_the_same_store_as_a_local_run(client, folder, tmp_path, monkeypatch):
    # A relative dataset path, from a directory the workers were not started in.
    monkeypatch.chdir(folder.parent)
    extractor = build_extractor(["hsv_hist", "hog", "lbp"], {"size": 32, "P": 8, "R": 1, "bins": 4})
    local, dask = tmp_path / "local.h5", tmp_path / "dask.h5"
    s1 = extract_to_store(extractor, "shapes", local, batch_size=4, progress=False)
    s2 = extract_to_store(extractor, "shapes", dask, batch_size=4, progress=False, scheduler=client)
    assert s1.n_rows == s2.n_rows == 24 and s1.class_counts == s2.class_counts
    assert s2.n_jobs == 2 and [s.path for s in s2.skipped] == [os.path.join("shapes", "square", "009_broken.png")]
    _assert_same_store(local, dask)
    assert read_store(dask).attrs["n_jobs"] == 2


@pytest.mark.slow  # Dask LocalCluster
def test_stateful_extractor_is_fitted_once_and_shipped(client, folder, tmp_path):
    """A bag of visual words learns its codebook in the client; every worker uses that one."""
    bovw = make_features("sift_bovw", n_words=8, step=8, random_state=0)
    local, dask = tmp_path / "local.h5", tmp_path / "dask.h5"
    extract_to_store(bovw, str(folder), local, batch_size=5, progress=False, fit_size=12)
    extract_to_store(make_features("sift_bovw", n_words=8, step=8, random_state=0), str(folder), dask,
                     batch_size=5, progress=False, fit_size=12, scheduler=client)
    _assert_same_store(local, dask)


@pytest.mark.slow  # Dask LocalCluster
def test_in_memory_images_are_sent_with_the_chunks(client, tmp_path):
    from cvtoolkit.data import Dataset

    images, labels, names = make_class_images(5, size=24)
    ds = Dataset(images, labels, names, source="generated")
    local, dask = tmp_path / "local.h5", tmp_path / "dask.h5"
    extract_to_store(make_features("lbp", P=8, R=1), ds, local, batch_size=4, progress=False)
    extract_to_store(make_features("lbp", P=8, R=1), ds, dask, batch_size=4, progress=False, scheduler=client)
    _assert_same_store(local, dask)


@pytest.mark.slow  # Dask LocalCluster
def test_results_come_back_in_order_with_a_bounded_window(client, folder):
    src, size = _open_source(str(folder), 24, False)
    order = np.arange(len(src))
    chunks = plan_chunks(len(src), 3)
    sent = []
    payload = src.payload
    src.payload = lambda idx: (sent.append(int(idx[0])), payload(idx))[1]  # type: ignore[method-assign]
    worker = single_process(make_features("hsv_hist", bins=4))
    got = []
    for (s, e), (X, kept, skipped) in dask_chunk_results(client, worker, src, chunks, order, size, window=2):
        assert len(sent) - len(got) <= 2  # never more than `window` chunks out
        got.append((s, e))
        X0, kept0, skipped0 = describe_chunk(worker, *payload(order[s:e]), size)
        np.testing.assert_array_equal(X, X0)
        np.testing.assert_array_equal(kept, kept0)
        assert skipped == skipped0
    assert got == chunks


class Exploding(TransformerMixin, BaseEstimator):
    """Fails on images whose first pixel is bright: an error inside a worker."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        if any(np.asarray(x).max() > 200 for x in X):
            raise ValueError("exploding transformer: bright image")
        return np.zeros((len(X), 1), np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


@pytest.mark.slow  # Dask LocalCluster
def test_a_worker_error_reaches_the_caller_and_nothing_looks_complete(client, folder, tmp_path):
    out = tmp_path / "boom.h5"
    with pytest.raises(ValueError, match="exploding transformer"):
        extract_to_store(Exploding(), str(folder), out, batch_size=4, progress=False, scheduler=client,
                         resume=False)
    assert not out.exists()


@pytest.mark.slow  # Dask LocalCluster
def test_cli_runs_on_a_running_scheduler(client, folder, tmp_path, capsys):
    out = tmp_path / "cli.h5"
    ref = tmp_path / "ref.h5"
    args = ["extract", "--dataset", str(folder), "--features", "hsv_hist", "--set", "bins=4", "--batch-size", "5",
            "--quiet"]
    assert main(args + ["--out", str(ref)]) == 0
    assert main(args + ["--out", str(out), "--scheduler", client.scheduler.address]) == 0
    assert "2 Dask worker" in capsys.readouterr().out
    _assert_same_store(ref, out)


def test_scheduler_specs():
    assert parse_scheduler("local:2") == ("local", 2)
    assert parse_scheduler("tcp://127.0.0.1:8786") == ("address", "tcp://127.0.0.1:8786")
    for bad in ("local:0", "local:x", "remote", ""):
        with pytest.raises(SchedulerError, match="local:N"):
            parse_scheduler(bad)
    with dask_client(object()) as same:  # a client given is used as is
        assert type(same) is object


@pytest.mark.slow  # Dask LocalCluster
def test_classifier_search_runs_on_the_cluster(client):
    from sklearn.datasets import make_classification

    from cvtoolkit.classifiers import fit_with_search, make_classifier

    X, y = make_classification(n_samples=60, n_features=5, random_state=0)
    _, best_here, _ = fit_with_search(make_classifier("knn"), X, y, name="knn", n_jobs=1)
    with distributed.get_task_stream(client) as stream, joblib_on_dask(client) as same:
        assert same is client
        _, best_there, summary = fit_with_search(make_classifier("knn"), X, y, name="knn", n_jobs=-1)
    assert best_there == best_here and summary["n_candidates"] == 10
    assert len(stream.data) > 0  # the fits ran as tasks on the workers


class _Crash(Exception):
    """The injected failure."""


@pytest.mark.slow  # Dask LocalCluster
def test_a_dask_run_resumes_after_a_crash_without_redoing_chunks(client, folder, tmp_path, monkeypatch):
    from cvtoolkit.features import distributed as engine

    real = engine.dask_chunk_results
    handed_out: list[int] = []
    crash_after: list[int] = [3]

    def crashing(*args, **kwargs):
        handed_out.append(len(args[3]))
        for k, item in enumerate(real(*args, **kwargs)):
            if crash_after and k == crash_after[0]:
                raise _Crash("client died")
            yield item

    monkeypatch.setattr(engine, "dask_chunk_results", crashing)
    out, ref = tmp_path / "f.h5", tmp_path / "ref.h5"
    with pytest.raises(_Crash):  # 25 files in chunks of 4: 7 chunks, 3 written
        extract_to_store(make_features("hsv_hist", bins=4), str(folder), out, batch_size=4, progress=False,
                         scheduler=client)
    assert not out.exists() and Path(f"{out}.partial").exists()
    crash_after.clear()
    summary = extract_to_store(make_features("hsv_hist", bins=4), str(folder), out, batch_size=4, progress=False,
                               scheduler=client)
    assert handed_out == [7, 4] and summary.resumed_rows == 11  # the broken file is in chunk 3
    extract_to_store(make_features("hsv_hist", bins=4), str(folder), ref, batch_size=4, progress=False)
    _assert_same_store(out, ref)
