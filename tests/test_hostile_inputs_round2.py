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


@pytest.mark.slow
def test_export_of_a_real_model_keeps_user_files_and_replaces_only_its_own(tmp_path, capsys):
    pytest.importorskip("keras")
    from conftest import make_class_images
    from cvtoolkit.methods import make_method
    from cvtoolkit.methods.artifact import load_pipeline, save_pipeline

    images, labels, names = make_class_images(4, size=16)
    est = make_method("shallownet", cnn_options={"epochs": 1, "batch_size": 8, "verbose": 0}).fit(images, labels)
    model = tmp_path / "models" / "sn"
    save_pipeline(est, model, method="shallownet", class_names=names, image_size=16, channels=3)
    (tmp_path / "models" / "notes.txt").write_text("sibling")
    user = tmp_path / "expuser"
    user.mkdir()
    (user / "thesis.tex").write_text("precious")
    # the issue's reproduction: exit 0 and thesis.tex gone before the fix
    assert_user_error(cli(capsys, "export", "--model", model, "--format", "savedmodel", "--out", user),
                      "export", "not written by cvtoolkit")
    assert (user / "thesis.tex").read_text() == "precious"
    assert_user_error(cli(capsys, "export", "--model", model, "--format", "savedmodel", "--out",
                          tmp_path / "models", "--overwrite"), "export", "the model being exported")
    assert load_pipeline(model).class_names == names and (tmp_path / "models" / "notes.txt").is_file()
    out = tmp_path / "exported" / "sm"
    for _ in range(2):  # an earlier export is cvtoolkit's own: replaced without --overwrite
        rc, printed, err = cli(capsys, "export", "--model", model, "--format", "savedmodel", "--out", out)
        assert rc == 0, err
        assert (out / "saved_model.pb").is_file() and not lock_path_for(out).exists()
    (out / "thesis.tex").write_text("precious")  # a user's file put inside it: no longer only an export
    assert_user_error(cli(capsys, "export", "--model", model, "--format", "savedmodel", "--out", out),
                      "export", "not written by cvtoolkit")
    assert (out / "thesis.tex").read_text() == "precious"


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


# ----------------------------------------------------------------------------- case 13: a class folder linked into another class


def test_a_class_folder_linked_into_another_class_is_refused(image_folder, capsys):
    from cvtoolkit.data import list_image_folder
    from cvtoolkit.errors import DatasetError

    (image_folder / "circle" / "square_link").symlink_to(image_folder / "square", target_is_directory=True)
    with pytest.raises(DatasetError, match="both class 'circle' and class 'square'"):
        list_image_folder(image_folder)
    assert_user_error(cli(capsys, "compare", "--dataset", image_folder, "--methods", "raw+knn", "--no-cache",
                          "--quiet", "--out", image_folder.parent / "o"),
                      "compare", "square_link", "symbolic link", "both class")


def test_a_class_folder_that_is_a_link_to_another_class_is_refused(image_folder):
    from cvtoolkit.data import list_image_folder
    from cvtoolkit.errors import DatasetError

    (image_folder / "zebra").symlink_to(image_folder / "square", target_is_directory=True)
    with pytest.raises(DatasetError, match="'square' and class 'zebra'"):
        list_image_folder(image_folder)


def test_a_link_inside_one_class_to_its_own_folder_is_still_listed_once(image_folder):
    from cvtoolkit.data import list_image_folder

    (image_folder / "circle" / "again").symlink_to(image_folder / "circle", target_is_directory=True)
    listing = list_image_folder(image_folder)
    assert len(listing.paths) == 24 and len(set(listing.paths)) == 24


# ----------------------------------------------------------------------------- case 14: --label-pattern


@pytest.fixture
def flat_folder(tmp_path):
    """A flat Dogs-vs-Cats-like folder: cat.N.png and dog.N.png, 5 of each."""
    shapes = write_image_folder(tmp_path / "shapes", n_per_class=5, size=16, classes=("cat", "dog"))
    flat = tmp_path / "flat"
    flat.mkdir()
    for cls in ("cat", "dog"):
        for i, f in enumerate(sorted((shapes / cls).iterdir())):
            (flat / f"{cls}.{i}.png").write_bytes(f.read_bytes())
    return flat


