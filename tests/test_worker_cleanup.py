"""Issue 11 case 14: the extraction workers exit within seconds when their parent is SIGKILLed.

The child runs ``cvtoolkit extract --n-jobs 3`` over a folder, its chunks
slowed down in the workers (a descriptor that sleeps), and the test
SIGKILLs it once its workers are busy, then checks that they are gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import write_image_folder

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import os, sys, time
sys.path.insert(0, {repo!r})
sys.path.insert(0, {tests!r})
from cvtoolkit.features import extraction
from cvtoolkit.features.extraction import extract_to_store
import slow_descriptor
extract_to_store(slow_descriptor.Slow({log!r}), {folder!r}, {out!r}, batch_size=2, n_jobs=3, progress=False)
"""

SLOW = '''
import os, time
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class Slow(TransformerMixin, BaseEstimator):
    def __init__(self, log=""):
        self.log = log

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        open(os.path.join(self.log, str(os.getpid())), "a").close()
        time.sleep(2)
        return np.zeros((len(X), 2), np.float32)
'''


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the workers")
def test_workers_exit_when_the_parent_is_sigkilled(tmp_path):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=10, size=16)
    log = tmp_path / "log"
    log.mkdir()
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    (helpers / "slow_descriptor.py").write_text(SLOW)
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(repo=str(REPO), tests=str(helpers), log=str(log), folder=str(folder),
                                   out=str(tmp_path / "f.h5")))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(helpers), str(REPO), os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            workers = {int(p) for p in os.listdir(log)} - {child.pid}
            if len(workers) >= 2:
                break
            time.sleep(0.1)
        assert child.poll() is None and len(workers) >= 2, "the workers never started"
        child.send_signal(signal.SIGKILL)
        child.wait()
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        left = [p for p in workers if _alive(p)]
    finally:
        child.kill()
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert left == [], "workers still running 8 s after their parent was killed"


def test_watch_parent_exits_a_process_whose_parent_died(tmp_path):
    """A grandchild started with watch_parent(parent) exits once the middle process is SIGKILLed."""
    pid_file = tmp_path / "pid"
    middle = subprocess.Popen([sys.executable, "-c", f"""
import subprocess, sys, time
code = '''
import os, sys, time
sys.path.insert(0, {str(REPO)!r})
from cvtoolkit.parallel import watch_parent
watch_parent(os.getppid(), 0.1)
open({str(pid_file)!r}, "w").write(str(os.getpid()))
time.sleep(600)
'''
subprocess.Popen([sys.executable, "-c", code])
time.sleep(600)
"""])
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        grandchild = int(pid_file.read_text())
        assert _alive(grandchild)
        middle.send_signal(signal.SIGKILL)
        middle.wait()
        deadline = time.monotonic() + 5
        while _alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.05)
        gone = not _alive(grandchild)
        if not gone:
            os.kill(grandchild, signal.SIGKILL)
        assert gone
    finally:
        middle.kill()
