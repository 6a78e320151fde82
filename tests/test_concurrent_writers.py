"""Issue 11 case 1: two writers on one --out: the second stops before touching the .partial (exit 2).

The first run (a child process, slowed down so that the runs overlap for
certain) keeps writing; the second run, started while the first holds the
lock, exits 2 with one line, and the first run's store reads back identical
to a lone run's.
"""

from __future__ import annotations

import os
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
from cvtoolkit.io import HDF5Writer, read_store
from cvtoolkit.io.lock import holds_lock, lock_path_for, output_lock

REPO = Path(__file__).resolve().parents[1]

SLOW_CLI = """
import os, sys, time
sys.path.insert(0, {repo!r})
from cvtoolkit.features import extraction
from cvtoolkit.io import hdf5_writer

real = extraction.describe_chunk
real_flush = hdf5_writer.HDF5Writer.flush

def slow(*args, **kw):
    time.sleep(0.3)
    return real(*args, **kw)

def flush(self):
    real_flush(self)
    open({started!r}, "a").close()  # the .partial exists and holds rows
    time.sleep(0.3)

extraction.describe_chunk = slow
hdf5_writer.HDF5Writer.flush = flush
from cvtoolkit.cli import main
sys.exit(main({argv!r}))
"""


def start_slow(tmp_path: Path, argv: list[str]) -> tuple[subprocess.Popen, Path]:
    started = tmp_path / "started"
    script = tmp_path / "first.py"
    script.write_text(SLOW_CLI.format(repo=str(REPO), started=str(started), argv=argv))
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.monotonic() + 120
    while not started.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert child.poll() is None and started.exists(), child.communicate()
    return child, started


def same_store(a: Path, b: Path) -> None:
    x, y = read_store(a), read_store(b)
    np.testing.assert_array_equal(x.images, y.images)
    np.testing.assert_array_equal(x.labels, y.labels)
    assert x.paths == y.paths and x.class_names == y.class_names


@pytest.mark.slow
@pytest.mark.parametrize("command", ["extract", "pack"])
def test_two_runs_on_one_out_exactly_one_succeeds_and_the_store_is_intact(tmp_path, capsys, command, monkeypatch):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=8, size=32)
    out, ref = tmp_path / "out.h5", tmp_path / "ref.h5"
    if command == "extract":
        args = ["extract", "--dataset", str(folder), "--features", "hsv_hist", "--set", "bins=4",
                "--batch-size", "4", "--quiet"]
    else:
        args = ["pack", "--dataset", str(folder), "--image-size", "16", "--chunk-rows", "4", "--quiet"]
    first, _ = start_slow(tmp_path, args + ["--out", str(out)])
    try:
        code = main(args + ["--out", str(out)])
        err = capsys.readouterr().err
    finally:
        stdout, stderr = first.communicate(timeout=180)
    assert code == 2, err
    assert "being written by another cvtoolkit process" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert first.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert main(args + ["--out", str(ref)]) == 0
    same_store(out, ref)
    assert not Path(f"{out}.partial").exists() and not lock_path_for(out).exists()


def test_a_second_writer_fails_before_truncating_the_partial(tmp_path):
    """The defect: the loser opened the .partial with mode "w" (truncating it) before its lock failed."""
    out = tmp_path / "s.h5"
    code = f"""
import sys, time
sys.path.insert(0, {str(REPO)!r})
import numpy as np
from cvtoolkit.io import HDF5Writer
w = HDF5Writer({str(out)!r}, kind="features", sample_shape=(3,), dtype="float32", class_names=["a", "b"])
w.add(np.ones((5, 3)), [0, 1, 0, 1, 0]); w.flush()
print("ready", flush=True)
sys.stdin.readline()
w.close()
print("closed", flush=True)
"""
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        partial = Path(f"{out}.partial")
        before = partial.stat().st_size
        with pytest.raises(StoreError, match="another cvtoolkit process"):
            HDF5Writer(out, kind="features", sample_shape=(3,), dtype="float32", class_names=["a", "b"])
        assert partial.stat().st_size == before
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "closed"
    finally:
        child.kill()
        child.wait()
    ds = read_store(out)
    assert ds.images.shape == (5, 3) and ds.labels.tolist() == [0, 1, 0, 1, 0]


def test_a_stale_lock_of_a_killed_process_does_not_block(tmp_path):
    out = tmp_path / "s.h5"
    code = f"""
import os, sys
sys.path.insert(0, {str(REPO)!r})
from cvtoolkit.io.lock import output_lock
cm = output_lock({str(out)!r}); cm.__enter__()
print("locked", flush=True)
os.kill(os.getpid(), 9)
"""
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "locked" in child.stdout and child.returncode == -9
    assert lock_path_for(out).exists()  # left behind by the SIGKILL
    with HDF5Writer(out, kind="features", sample_shape=(2,), dtype="float32", class_names=["a", "b"]) as w:
        w.add(np.zeros((2, 2)), [0, 1])
    assert read_store(out).images.shape == (2, 2)


def test_the_writer_rechecks_its_lock_before_the_final_rename(tmp_path):
    out = tmp_path / "s.h5"
    w = HDF5Writer(out, kind="features", sample_shape=(2,), dtype="float32", class_names=["a", "b"])
    w.add(np.zeros((2, 2)), [0, 1])
    assert holds_lock(out)
    lock_path_for(out).unlink()  # someone removed the lock file: another writer may now hold a new one
    with pytest.raises(StoreError, match="lost the write lock"):
        with w:
            pass
    assert not out.exists()


def test_lock_is_reentrant_in_one_process(tmp_path):
    out = tmp_path / "x.h5"
    with output_lock(out):
        with HDF5Writer(out, kind="features", sample_shape=(2,), dtype="float32", class_names=["a", "b"]) as w:
            w.add(np.zeros((1, 2)), [1])
        assert holds_lock(out)
    assert not holds_lock(out)
    with h5py.File(out, "r") as f:
        assert f.attrs["complete"]