def test_a_label_pattern_matching_nothing_says_so(flat_folder, capsys):
    from cvtoolkit.data import list_by_filename
    from cvtoolkit.errors import DatasetError

    with pytest.raises(DatasetError, match="matched none of the 10 image file names"):
        list_by_filename(flat_folder, r"^(bird|fish)\.")
    line = assert_user_error(cli(capsys, "fit", "--dataset", flat_folder, "--label-pattern", r"^(bird|fish)\.",
                                 "--method", "raw+knn", "--quiet", "--out", flat_folder.parent / "m"),
                             "fit", "--label-pattern", "matched none of the 10")
    assert "unreadable" not in line


def test_a_label_pattern_whose_first_group_is_not_the_label_names_the_group(flat_folder, capsys):
    from cvtoolkit.data import list_by_filename
    from cvtoolkit.errors import DatasetError

    with pytest.raises(DatasetError, match="first group, which is the label"):
        list_by_filename(flat_folder, "(cat)|(dog)")
    line = assert_user_error(cli(capsys, "compare", "--dataset", flat_folder, "--label-pattern", "(cat)|(dog)",
                                 "--methods", "raw+knn", "--no-cache", "--quiet", "--out", flat_folder.parent / "o"),
                             "compare", "(cat)|(dog)", "group 2", "(cat|dog)")
    assert "only one class" not in line
    listing = list_by_filename(flat_folder, r"^(cat|dog)\.")  # the one-group spelling works
    assert listing.class_names == ["cat", "dog"] and len(listing.paths) == 10


# ----------------------------------------------------------------------------- case 15: numbers that mean nothing


def test_folds_below_two_are_refused_like_one(image_folder, capsys):
    for k in ("0", "1", "-3"):  # 0 used to run one split silently
        with pytest.raises(SystemExit) as exc:  # an argparse usage error, as for --image-size 0
            main(["compare", "--dataset", str(image_folder), "--methods", "raw+knn", "--folds", k, "--no-cache",
                  "--quiet", "--out", str(image_folder.parent / "o")])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and "--folds" in err and "at least 2 folds" in err and "Traceback" not in err
    assert not (image_folder.parent / "o").exists()


