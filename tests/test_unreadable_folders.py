"""Issue 11 case 6: a folder that cannot be listed is named with its reason and counted with the skipped files.

The tests run as root, whom ``chmod 000`` does not stop, so listing is made
to fail with ``PermissionError`` by wrapping ``os.scandir`` and ``os.listdir`` for the chosen
folders (what ``os.walk`` and ``Path.iterdir`` meet on an unreadable folder).
"""

from __future__ import annotations

import os

import pytest

from cvtoolkit.cli import main
from cvtoolkit.data import list_by_filename, list_image_folder


@pytest.fixture()
def unreadable(monkeypatch):
    """``unreadable(path)``: listing ``path`` raises PermissionError from now on."""
    blocked: set[str] = set()
    real = os.scandir

    def scandir(path="."):
        if os.path.abspath(os.fspath(path)) in blocked:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    real_listdir = os.listdir

    def listdir(path="."):
        if os.path.abspath(os.fspath(path)) in blocked:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "listdir", listdir)
    return lambda p: blocked.add(os.path.abspath(os.fspath(p)))


def test_an_unreadable_class_folder_is_skipped_with_its_reason_not_called_empty(image_folder, unreadable):
    unreadable(image_folder / "square")
    listing = list_image_folder(image_folder)
    assert listing.class_names == ["circle", "stripes"]
    assert listing.empty_classes == []
    [item] = listing.skipped
    assert item.path == str(image_folder / "square") and "unreadable folder" in item.reason
    assert "Permission denied" in item.reason


def test_an_unreadable_subfolder_is_named(image_folder, unreadable):
    sub = image_folder / "circle" / "more"
    sub.mkdir()
    (sub / "x.png").write_bytes((image_folder / "circle" / "000.png").read_bytes())
    assert len(list_image_folder(image_folder).paths) == 25
    unreadable(sub)
    listing = list_image_folder(image_folder)
    assert len(listing.paths) == 24
    assert [s.path for s in listing.skipped] == [str(sub)]


def test_filename_labels_name_unreadable_folders(tmp_path, image_folder, unreadable):
    unreadable(image_folder / "stripes")
    listing = list_by_filename(image_folder, r"^(\d)")
    assert str(image_folder / "stripes") in [s.path for s in listing.skipped]


def test_the_cli_reports_and_counts_it(tmp_path, image_folder, unreadable, capsys):
    unreadable(image_folder / "square")
    assert main(["pack", "--dataset", str(image_folder), "--image-size", "8", "--quiet",
                 "--out", str(tmp_path / "p.h5")]) == 0
    out = capsys.readouterr().out
    assert "skipped files: 1" in out and "unreadable folder" in out and str(image_folder / "square") in out
    assert "ignored empty class" not in out


def test_an_unreadable_dataset_root_is_one_line(image_folder, unreadable, capsys, tmp_path):
    unreadable(image_folder)
    assert main(["pack", "--dataset", str(image_folder), "--image-size", "8", "--quiet",
                 "--out", str(tmp_path / "p.h5")]) == 2
    err = capsys.readouterr().err
    assert "cannot list the folder" in err and "Traceback" not in err
