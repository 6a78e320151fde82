"""`cvtoolkit train` end to end on a tiny folder."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

pytest.importorskip("keras")
cv2 = pytest.importorskip("cv2")

from cvtoolkit.cli import main  # noqa: E402


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "pets"
    for c, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for i in range(12):
            img = rng.integers(0, 80, (20, 18, 3), dtype=np.uint8)
            img[..., c] += 150
            cv2.imwrite(str(root / name / f"{i}.png"), img)
    return root


def test_train_command_writes_model_monitor_and_report(folder, tmp_path, capsys):
    out = tmp_path / "models" / "shallow.keras"
    rc = main(["train", "--dataset", str(folder), "--model", "shallownet", "--epochs", "2",
               "--image-size", "16", "--batch-size", "8", "--out", str(out), "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "6 samples" in printed.replace("6 test", "")
    for name in ("shallow.keras", "shallow.json", "shallow.history.json", "shallow.history.png",
                 "shallow.best.keras", "shallow.last.keras", "shallow.last.json"):
        assert (out.parent / name).is_file(), name
    assert not [p for p in os.listdir(out.parent) if ".tmp-" in p]
    meta = json.loads((out.parent / "shallow.json").read_text())
    assert meta["class_names"] == ["cat", "dog"] and meta["input_shape"] == [16, 16, 3]

    from cvtoolkit.train import KerasImageClassifier

    clf = KerasImageClassifier.load(out)
    assert clf.class_names_ == ["cat", "dog"]
    assert clf.predict_proba(np.zeros((3, 16, 16, 3), np.uint8)).shape == (3, 2)


def test_train_command_streams_and_resumes(folder, tmp_path, capsys):
    out = tmp_path / "m.keras"
    args = ["train", "--dataset", str(folder), "--model", "shallownet", "--image-size", "16",
            "--batch-size", "8", "--stream", "--augment", "--schedule", "one_cycle", "--out", str(out), "--quiet",
            "--workers", "2"]
    assert main(args + ["--epochs", "1"]) == 0
    assert json.loads((tmp_path / "m.last.json").read_text())["epoch"] == 1
    capsys.readouterr()
    assert main(args + ["--epochs", "2", "--resume"]) == 0
    assert "resuming" in capsys.readouterr().out
    history = json.loads((tmp_path / "m.history.json").read_text())
    assert len(history["loss"]) == 2
    assert json.loads((tmp_path / "m.last.json").read_text())["epoch"] == 2


def test_schedule_choices_match_the_factory():
    from cvtoolkit.commands.train import SCHEDULE_NAMES
    from cvtoolkit.train.schedules import SCHEDULES

    assert tuple(SCHEDULE_NAMES) == tuple(SCHEDULES)


def test_train_command_user_errors(tmp_path, capsys):
    rc = main(["train", "--dataset", str(tmp_path / "missing"), "--model", "shallownet",
               "--out", str(tmp_path / "m.keras")])
    assert rc == 2
    assert "missing" in capsys.readouterr().err
    rc = main(["train", "--dataset", "digits", "--model", "shallownet", "--out", str(tmp_path / "m.h5")])
    assert rc == 2 and ".keras" in capsys.readouterr().err


@pytest.mark.parametrize("stream", [False, True])
def test_train_command_max_pixels_skips_large_files(folder, tmp_path, capsys, caplog, stream):
    # The images are 20 x 18 = 360 pixels; one of 40 x 40 = 1600 joins the cats.
    cv2.imwrite(str(folder / "cat" / "huge.png"), np.zeros((40, 40, 3), np.uint8))
    args = ["train", "--dataset", str(folder), "--model", "shallownet", "--epochs", "1", "--image-size", "16",
            "--batch-size", "8", "--out", str(tmp_path / "m.keras"), "--quiet", "--max-pixels", "1000"]
    assert main(args + (["--stream", "--workers", "1"] if stream else [])) == 0
    shown = capsys.readouterr().out + caplog.text
    assert "huge.png" in shown and "decompression bomb" in shown
