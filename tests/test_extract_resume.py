"""Crash-safe, resumable extraction: killed part-way and run again, it finishes the same store.

Progress is the writer's ``rows_committed`` in ``OUT.partial``, committed at
chunk boundaries. The tests count the chunks each run describes (a wrapper
around ``describe_chunk``, or a log a child process writes) to check that
finished chunks are not described again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import write_image_folder
from cvtoolkit.cli import main
from cvtoolkit.errors import StoreError
from cvtoolkit.features import ColorHistogram, make_features
from cvtoolkit.features import extraction
from cvtoolkit.features.extraction import extract_to_store, fitted_fingerprint
from cvtoolkit.io import read_store

REPO = Path(__file__).resolve().parents[1]
RUN_INFO = {"created", "seconds", "images_per_second", "n_jobs", "scheduler", "resumed_rows"}
"""Attributes that describe how a run went, not what the store holds."""


class Crash(Exception):
    """The injected failure."""


@pytest.fixture()
def folder(tmp_path):
    """24 PNG images (3 classes x 8) and a broken file in the first chunks."""
    root = write_image_folder(tmp_path / "shapes", n_per_class=8, size=32)
    (root / "circle" / "000_broken.png").write_bytes(b"\x89PNG not really")
    return root


@pytest.fixture()
def calls(monkeypatch):
    """Counts describe_chunk calls (not the fitting sample); raises Crash at call ``calls.fail_at``."""

    class Counter:
        n = 0
        fail_at: int | None = None

    real = extraction.describe_chunk

    def counting(transformer, kind, data, image_size=None, max_pixels=extraction.DEFAULT_MAX_PIXELS):
        if not isinstance(transformer, extraction._Identity):
            Counter.n += 1
            if Counter.fail_at is not None and Counter.n >= Counter.fail_at:
                raise Crash(f"injected crash at chunk call {Counter.n}")
        return real(transformer, kind, data, image_size, max_pixels)

    monkeypatch.setattr(extraction, "describe_chunk", counting)
    return Counter


def committed_rows(out: Path) -> int:
    with h5py.File(f"{out}.partial", "r") as f:
        return int(f.attrs["rows_committed"])


def assert_same_store(a: Path, b: Path) -> None:
    x, y = read_store(a), read_store(b)
    np.testing.assert_array_equal(x.images, y.images)
    assert x.images.dtype == y.images.dtype
    np.testing.assert_array_equal(x.labels, y.labels)
    assert x.paths == y.paths and x.class_names == y.class_names
    assert [(s.path, s.reason) for s in x.skipped] == [(s.path, s.reason) for s in y.skipped]
    keep = lambda attrs: {k: v for k, v in attrs.items() if k not in RUN_INFO}  # noqa: E731
    assert keep(x.attrs) == keep(y.attrs)


def test_crash_keeps_progress_and_resume_skips_finished_chunks(folder, tmp_path, calls):
    out, ref = tmp_path / "f.h5", tmp_path / "ref.h5"
    extract_to_store(ColorHistogram(bins=4), folder, ref, batch_size=4, progress=False)  # 25 files: 7 chunks
    calls.n, calls.fail_at = 0, 4
    with pytest.raises(Crash):
        extract_to_store(ColorHistogram(bins=4), folder, out, batch_size=4, progress=False)
    assert not out.exists()
    with pytest.raises(StoreError):  # an unfinished file is never read as complete
        read_store(f"{out}.partial")
    assert committed_rows(out) == 3 * 4 - 1  # chunks 1-3 written (one broken file), chunk 4 crashed
    calls.n, calls.fail_at = 0, None
    summary = extract_to_store(ColorHistogram(bins=4), folder, out, batch_size=4, progress=False)
    assert calls.n == 7 - 3
    assert summary.resumed_rows == 11 and summary.n_rows == 24
    assert summary.class_counts == {"circle": 8, "square": 8, "stripes": 8}
    assert [s.path for s in summary.skipped] == [str(folder / "circle" / "000_broken.png")]
    assert read_store(out).attrs["resumed_rows"] == 11
    assert_same_store(out, ref)


def test_no_resume_and_changed_settings_start_over(folder, tmp_path, calls):
    out, ref = tmp_path / "f.h5", tmp_path / "ref.h5"
    calls.fail_at = 3
    with pytest.raises(Crash):
        extract_to_store(ColorHistogram(bins=4), folder, out, batch_size=4, progress=False)
    calls.n, calls.fail_at = 0, None
    extract_to_store(ColorHistogram(bins=4), folder, out, batch_size=4, progress=False, resume=False)
    assert calls.n == 7 and not Path(f"{out}.partial").exists()

    calls.n, calls.fail_at = 0, 3
    with pytest.raises(Crash):
        extract_to_store(ColorHistogram(bins=4), folder, out, batch_size=4, progress=False)
    calls.n, calls.fail_at = 0, None
    # Other settings (here the image size) make other features: the leftover rows are not reused.
    summary = extract_to_store(ColorHistogram(bins=4), folder, out, batch_size=4, progress=False, image_size=16)
    assert calls.n == 7 and summary.resumed_rows == 0
    extract_to_store(ColorHistogram(bins=4), folder, ref, batch_size=4, progress=False, image_size=16)
    assert_same_store(out, ref)


def test_bag_of_words_resumes_only_with_the_same_codebook(folder, tmp_path, calls, monkeypatch):
    def bovw():
        return make_features("sift_bovw", n_words=8, step=8, random_state=0)

    out, ref = tmp_path / "f.h5", tmp_path / "ref.h5"
    calls.fail_at = 4
    with pytest.raises(Crash):
        extract_to_store(bovw(), folder, out, batch_size=4, progress=False, fit_size=12)
    calls.n, calls.fail_at = 0, None
    extract_to_store(bovw(), folder, out, batch_size=4, progress=False, fit_size=12)
    assert calls.n == 7 - 3  # the seeded fit gives the same codebook: the finished rows are kept
    extract_to_store(bovw(), folder, ref, batch_size=4, progress=False, fit_size=12)
    assert_same_store(out, ref)

    calls.n, calls.fail_at = 0, 4
    with pytest.raises(Crash):
        extract_to_store(bovw(), folder, out, batch_size=4, progress=False, fit_size=12)
    calls.n, calls.fail_at = 0, None
    from cvtoolkit.features.bovw import BagOfVisualWords

    fit = BagOfVisualWords.fit

    def other_codebook(self, X, y=None):  # as an unseeded fit would: another codebook
        fit(self, X, y)
        self.codebook_.cluster_centers_ = self.codebook_.cluster_centers_ + 1.0
        return self

    monkeypatch.setattr(BagOfVisualWords, "fit", other_codebook)
    summary = extract_to_store(bovw(), folder, out, batch_size=4, progress=False, fit_size=12)
    assert calls.n == 7 and summary.resumed_rows == 0


def test_fitted_fingerprint_follows_the_learned_state(folder):
    from cvtoolkit.data import load_dataset

    images = load_dataset(str(folder), image_size=32, progress=False).images
    a = make_features("sift_bovw", n_words=8, step=8, random_state=0).fit(images)
    b = make_features("sift_bovw", n_words=8, step=8, random_state=0).fit(images)
    assert fitted_fingerprint(a) == fitted_fingerprint(b) != ""
    b.codebook_.cluster_centers_ = b.codebook_.cluster_centers_.copy()
    b.codebook_.cluster_centers_[0, 0] += 1e-3
    assert fitted_fingerprint(a) != fitted_fingerprint(b)
    assert fitted_fingerprint(ColorHistogram(bins=4)) == fitted_fingerprint(ColorHistogram(bins=8)) == ""


CHILD = """
import os, sys, time
sys.path.insert(0, {repo!r})
from cvtoolkit.features import ColorHistogram, extraction

