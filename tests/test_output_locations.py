"""Issue 11 cases 2, 7 and 8: --out is checked before any work, never replaces what cvtoolkit did not write,
write errors are one line (exit 2, nothing half-written), and a save killed between its renames recovers.

Read-only locations: the tests run as root, for whom ``chmod`` does not make
a folder read-only, so they use a path under a file, ``/sys`` (not writable
even by root) and monkeypatched writes raising ``OSError(EROFS/ENOSPC)``.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from cvtoolkit.cli import main
from cvtoolkit.errors import OutputError
from cvtoolkit.io import outputs
from cvtoolkit.io.outputs import check_output_location
from cvtoolkit.methods import make_method
from cvtoolkit.methods.artifact import MANIFEST, load_pipeline, save_pipeline


def one_line_error(capsys, *needles: str) -> str:
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return captured.out


@pytest.fixture()
def png(tmp_path) -> Path:
    import cv2

    path = tmp_path / "one.png"
    cv2.imwrite(str(path), np.full((8, 8, 3), 100, np.uint8))
    return path


@pytest.fixture()
def model(tmp_path, image_folder) -> Path:
    out = tmp_path / "model"
    assert main(["fit", "--dataset", str(image_folder), "--method", "raw+knn", "--image-size", "8",
                 "--val-size", "0", "--quiet", "--out", str(out)]) == 0
    return out


# ---------------------------------------------------------------- case 2: refuse to overwrite what is not ours
def test_fit_does_not_delete_a_folder_it_did_not_write(tmp_path, image_folder, capsys):
    docs = tmp_path / "mydocs"
    docs.mkdir()
    (docs / "thesis.txt").write_text("thesis")
    argv = ["fit", "--dataset", str(image_folder), "--method", "raw+knn", "--image-size", "8", "--quiet",
            "--val-size", "0", "--n-jobs", "1", "--out", str(docs)]
    assert main(argv) == 2
    out = one_line_error(capsys, "not written by cvtoolkit", "--overwrite")
    assert "fitting" not in out  # refused before any work
    assert (docs / "thesis.txt").read_text() == "thesis"
    assert main(argv + ["--overwrite"]) == 0
    assert (docs / MANIFEST).is_file() and not (docs / "thesis.txt").exists()
    assert main(argv) == 0  # now a saved pipeline: replaced without --overwrite
    assert load_pipeline(docs).method == "raw+knn"


def test_save_pipeline_refuses_a_foreign_folder(tmp_path):
    from cvtoolkit.errors import ModelError

    rng = np.random.default_rng(0)
    est = make_method("raw+knn").fit(rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8), np.arange(6) % 2)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "keep.txt").write_text("x")
    with pytest.raises(ModelError, match="not a saved pipeline"):
        save_pipeline(est, docs, method="raw+knn", class_names=["a", "b"], image_size=8, channels=3)
    assert (docs / "keep.txt").exists()


@pytest.mark.parametrize("command", ["extract", "pack"])
def test_stores_do_not_replace_a_foreign_file(tmp_path, image_folder, capsys, command):
    out = tmp_path / "precious.h5"
    out.write_text("not a store")
    argv = ([command, "--dataset", str(image_folder), "--out", str(out), "--quiet"]
            + (["--features", "hsv_hist"] if command == "extract" else ["--image-size", "8"]))
    assert main(argv) == 2
    one_line_error(capsys, "not written by cvtoolkit", "--overwrite")
    assert out.read_text() == "not a store"
    assert main(argv + ["--overwrite"]) == 0
    assert main(argv) == 0  # a store now: replaced


def test_predict_does_not_replace_a_foreign_csv(tmp_path, model, png, capsys):
    notes = tmp_path / "notes.csv"
    notes.write_text("name,phone\nann,123\n")
    for option in ("--out", "--submission"):
        assert main(["predict", "--model", str(model), "--images", str(png), option, str(notes)]) == 2
        one_line_error(capsys, option, "--overwrite")
        assert notes.read_text() == "name,phone\nann,123\n"
    mine = tmp_path / "mine.csv"
    for _ in range(2):  # the second run replaces its own CSV
        assert main(["predict", "--model", str(model), "--images", str(png), "--out", str(mine)]) == 0
    assert mine.read_text().startswith("id,predicted,")


@pytest.mark.parametrize("command", ["compare", "evaluate"])
def test_report_folders_are_not_taken_over(tmp_path, image_folder, model, capsys, command):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "report.html").write_text("my own report")
    argv = ([command, "--dataset", str(image_folder), "--out", str(docs), "--quiet"]
            + (["--methods", "raw+knn", "--image-size", "8"] if command == "compare" else ["--model", str(model)]))
    assert main(argv) == 2
    one_line_error(capsys, "not written by cvtoolkit")
    assert (docs / "report.html").read_text() == "my own report"


# ---------------------------------------------------------------- case 8: output problems before the work, one line
@pytest.mark.parametrize("command", ["compare", "fit", "evaluate"])
def test_a_file_where_a_folder_is_expected(tmp_path, image_folder, model, capsys, command):
    target = tmp_path / "taken"
    target.write_text("x")
    argv = {"compare": ["compare", "--dataset", str(image_folder), "--methods", "raw+knn", "--image-size", "8"],
            "fit": ["fit", "--dataset", str(image_folder), "--method", "raw+knn", "--image-size", "8"],
            "evaluate": ["evaluate", "--model", str(model), "--dataset", str(image_folder)]}[command]
    assert main(argv + ["--out", str(target), "--quiet"]) == 2
    out = one_line_error(capsys, "a file, not a folder")
    assert "dataset" not in out  # before loading anything
    assert target.read_text() == "x"


@pytest.mark.parametrize("command", ["extract", "pack", "predict", "fit", "compare"])
def test_an_output_under_a_file(tmp_path, image_folder, model, png, capsys, command):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    argv = {"extract": ["extract", "--dataset", str(image_folder), "--features", "hsv_hist", "--out",
                        str(blocker / "f.h5")],
            "pack": ["pack", "--dataset", str(image_folder), "--image-size", "8", "--out", str(blocker / "p.h5")],
            "predict": ["predict", "--model", str(model), "--images", str(png), "--out", str(blocker / "p.csv")],
            "fit": ["fit", "--dataset", str(image_folder), "--method", "raw+knn", "--out", str(blocker / "m")],
            "compare": ["compare", "--dataset", str(image_folder), "--methods", "raw+knn", "--out",
                        str(blocker / "r")]}[command]
    assert main(argv + ["--quiet"]) == 2
    one_line_error(capsys, "is a file, not a folder")


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.access("/sys", os.W_OK) and os.geteuid() != 0,
                    reason="needs Linux /sys, which no one may create files in")
def test_an_unwritable_location_is_refused_before_the_work(image_folder, capsys):
    assert main(["pack", "--dataset", str(image_folder), "--image-size", "8", "--out", "/sys/cvtoolkit-x.h5",
                 "--quiet"]) == 2
    one_line_error(capsys, "cannot write in /sys")


@pytest.mark.parametrize("command", ["compare", "fit", "predict", "evaluate", "extract", "pack"])
def test_a_read_only_file_system_is_one_line(tmp_path, image_folder, model, png, capsys, monkeypatch, command):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(outputs.tempfile, "mkstemp", read_only)
    out = tmp_path / "ro"
    argv = {"extract": ["extract", "--dataset", str(image_folder), "--features", "hsv_hist", "--out", f"{out}.h5"],
            "pack": ["pack", "--dataset", str(image_folder), "--image-size", "8", "--out", f"{out}.h5"],
            "predict": ["predict", "--model", str(model), "--images", str(png), "--out", f"{out}.csv"],
            "fit": ["fit", "--dataset", str(image_folder), "--method", "raw+knn", "--out", str(out)],
            "evaluate": ["evaluate", "--model", str(model), "--dataset", str(image_folder), "--out", str(out)],
            "compare": ["compare", "--dataset", str(image_folder), "--methods", "raw+knn", "--out", str(out)]}[command]
    assert main(argv + ["--quiet"]) == 2
    one_line_error(capsys, "read-only file system")
    assert not any(p.name.startswith("ro") for p in tmp_path.iterdir())


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", str(args[-1]))  # (tmp, path) or (estimator, path)


def test_a_full_disk_while_packing_is_one_line_and_leaves_nothing(tmp_path, image_folder, capsys, monkeypatch):
    from cvtoolkit.io import hdf5_writer

    real = hdf5_writer.HDF5Writer.flush

    def flush(self):
        if self.rows_committed:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.partial))
        real(self)

    monkeypatch.setattr(hdf5_writer.HDF5Writer, "flush", flush)
    out = tmp_path / "p.h5"
    assert main(["pack", "--dataset", str(image_folder), "--image-size", "8", "--chunk-rows", "4", "--quiet",
                 "--out", str(out)]) == 2
    one_line_error(capsys, "no space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shapes"]


@pytest.mark.parametrize("command", ["compare", "fit", "predict", "evaluate"])
def test_a_full_disk_while_writing_results_is_one_line_and_leaves_no_partial_file(
        tmp_path, image_folder, model, png, capsys, monkeypatch, command):
    from cvtoolkit.io import atomic
    from cvtoolkit.methods import trusted

    monkeypatch.setattr(atomic, "commit_temp", enospc)
    monkeypatch.setattr(trusted, "dump_pipeline", enospc)
    out = tmp_path / "full"
    argv = {"predict": ["predict", "--model", str(model), "--images", str(png), "--out", f"{out}.csv"],
            "fit": ["fit", "--dataset", str(image_folder), "--method", "raw+knn", "--image-size", "8", "--out",
                    str(out)],
            "evaluate": ["evaluate", "--model", str(model), "--dataset", str(image_folder), "--out", str(out)],
            "compare": ["compare", "--dataset", str(image_folder), "--methods", "raw+knn", "--image-size", "8",
                        "--out", str(out)]}[command]
    assert main(argv + ["--quiet"]) == 2
    one_line_error(capsys, "no space left on device")
    leftovers = [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]
    assert leftovers == []
    assert not Path(f"{out}.csv").exists() and not (out / MANIFEST).exists()


def test_check_output_location_unit(tmp_path):
    assert check_output_location(tmp_path / "new" / "deeper" / "x.h5") == tmp_path / "new" / "deeper" / "x.h5"
    assert not (tmp_path / "new").exists()  # nothing created
    (tmp_path / "d").mkdir()
    with pytest.raises(OutputError, match="a folder, not a file"):
        check_output_location(tmp_path / "d", kind="file")
    assert not list(tmp_path.glob(".cvtoolkit-probe-*"))


# ---------------------------------------------------------------- case 7: a save killed between its two renames
def _half_done_swap(tmp_path: Path, image_folder: Path, new_complete: bool) -> tuple[Path, float]:
    out = tmp_path / "m"
    assert main(["fit", "--dataset", str(image_folder), "--method", "raw+knn", "--image-size", "8",
                 "--val-size", "0", "--quiet", "--out", str(out)]) == 0
    old_created = load_pipeline(out).manifest["created"]
    dead = 2 ** 22 + 12345  # above the default pid_max range of most systems: no such process
    old = tmp_path / f".m.old-{dead}"
    tmp = tmp_path / f".m.tmp-{dead}-abcd"
    os.replace(out, old)  # first rename done ...
    import shutil

    shutil.copytree(old, tmp)  # ... the new folder complete (or not), the second rename never happened
    manifest = (tmp / MANIFEST).read_text().replace(old_created, "2000-01-01T00:00:00Z")
    (tmp / MANIFEST).write_text(manifest)
    if not new_complete:
        (tmp / MANIFEST).unlink()
    return out, old_created


@pytest.mark.parametrize("new_complete", [True, False])
def test_load_finishes_or_rolls_back_a_half_done_swap(tmp_path, image_folder, new_complete):
    out, old_created = _half_done_swap(tmp_path, image_folder, new_complete)
    assert not out.exists()
    loaded = load_pipeline(out)
    assert loaded.manifest["created"] == ("2000-01-01T00:00:00Z" if new_complete else old_created)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".m.")) == []


def test_the_next_fit_cleans_up_a_half_done_swap(tmp_path, image_folder):
    out, _ = _half_done_swap(tmp_path, image_folder, new_complete=False)
    assert main(["fit", "--dataset", str(image_folder), "--method", "raw+knn", "--image-size", "8",
                 "--val-size", "0", "--quiet", "--out", str(out)]) == 0
    assert (out / MANIFEST).is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".m.")) == []


def test_a_chunk_that_does_not_fit_the_free_space_is_refused_before_hdf5_writes_it(tmp_path, image_folder, capsys,
                                                                                  monkeypatch):
    import collections

    from cvtoolkit.io import hdf5_writer

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(hdf5_writer.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 10**5, 10**5))
    out = tmp_path / "p.h5"
    assert main(["pack", "--dataset", str(image_folder), "--image-size", "16", "--quiet", "--out", str(out)]) == 2
    one_line_error(capsys, "no space left on device", "MB free")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shapes"]


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="needs RLIMIT_FSIZE")
@pytest.mark.parametrize("command", ["pack", "extract"])
def test_a_file_size_limit_while_writing_a_store_is_one_line_not_a_crash(tmp_path, command):
    """Before: HDF5 failed half-way through a write and the interpreter crashed at exit (exit 139)."""
    import resource
    import subprocess

    from conftest import write_image_folder

    folder = write_image_folder(tmp_path / "imgs", n_per_class=60, size=32)
    out = tmp_path / "s.h5"
    argv = ([command, "--dataset", str(folder), "--out", str(out), "--quiet"]
            + (["--image-size", "64", "--chunk-rows", "32"] if command == "pack"
               else ["--features", "raw", "--set", "size=64", "--batch-size", "32", "--no-resume"]))

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))

    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(repo))
    run = subprocess.run([sys.executable, "-m", "cvtoolkit", *argv], capture_output=True, text=True, env=env,
                         preexec_fn=limit, timeout=300)
    assert run.returncode == 2, (run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr and "ulimit -f" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not out.exists() and not Path(f"{out}.partial").exists()


@pytest.mark.slow
def test_train_checks_its_out_before_training(tmp_path, image_folder, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    base = ["train", "--dataset", str(image_folder), "--model", "shallownet", "--epochs", "1", "--quiet"]
    assert main(base + ["--out", str(blocker / "m.keras")]) == 2
    one_line_error(capsys, "is a file, not a folder")
    foreign = tmp_path / "notes.keras"
    foreign.write_text("my notes")
    assert main(base + ["--out", str(foreign)]) == 2
    out = one_line_error(capsys, "not written by cvtoolkit", "--overwrite")
    assert "epoch" not in out.lower() and foreign.read_text() == "my notes"
