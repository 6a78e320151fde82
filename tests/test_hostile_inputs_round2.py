"""Hostile inputs, round two (issue 20, cases 1, 4, 13, 14, 15, 17, 18, 19).

Each case runs where a user meets it, through ``cvtoolkit.cli.main`` (exit 2
with exactly one ``cvtoolkit <cmd>: error: ...`` line and no traceback, or
exit 0 with what was wrong named), and at the library level where there is
one. Cases 2, 3, 5-12, 16 and 20 are in ``tests/test_loading_round2.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cvtoolkit.cli import main
from cvtoolkit.io.lock import lock_path_for

from conftest import write_image_folder

REPO = Path(__file__).resolve().parents[1]


def cli(capsys, *argv):
    """Run the command line; ``(exit status, stdout, stderr)``."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_user_error(result, command: str, *needles: str) -> str:
    """Exit 2, one stderr line ``cvtoolkit <command>: error: ...`` holding every needle, no traceback."""
    rc, _, err = result
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"cvtoolkit {command}: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def fake_keras_file(path: Path) -> Path:
    """A file that looks like a .keras archive (never loaded: the refusals come first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "{}")
    return path


# ----------------------------------------------------------------------------- case 1: export deletes nothing it did not write


def test_export_refuses_a_folder_it_did_not_write(tmp_path, capsys):
    model = fake_keras_file(tmp_path / "models" / "sn.keras")
    user = tmp_path / "expuser"
    user.mkdir()
    (user / "thesis.tex").write_text("precious")
    assert_user_error(cli(capsys, "export", "--model", model, "--format", "savedmodel", "--out", user),
                      "export", str(user), "not written by cvtoolkit", "--overwrite")
    assert (user / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize("fmt", ["savedmodel", "tflite"])
def test_export_never_writes_over_its_own_input(tmp_path, capsys, fmt):
    model = fake_keras_file(tmp_path / "models" / "sn.keras")
    (tmp_path / "models" / "notes.txt").write_text("sibling")
    outs = [tmp_path / "models", model] if fmt == "savedmodel" else [tmp_path / "models"]  # x.keras -> x.keras.tflite
    for out in outs:
        line = assert_user_error(cli(capsys, "export", "--model", model, "--format", fmt, "--out", out,
                                     "--overwrite"), "export")
        assert "the model being exported" in line or "a folder, not a file" in line, line
    assert model.is_file() and (tmp_path / "models" / "notes.txt").read_text() == "sibling"


def test_export_refuses_a_users_file_and_preprocessing_json(tmp_path, capsys):
    model = fake_keras_file(tmp_path / "models" / "sn.keras")
    out = tmp_path / "x.tflite"
    out.write_bytes(b"the user's own model")
    assert_user_error(cli(capsys, "export", "--model", model, "--format", "tflite", "--out", out),
                      "export", "x.tflite", "not written by cvtoolkit")
    assert out.read_bytes() == b"the user's own model"
    # a user's JSON where the export's preprocessing JSON goes (savedmodel: <out>.preprocessing.json)
    pre = tmp_path / "x.preprocessing.json"
    pre.write_text('{"mine": true}')
    assert_user_error(cli(capsys, "export", "--model", model, "--format", "savedmodel", "--out", tmp_path / "x"),
                      "export", "x.preprocessing.json", "not written by cvtoolkit")
    assert pre.read_text() == '{"mine": true}' and not (tmp_path / "x").exists()


def test_is_export_recognises_only_its_own_outputs(tmp_path):
    from cvtoolkit.export import is_export, preprocessing_path

    folder = tmp_path / "sm"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"x")
    assert not is_export(folder)  # no preprocessing JSON naming it
    preprocessing_path(folder).write_text(json.dumps({"exported_from": "m", "model_file": "sm"}))
    assert is_export(folder)
    (folder / "thesis.tex").write_text("precious")
    assert not is_export(folder)  # a file SavedModel does not write


# ----------------------------------------------------------------------------- case 18: export's odd --out values


def test_export_to_an_unwritable_place_names_it_not_a_temporary_file(tmp_path, capsys):
    model = fake_keras_file(tmp_path / "m.keras")
    line = assert_user_error(cli(capsys, "export", "--model", model, "--format", "tflite", "--out", "/proc/x"),
                             "export", "/proc", "cannot write")
    assert ".tmp" not in line and "lock" not in line


def test_export_to_the_current_folder_says_why(tmp_path, capsys, monkeypatch):
    model = fake_keras_file(tmp_path / "models" / "m.keras")
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("keep")
    monkeypatch.chdir(work)
    for extra in ([], ["--overwrite"]):
        line = assert_user_error(cli(capsys, "export", "--model", model, "--format", "savedmodel", "--out", ".",
                                     *extra), "export", "the current folder", "new folder")
        assert "busy" not in line.lower()
    assert_user_error(cli(capsys, "export", "--model", model, "--format", "tflite", "--out", "."),
                      "export", "a folder, not a file")
    assert (work / "keep.txt").read_text() == "keep" and sorted(os.listdir(work)) == ["keep.txt"]


# ----------------------------------------------------------------------------- case 4: one writer per --out, every command

HOLD_LOCK = """
import sys
sys.path.insert(0, {repo!r})
from cvtoolkit.io.lock import output_lock
with output_lock({path!r}):
    print("locked", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def held_lock():
    """``hold(path)``: another process holds the write lock of ``path`` until the test ends."""
    children = []

    def hold(path: Path) -> None:
        child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK.format(repo=str(REPO), path=str(path))],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        children.append(child)
        assert child.stdout.readline().strip() == "locked"

    yield hold
    for child in children:
        child.communicate("\n", timeout=30)


def _argv(command: str, folder: Path, tmp_path: Path, out: Path) -> list:
    model = tmp_path / "model"  # never loaded: the lock comes first
    return {
        "compare": ["compare", "--dataset", folder, "--methods", "raw+knn", "--no-cache", "--quiet", "--out", out],
        "audit": ["audit", "--dataset", folder, "--no-label-issues", "--no-cache", "--quiet", "--out", out],
        "evaluate": ["evaluate", "--model", model, "--dataset", folder, "--quiet", "--out", out],
        "fit": ["fit", "--dataset", folder, "--method", "raw+knn", "--quiet", "--out", out],
        "train": ["train", "--dataset", folder, "--model", "shallownet", "--epochs", "1", "--quiet", "--out", out],
        "export": ["export", "--model", fake_keras_file(tmp_path / "m.keras"), "--format", "savedmodel",
                   "--out", out],
    }[command]


@pytest.mark.parametrize("command", ["compare", "audit", "evaluate", "fit", "train", "export"])
def test_a_second_run_on_the_same_out_stops_before_any_work(tmp_path, capsys, held_lock, command):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=4, size=16)
    out = tmp_path / "runs" / "out"
    held_lock(out)
    assert_user_error(cli(capsys, *_argv(command, folder, tmp_path, out)), command,
                      "being written by another cvtoolkit process", str(lock_path_for(out)))
    assert not out.exists()


@pytest.mark.slow
def test_the_lock_is_released_after_a_run(tmp_path, capsys):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=4, size=16)
    out = tmp_path / "fitted"
    rc, _, err = cli(capsys, "fit", "--dataset", folder, "--method", "raw+knn", "--image-size", "8", "--quiet",
                     "--out", out)
    assert rc == 0, err
    assert (out / "manifest.json").is_file() and not lock_path_for(out).exists()
