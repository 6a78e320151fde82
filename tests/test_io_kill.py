"""HDF5Writer under SIGKILL: nothing at the final path, the .partial is refused, resume continues.

A child process writes rows slowly (forever) and the test kills it with
SIGKILL part-way through a chunk; another child simulates the worst moment,
a kill after the data of a chunk was written but before it was committed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from cvtoolkit.errors import StoreError
from cvtoolkit.io import HDF5Writer, read_store, store_info

pytestmark = [pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL"),
              pytest.mark.slow]  # SIGKILL of subprocesses

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["chat", "café", "狗"]
SHAPE = (8, 8, 3)
CHUNK = 100
TOTAL = 600

COMMON = f"""
import sys, time
import numpy as np
from cvtoolkit.io import HDF5Writer

CLASSES = {CLASSES!r}

def rows(a, b):
    idx = np.arange(a, b)[:, None]
    return ((idx * 7 + np.arange(192)[None]) % 251).astype(np.uint8).reshape(-1, 8, 8, 3)

def writer(path):
    return HDF5Writer(path, kind="images", sample_shape=(8, 8, 3), dtype="uint8", class_names=CLASSES,
                      chunk_rows={CHUNK}, with_paths=True, resume=True,
                      attrs={{"source": "gen", "extractor_params": {{"seed": 1}}}})
"""


def rows(a: int, b: int) -> np.ndarray:
    """The same deterministic rows the child writes (row i depends only on i)."""
    idx = np.arange(a, b)[:, None]
    return ((idx * 7 + np.arange(192)[None]) % 251).astype(np.uint8).reshape(-1, *SHAPE)


def labels(a: int, b: int) -> np.ndarray:
    return np.arange(a, b) % len(CLASSES)


def paths(a: int, b: int) -> list[str]:
    return [f"{CLASSES[i % 3]}/{i:05d}.png" for i in range(a, b)]


def writer(path: Path) -> HDF5Writer:
    return HDF5Writer(path, kind="images", sample_shape=SHAPE, dtype="uint8", class_names=CLASSES,
                      chunk_rows=CHUNK, with_paths=True, resume=True,
                      attrs={"source": "gen", "extractor_params": {"seed": 1}})


def run_child(tmp_path: Path, body: str) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(COMMON + textwrap.dedent(body), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)


def finish(path: Path) -> int:
    """Resume after a crash and write the rest; returns the rows found on disk."""
    with writer(path) as w:
        start = w.n_rows
        assert start == w.rows_committed == w.resumed_rows
        for a in range(start, TOTAL, 37):
            b = min(TOTAL, a + 37)
            w.add(rows(a, b), labels(a, b), paths=paths(a, b))
    return start


def assert_equals_uninterrupted(path: Path, tmp_path: Path) -> None:
    ref_path = tmp_path / "reference.h5"
    with writer(ref_path) as w:
        w.add(rows(0, TOTAL), labels(0, TOTAL), paths=paths(0, TOTAL))
    got, ref = read_store(path), read_store(ref_path)
    np.testing.assert_array_equal(got.images, ref.images)
    np.testing.assert_array_equal(got.labels, ref.labels)
    assert got.paths == ref.paths and got.class_names == ref.class_names == CLASSES
    volatile = {"created"}
    assert {k: v for k, v in got.attrs.items() if k not in volatile} == {
        k: v for k, v in ref.attrs.items() if k not in volatile
    }


def test_sigkill_mid_chunk_leaves_no_store_and_resume_completes(tmp_path):
    path = tmp_path / "images.h5"
    child = run_child(tmp_path, f"""
        w = writer({str(path)!r})
        i = 0
        while True:  # never finishes: only SIGKILL ends it
            w.add(rows(i, i + 20), np.arange(i, i + 20) % 3,
                  paths=[f"{{CLASSES[k % 3]}}/{{k:05d}}.png" for k in range(i, i + 20)])
            i += 20
            print(w.rows_committed, w.n_rows, flush=True)
            time.sleep(0.01)
    """)
    try:
        deadline = time.monotonic() + 120
        committed = accepted = -1
        for line in child.stdout:
            committed, accepted = map(int, line.split())
            if committed >= 300 and accepted > committed:  # rows buffered: kill mid-chunk
                break
            assert time.monotonic() < deadline, "child too slow"
        assert committed >= 300, "the writer child died before writing 300 rows"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL

    partial = tmp_path / "images.h5.partial"
    assert not path.exists() and partial.exists()
    with pytest.raises(StoreError, match="interrupted"):
        read_store(path)
    with pytest.raises(StoreError, match="unfinished"):
        read_store(partial)
    on_disk = store_info(partial, allow_partial=True)
    assert on_disk["complete"] is False and on_disk["rows_committed"] >= committed

    found = finish(path)
    assert found >= committed and found % CHUNK == 0
    assert not partial.exists()
    assert_equals_uninterrupted(path, tmp_path)


def test_kill_between_data_write_and_commit_drops_the_uncommitted_rows(tmp_path):
    path = tmp_path / "images.h5"
    child = run_child(tmp_path, f"""
        import os, signal
        w = writer({str(path)!r})
        w.add(rows(0, 200), np.arange(200) % 3, paths=[f"{{CLASSES[k % 3]}}/{{k:05d}}.png" for k in range(200)])
        # the next chunk's rows reach the file (garbage), but rows_committed is never updated
        f = w._file
        for name in ("data", "labels", "paths"):
            f[name].resize(237, axis=0)
        f["data"][200:237] = 255
        f["labels"][200:237] = 0
        f["paths"][200:237] = "garbage"
        f.flush()
        print("ready", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out, _ = child.communicate(timeout=120)
    assert out.strip() == "ready" and child.returncode == -signal.SIGKILL
    assert not path.exists()
    assert store_info(tmp_path / "images.h5.partial", allow_partial=True)["rows_committed"] == 200

    assert finish(path) == 200
    assert_equals_uninterrupted(path, tmp_path)