@pytest.mark.parametrize("command", ["compare", "fit", "audit", "train", "extract"])
def test_a_negative_seed_is_a_usage_error_not_add_images(image_folder, capsys, command):
    extra = {"compare": ["--methods", "raw+knn"], "fit": ["--method", "raw+knn"], "audit": [],
             "train": ["--model", "shallownet"], "extract": ["--features", "hsv_hist"]}[command]
    with pytest.raises(SystemExit) as exc:
        main([command, "--dataset", str(image_folder), *extra, "--seed", "-1", "--out", str(image_folder.parent / "o")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--seed" in err and "between 0 and 4294967295" in err
    assert "Add images" not in err and "Traceback" not in err


def test_stratified_split_refuses_a_negative_seed_by_name():
    import numpy as np

    from cvtoolkit.data.split import stratified_split
    from cvtoolkit.errors import DatasetError

    with pytest.raises(DatasetError, match="seed -1") as exc:
        stratified_split(np.repeat([0, 1], 10), test_size=0.25, seed=-1)
    assert "Add images" not in str(exc.value)


def test_a_learning_curve_of_repeated_fractions_is_refused(image_folder, capsys):
    from cvtoolkit.methods.learning_curve import LearningCurveError, parse_fractions

    with pytest.raises(LearningCurveError, match="given twice"):
        parse_fractions("0.5,0.5")
    with pytest.raises(LearningCurveError, match="at least two fractions"):
        parse_fractions("1.0")
    assert parse_fractions("1,0.25") == [0.25, 1.0]
    assert_user_error(cli(capsys, "compare", "--dataset", image_folder, "--methods", "raw+knn", "--learning-curve",
                          "0.5,0.5", "--no-cache", "--quiet", "--out", image_folder.parent / "o"),
                      "compare", "0.5 is given twice")


def test_a_manifest_format_written_as_a_string_says_so(tmp_path, capsys):
    import numpy as np

    from cvtoolkit.methods import make_method
    from cvtoolkit.methods.artifact import save_pipeline

    est = make_method("raw+knn").fit(np.zeros((4, 8, 8, 3), np.uint8), [0, 1, 0, 1])
    model = save_pipeline(est, tmp_path / "m", method="raw+knn", class_names=["a", "b"], image_size=8, channels=3)
    manifest = json.loads((Path(model) / "manifest.json").read_text())
    manifest["format"] = str(manifest["format"])
    (Path(model) / "manifest.json").write_text(json.dumps(manifest))
    folder = write_image_folder(tmp_path / "shapes", n_per_class=2, size=8, classes=("a", "b"))
    line = assert_user_error(cli(capsys, "predict", "--model", model, "--images", folder, "--out",
                                 tmp_path / "p.csv"), "predict", "manifest.json", '"format" is "1", a str')
    assert "format 1 " not in line


# ----------------------------------------------------------------------------- case 17: quiet means quiet, once means once


def _run_cli(*argv, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "cvtoolkit", *map(str, argv)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=cwd)


@pytest.mark.slow
def test_quiet_prints_no_info_lines_and_fit_says_saved_once(tmp_path):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=4, size=16)
    out = tmp_path / "m"
    quiet = _run_cli("fit", "--dataset", folder, "--method", "raw+knn", "--image-size", "8", "--quiet", "--out", out)
    assert quiet.returncode == 0, quiet.stderr
    assert "INFO" not in quiet.stderr and "cvtoolkit-size-" not in quiet.stderr, quiet.stderr
    loud = _run_cli("fit", "--dataset", folder, "--method", "raw+knn", "--image-size", "8", "--out", out)
    assert loud.returncode == 0, loud.stderr
    said = (loud.stdout + loud.stderr).count("pipeline to")
    assert said == 1, loud.stdout + loud.stderr
    extract = _run_cli("extract", "--dataset", folder, "--features", "hsv_hist", "--quiet", "--out", tmp_path / "f.h5")
    assert extract.returncode == 0, extract.stderr
    assert "INFO" not in extract.stderr, extract.stderr  # its 'wrote ...' log line is progress, not a warning


def test_an_unreadable_folder_is_warned_about_once(image_folder, monkeypatch, caplog):
    from cvtoolkit.data import list_by_filename, list_image_folder

    sub = image_folder / "circle" / "more"
    sub.mkdir()
    real = os.scandir

    def scandir(path="."):
        if os.path.abspath(os.fspath(path)) == str(sub):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    for lister in (list_image_folder, lambda root: list_by_filename(root, r"(\d+)")):
        caplog.clear()
        with caplog.at_level("WARNING"):
            listing = lister(image_folder)
        assert [s.path for s in listing.skipped] == [str(sub)]
        assert sum(str(sub) in r.getMessage() for r in caplog.records) == 1, [r.getMessage() for r in caplog.records]


# ----------------------------------------------------------------------------- case 19: names shown, never rendered


def test_report_md_shows_html_in_names_as_text(tmp_path):
    from types import SimpleNamespace

    from cvtoolkit.evaluate.compare_report import write_compare_reports

    evil = '<img src=x onerror="alert(1)">'
    rows = [{"method": "raw+knn", "accuracy": 0.9, "f1_macro": 0.88, "fit_seconds": 0.1, "predict_ms_per_image": 0.2},
            {"method": "hog+svm", "error": f"ValueError: class {evil} has one image"}]
    result = SimpleNamespace(rows=rows, reports={}, files={}, settings={"class_names": ["cat", evil]},
                             verdict=f"best classical raw+knn; {evil} <script>alert(2)</script>")
    files = write_compare_reports(result, tmp_path)
    md = Path(files["report.md"]).read_text(encoding="utf-8")
    assert "<img" not in md and "<script" not in md
    assert "&lt;img src=x" in md and "&lt;script&gt;" in md


def test_audit_html_alt_text_is_escaped_once(tmp_path):
    import html as html_lib
    import re

    import numpy as np

    from cvtoolkit.audit.core import run_audit
    from cvtoolkit.audit.html import render_audit_html
    from cvtoolkit.data import Dataset

    from conftest import make_class_images

    images, labels, _ = make_class_images(4, classes=("a", "b"), size=16)
    images[1] = images[0]  # an exact duplicate group
    names = ["cats & dogs", "<b>"]
    dataset = Dataset(images, labels, names, source="x")  # no files: samples named x[i], thumbnails from arrays
    result = run_audit(dataset, label_issues=False, cache_dir=None, n_jobs=1, progress=False)
    assert result.duplicates
    page = render_audit_html(result, dataset)
    alts = re.findall(r'alt="([^"]*)"', page)
    assert alts, page[:500]
    shown = [html_lib.unescape(a) for a in alts]  # what a browser shows
    assert all("&amp;" not in a and "&lt;" not in a and "<br>" not in a for a in shown), shown
    assert any("cats & dogs" in a for a in shown), shown