real = extraction.describe_chunk

def slow(transformer, kind, data, *args):
    result = real(transformer, kind, data, *args)
    with open(os.path.join({log!r}, str(time.monotonic_ns())), "w") as f:
        f.write(str(len(data)))
    time.sleep(0.4)  # the parent kills during this sleep (a kill inside an HDF5 write is another test's case)
    return result

extraction.describe_chunk = slow
extraction.extract_to_store(ColorHistogram(bins=4), {folder!r}, {out!r}, batch_size=4, progress=False)
print("finished", flush=True)
"""


@pytest.mark.slow  # SIGKILL of a subprocess
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_part_way_then_resume_gives_the_uninterrupted_store(tmp_path, calls):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=8, size=32)  # 24 images: 6 chunks
    out, ref, log = tmp_path / "f.h5", tmp_path / "ref.h5", tmp_path / "log"
    log.mkdir()
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(repo=str(REPO), log=str(log), folder=str(folder), out=str(out)))
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(os.listdir(log)) < 3 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert child.poll() is None, "the child finished before it could be killed"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert not out.exists() and Path(f"{out}.partial").exists()
    with pytest.raises(StoreError):
        read_store(f"{out}.partial")
    done = committed_rows(out)
    assert 0 < done < 24 and done % 4 == 0  # whole chunks only

    started = time.perf_counter()
    summary = extract_to_store(ColorHistogram(bins=4), folder, out, batch_size=4, progress=False)
    assert summary.resumed_rows == done and calls.n == 6 - done // 4
    assert time.perf_counter() - started < 60
    extract_to_store(ColorHistogram(bins=4), folder, ref, batch_size=4, progress=False)
    assert_same_store(out, ref)


def test_cli_resumes_by_default_and_can_start_over(folder, tmp_path, calls, capsys):
    out = tmp_path / "cli.h5"
    args = ["extract", "--dataset", str(folder), "--features", "hsv_hist", "--set", "bins=4", "--batch-size", "4",
            "--quiet", "--out", str(out)]
    calls.fail_at = 5
    with pytest.raises(Crash):
        main(args)
    calls.n, calls.fail_at = 0, None
    assert main(args) == 0
    assert calls.n == 7 - 4 and "resumed" in capsys.readouterr().out
    calls.fail_at = 2
    out.unlink()
    with pytest.raises(Crash):
        main(args)
    calls.n, calls.fail_at = 0, None
    assert main(args + ["--no-resume"]) == 0 and calls.n == 7
