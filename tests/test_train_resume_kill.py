"""`cvtoolkit train --resume` after a SIGKILL part-way through an epoch.

A child process runs ``cvtoolkit train`` with a hook that parks it inside
epoch 3 (after the epoch-2 checkpoint was written, while the weights in
memory have already taken some epoch-3 steps); the test kills it with
SIGKILL there, reruns the same command with ``--resume`` and checks that
training continues at epoch 3, that the history holds every epoch once,
and that the optimizer took exactly one epoch's steps per epoch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

keras = pytest.importorskip("keras")

from conftest import write_image_folder  # noqa: E402

pytestmark = [pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL"),
              pytest.mark.slow]  # SIGKILL of a TensorFlow subprocess

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 4
KILL_IN_EPOCH = 3  # 1-based: killed while training epoch 3, after epoch 2 was checkpointed

PARK_HOOK = """
import sys, time
from pathlib import Path

marker, park_in = Path(sys.argv[1]), int(sys.argv[2])
from cvtoolkit.train.callbacks import checkpoint

def on_epoch_begin(self, epoch, logs=None):
    self._epoch_now = epoch + 1

def on_train_batch_end(self, batch, logs=None):
    if getattr(self, "_epoch_now", 0) == park_in and batch >= 1 and not marker.exists():
        marker.write_text(str(self._epoch_now))
        time.sleep(600)                          # parked: the test kills us here

checkpoint.Checkpoint.on_epoch_begin = on_epoch_begin
checkpoint.Checkpoint.on_train_batch_end = on_train_batch_end

from cvtoolkit.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _env() -> dict:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", OMP_NUM_THREADS="1",
                PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))


def _iterations(path: Path) -> int:
    from cvtoolkit.train import resume_state

    model = resume_state(path)["model"]
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def test_train_resumes_after_sigkill_mid_epoch(tmp_path):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=12, size=16)
    out = tmp_path / "models" / "net.keras"
    last, state, history = (out.parent / n for n in ("net.last.keras", "net.last.json", "net.history.json"))
    args = ["train", "--dataset", str(folder), "--model", "shallownet", "--image-size", "16", "--epochs", str(EPOCHS),
            "--batch-size", "4", "--schedule", "one_cycle", "--out", str(out), "--quiet", "--seed", "3"]

    hook = tmp_path / "park.py"
    hook.write_text(textwrap.dedent(PARK_HOOK), encoding="utf-8")
    marker = tmp_path / "parked"
    child = subprocess.Popen([sys.executable, str(hook), str(marker), str(KILL_IN_EPOCH), *args], cwd=REPO,
                             env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), f"child never reached epoch {KILL_IN_EPOCH}: {child.poll()=}"
        child.send_signal(signal.SIGKILL)
        first_out = child.communicate(timeout=30)[0]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    assert f"Epoch {KILL_IN_EPOCH - 1}/{EPOCHS}" in first_out

    done = KILL_IN_EPOCH - 1
    assert json.loads(state.read_text())["epoch"] == done
    before = json.loads(history.read_text())
    assert len(before["loss"]) == done
    assert not out.exists()                         # the final model is written only at the end
    steps_per_epoch = _iterations(last) // done
    assert steps_per_epoch >= 2

    resumed = subprocess.run([sys.executable, "-m", "cvtoolkit", *args, "--resume"], cwd=REPO, env=_env(),
                             capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"at epoch {KILL_IN_EPOCH} of {EPOCHS}" in resumed.stdout
    epochs_run = [e for e in range(1, EPOCHS + 1) if f"Epoch {e}/{EPOCHS}" in resumed.stdout + resumed.stderr]
    assert epochs_run == list(range(KILL_IN_EPOCH, EPOCHS + 1))

    after = json.loads(history.read_text())
    assert all(len(v) == EPOCHS for v in after.values())          # every epoch once, none repeated
    assert after["loss"][:done] == before["loss"][:done]           # the killed run's epochs kept as they were
    assert json.loads(state.read_text())["epoch"] == EPOCHS
    assert _iterations(last) == EPOCHS * steps_per_epoch           # the half-trained epoch 3 left no trace
    assert out.is_file() and not [p for p in os.listdir(out.parent) if ".tmp-" in p]
