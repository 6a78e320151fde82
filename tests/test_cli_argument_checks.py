"""Issue 11 cases 9, 10, 11: empty or repeated --methods, unknown or invalid extract --set, bad --image-size:
each a one-line error (exit 2) before any work, never a traceback."""

from __future__ import annotations

import pytest

from cvtoolkit.cli import main
from cvtoolkit.commands.extract import option_names
from cvtoolkit.methods.spec import MethodError, split_methods


def one_line(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = [line for line in captured.err.strip().splitlines() if not line.startswith("usage:")
             and not line.startswith(" ")]
    assert len(lines) == 1, captured.err
    return lines[0], captured.out


@pytest.mark.parametrize("value, needle", [("", "names no method"), (",,,", "names no method"),
                                           (" , ", "names no method"), ("raw+knn,,hog+knn", "empty entry"),
                                           ("raw+knn,raw+knn", "more than once"),
                                           ("raw+knn, RAW+KNN", "more than once")])
def test_empty_or_repeated_methods_are_refused_before_loading(tmp_path, capsys, value, needle):
    assert main(["compare", "--methods", value, "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err, out = one_line(capsys)
    assert needle in err
    assert "dataset" not in out and not (tmp_path / "r").exists()


def test_split_methods():
    assert split_methods(" raw+knn ,hog+linear_svm") == ["raw+knn", "hog+linear_svm"]
    assert split_methods(None) is None
    with pytest.raises(MethodError):
        split_methods("")


@pytest.mark.parametrize("setting, needle", [("orientatons=9", "not an option of hog"),
                                             ("orientations=-1", "'orientations' parameter of HOG must be"),
                                             ("pixels_per_cell=(0, 0)", "pixels_per_cell must be positive"),
                                             ("bins=-3", "'bins' parameter of ColorHistogram must be")])
def test_extract_set_unknown_keys_and_invalid_values(tmp_path, capsys, setting, needle):
    out = tmp_path / "f.h5"
    assert main(["extract", "--dataset", "digits", "--features", "hog,hsv_hist", "--set", setting, "--quiet",
                 "--out", str(out)]) == 2
    err, _ = one_line(capsys)
    assert needle in err and "valid keys: " in err and "orientations" in err
    assert not out.exists() and not (tmp_path / "f.h5.partial").exists()


def test_option_names_cover_every_part():
    assert {"orientations", "bins", "size"} <= set(option_names(["hog", "hsv_hist"]))
    assert "lbp_P" in option_names(["combined"])


@pytest.mark.parametrize("command", ["compare", "fit", "train", "extract", "pack"])
@pytest.mark.parametrize("size", ["0", "-5", "abc"])
def test_image_size_is_checked_by_the_parser_of_every_command(tmp_path, capsys, command, size):
    argv = {"compare": ["compare"], "fit": ["fit", "--method", "raw+knn"], "train": ["train", "--model", "lenet"],
            "extract": ["extract", "--features", "hog"], "pack": ["pack"]}[command]
    with pytest.raises(SystemExit) as exc:
        main(argv + ["--dataset", "digits", "--image-size", size, "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    err, _ = one_line(capsys)
    assert "--image-size" in err and ("positive number of pixels" in err or "whole number" in err)
