"""tf.distribute training: MirroredStrategy over two logical CPU devices, the command's --strategy, errors.

Splitting the CPU into logical devices must happen before TensorFlow
initialises its devices, and cannot be undone, so every test that trains
under a strategy runs in a fresh subprocess; the error checks run here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from conftest import write_image_folder  # noqa: E402

from cvtoolkit.cli import main  # noqa: E402
from cvtoolkit.errors import CvToolkitError  # noqa: E402
from cvtoolkit.train.distribute import (  # noqa: E402
    DistributionError,
    distribution_scope,
    global_batch_size,
    is_chief,
    make_strategy,
    read_tf_config,
    split_cpu_into_logical_devices,
)

REPO = Path(__file__).resolve().parents[1]
TF_ONLY = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute is TensorFlow-only")


def run_python(script: str, tmp_path: Path, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh interpreter (its own TensorFlow devices) from the repository root."""
    path = tmp_path / "child.py"
    path.write_text(textwrap.dedent(script), encoding="utf-8")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", KERAS_BACKEND="tensorflow",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    env.pop("TF_CONFIG", None)
    return subprocess.run([sys.executable, str(path), *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def last_json_line(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


MIRRORED_SCRIPT = """
import json, math, sys
from pathlib import Path
import numpy as np

from cvtoolkit.train.distribute import (DistributionError, distribution_scope, global_batch_size, make_strategy,
                                        prepare_model, split_cpu_into_logical_devices)

devices = split_cpu_into_logical_devices(2)
again = split_cpu_into_logical_devices(2)          # same split: harmless
strategy = make_strategy("mirrored")

import keras
from cvtoolkit.cli import main
from cvtoolkit.nn import build_model
from cvtoolkit.train import fit

with distribution_scope(strategy):
    model = build_model("shallownet", input_shape=(16, 16, 3), classes=3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

rng = np.random.default_rng(0)
y = np.arange(35) % 3
x = rng.integers(0, 60, (35, 16, 16, 3), dtype=np.uint8)
x[..., 0][y == 0] += 150                           # a visible class cue
x[..., 1][y == 1] += 150
per_replica = 8
batch = global_batch_size(per_replica, strategy)
# 3 validation images: a first batch that 2 replicas cannot share evenly (a Keras 3.15 failure, worked around)
history = fit(model, (x[:32], y[:32]), validation_data=(x[32:], y[32:]), epochs=2, batch_size=per_replica,
              strategy=strategy, verbose=0, seed=0)
proba = model.predict(x[:5].astype("float32") / 255, verbose=0)

outside = build_model("shallownet", input_shape=(16, 16, 3), classes=3)
outside.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
try:
    fit(outside, (x, y), epochs=1, strategy=strategy, verbose=0)
    outside_error = ""
except DistributionError as err:
    outside_error = str(err)
try:
    split_cpu_into_logical_devices(3)
    resplit_error = ""
except DistributionError as err:
    resplit_error = str(err)

# The command: 2 replicas x 4 images against one device x 8 images, same seed.
folder, out = Path(sys.argv[1]), Path(sys.argv[2])
common = ["train", "--dataset", str(folder), "--model", "shallownet", "--image-size", "16", "--epochs", "2",
          "--quiet", "--test-size", "0.2"]
rc_mirrored = main(common + ["--batch-size", "4", "--strategy", "mirrored", "--cpu-replicas", "2",
                             "--out", str(out / "mirrored.keras")])
rc_plain = main(common + ["--batch-size", "8", "--out", str(out / "plain.keras")])

def steps(path):
    model = keras.models.load_model(path)
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))

print(json.dumps({
    "devices": devices, "again": again, "replicas": strategy.num_replicas_in_sync, "batch": batch,
    "loss": history.history["loss"], "val_loss": history.history["val_loss"],
    "iterations": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
    "steps_expected": 2 * math.ceil(32 / batch),
    "variable_kind": type(model.trainable_weights[0].value).__name__,
    "tied": model.distribute_strategy is strategy,
    "proba_shape": list(proba.shape), "proba_sums": proba.sum(axis=1).tolist(),
    "outside_error": outside_error, "resplit_error": resplit_error,
    "rc": [rc_mirrored, rc_plain],
    "steps_cmd": [steps(out / "mirrored.last.keras"), steps(out / "plain.last.keras")],
}))
"""


@pytest.mark.slow  # subprocess TensorFlow
@TF_ONLY
def test_mirrored_strategy_on_two_logical_cpu_devices(tmp_path):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=10, size=16)
    proc = run_python(MIRRORED_SCRIPT, tmp_path, str(folder), str(tmp_path / "models"))
    out = last_json_line(proc)
    assert out["devices"] == out["again"] and len(out["devices"]) == 2
    assert out["replicas"] == 2
    assert out["batch"] == 16                         # 8 per replica x 2 replicas
    assert out["iterations"] == out["steps_expected"] == 4  # 32 images / global batch 16, 2 epochs
    assert out["variable_kind"] == "MirroredVariable" and out["tied"]
    assert len(out["loss"]) == 2 and np.all(np.isfinite(out["loss"] + out["val_loss"]))
    assert out["proba_shape"] == [5, 3] and np.allclose(out["proba_sums"], 1.0, atol=1e-4)
    assert "not built under the MirroredStrategy" in out["outside_error"]
    assert "before any TensorFlow work" in out["resplit_error"]

    # The command: --batch-size is per replica, so 2 x 4 takes the steps of 8 on one device...
    assert out["rc"] == [0, 0]
    assert "MirroredStrategy, 2 replicas" in proc.stdout and "global batch 8 (4 per replica)" in proc.stdout
    assert out["steps_cmd"][0] == out["steps_cmd"][1] > 0
    # ...and computes the same training: summed gradients of two halves = the gradient of the whole batch.
    models = tmp_path / "models"
    mirrored = json.loads((models / "mirrored.history.json").read_text())
    plain = json.loads((models / "plain.history.json").read_text())
    for key in ("loss", "val_loss", "accuracy"):
        assert np.allclose(mirrored[key], plain[key], rtol=1e-3, atol=1e-4), key
    meta = json.loads((models / "mirrored.json").read_text())
    assert meta["strategy"] == "mirrored" and meta["replicas"] == 2


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.mark.slow  # subprocess TensorFlow
@TF_ONLY
def test_multiworker_command_with_two_local_workers(tmp_path):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=8, size=16)
    out = tmp_path / "shared" / "net.keras"
    hosts = [f"localhost:{p}" for p in _free_ports(2)]
    args = [sys.executable, "-m", "cvtoolkit", "train", "--dataset", str(folder), "--model", "shallownet",
            "--image-size", "16", "--epochs", "2", "--batch-size", "4", "--test-size", "0", "--quiet",
            "--strategy", "multiworker", "--out", str(out)]
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", KERAS_BACKEND="tensorflow",
                   PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                   TF_CONFIG=json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True))
    try:
        logs = [w.communicate(timeout=240)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    assert [w.returncode for w in workers] == [0, 0], "\n---\n".join(x[-3000:] for x in logs)
    for log in logs:
        assert "2 replicas" in log and "global batch 8 (4 per replica)" in log
    assert "writes to" not in logs[0] and "this worker writes to" in logs[1]
    # Only the chief (worker 0) wrote the shared files; both trained the same model in step.
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == ["net.best.keras", "net.history.csv", "net.history.json", "net.history.png", "net.json", "net.keras",
                     "net.last.json", "net.last.keras"]
    history = json.loads((out.parent / "net.history.json").read_text())
    assert len(history["loss"]) == 2 and np.all(np.isfinite(history["loss"]))
    epoch_lines = [[line for line in log.splitlines() if "loss:" in line] for log in logs]
    losses = [[line.split("loss: ")[1].split()[0] for line in lines] for lines in epoch_lines]
    assert losses[0] == losses[1] and len(losses[0]) == 2


# ------------------------------------------------------------------ in-process
def test_no_strategy_and_default_strategy():
    assert make_strategy(None) is None
    assert global_batch_size(32, None) == 32
    with distribution_scope(None) as scope:
        assert scope is None
    with pytest.raises(ValueError, match="per_replica"):
        global_batch_size(0, None)
    with pytest.raises(ValueError, match="mirrored, multiworker, default"):
        make_strategy("horovod")


@TF_ONLY
def test_default_strategy_is_one_replica():
    strategy = make_strategy("default")
    assert strategy.num_replicas_in_sync == 1 and global_batch_size(12, strategy) == 12
    with distribution_scope(strategy) as scope:
        assert scope is strategy


@TF_ONLY
def test_multiworker_without_tf_config_says_what_to_set(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(DistributionError) as info:
        make_strategy("multiworker")
    message = str(info.value)
    assert isinstance(info.value, CvToolkitError)
    assert "TF_CONFIG" in message and '"cluster"' in message and '"task"' in message and "index" in message


@pytest.mark.parametrize("raw, expected", [
    ("{not json", "not valid JSON"),
    ('{"task": {"type": "worker", "index": 0}}', "no 'cluster'"),
    ('{"cluster": {"worker": ["a:1"]}}', "no 'task'"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "not in its cluster"),
])
def test_bad_tf_config_is_explained(raw, expected):
    with pytest.raises(DistributionError, match=expected) as info:
        read_tf_config({"TF_CONFIG": raw})
    assert "e.g. TF_CONFIG=" in str(info.value)


def test_chief_is_worker_zero_or_the_chief_task():
    two = {"worker": ["a:1", "b:1"]}
    assert is_chief({})
    assert is_chief({"TF_CONFIG": json.dumps({"cluster": two, "task": {"type": "worker", "index": 0}})})
    assert not is_chief({"TF_CONFIG": json.dumps({"cluster": two, "task": {"type": "worker", "index": 1}})})
    with_chief = {"chief": ["c:1"], **two}
    assert is_chief({"TF_CONFIG": json.dumps({"cluster": with_chief, "task": {"type": "chief", "index": 0}})})
    assert not is_chief({"TF_CONFIG": json.dumps({"cluster": with_chief, "task": {"type": "worker", "index": 0}})})


@pytest.mark.parametrize("name", ["mirrored", "multiworker", "default"])
def test_other_backends_are_refused(monkeypatch, name):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:1"]},
                                                "task": {"type": "worker", "index": 0}}))
    with pytest.raises(DistributionError, match="KERAS_BACKEND=tensorflow") as info:
        make_strategy(name)
    assert "keras.distribution" in str(info.value)
    with pytest.raises(DistributionError, match="KERAS_BACKEND=tensorflow"):
        split_cpu_into_logical_devices(2)


def test_command_strategy_errors(tmp_path, monkeypatch, capsys, image_folder):
    base = ["train", "--dataset", str(image_folder), "--model", "shallownet", "--out", str(tmp_path / "m.keras")]
    assert main(base + ["--cpu-replicas", "2"]) == 2
    assert "--strategy mirrored" in capsys.readouterr().err
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(base + ["--strategy", "multiworker"]) == 2
    err = capsys.readouterr().err
    assert "TF_CONFIG" in err and '"cluster"' in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.keras").exists()
