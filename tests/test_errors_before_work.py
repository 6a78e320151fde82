"""Issue 22, item 4: errors before work.

Names (methods, features, classifiers, CNNs, backbones), options and paths are checked before
any image is read, a near miss gets "did you mean", and a misspelt option shows the command's
own usage.
"""

from __future__ import annotations

import pytest

from cvtoolkit.cli import main


@pytest.fixture
def no_loading(monkeypatch):
    """Fail the test if compare reads the dataset."""
    import cvtoolkit.data
    import cvtoolkit.data.loaders

    def refuse(*args, **kwargs):
        raise AssertionError("the dataset was loaded before the options were checked")

    monkeypatch.setattr(cvtoolkit.data, "load_dataset", refuse)
    monkeypatch.setattr(cvtoolkit.data.loaders, "load_dataset", refuse)


@pytest.mark.parametrize("extra, expected", [
    (["--methods", "hog+linear_svn"], "did you mean 'linear_svm'?"),
    (["--methods", "hgo+linear_svm"], "did you mean 'hog'?"),
    (["--methods", "raw+knn,shalownet"], "did you mean 'shallownet'?"),
    (["--methods", "mobilnet+finetune"], "did you mean 'mobilenet'?"),
    (["--methods", "raw+knn", "--learning-curve-methods", "raw+lgreg"], "did you mean 'logreg'?"),
    (["--learning-curve", "0.5,1.5"], "outside (0, 1]"),
    (["--label-pattern", "(cat"], "is not a regular expression"),
])
def test_names_and_options_checked_before_loading(image_folder, tmp_path, capsys, no_loading, extra, expected):
    rc = main(["compare", "--dataset", str(image_folder), "--out", str(tmp_path / "o"), "--quiet", *extra])
    captured = capsys.readouterr()
    assert rc == 2 and expected in captured.err
    assert len(captured.err.strip().splitlines()) == 1 and "methods (" not in captured.out
    assert not (tmp_path / "o").exists()


def test_paths_checked_with_the_closest_name(image_folder, tmp_path, capsys, no_loading):
    misspelt = str(image_folder)[:-1]  # .../shape instead of .../shapes
    assert main(["compare", "--dataset", misspelt, "--quiet"]) == 2
    assert f"did you mean {str(image_folder)!r}?" in capsys.readouterr().err
    assert main(["compare", "--dataset", "digit", "--quiet"]) == 2
    assert "did you mean 'digits'?" in capsys.readouterr().err
    weights = tmp_path / "mobilenet_2_5_224_tf_no_top.h5"
    weights.write_bytes(b"")
    assert main(["compare", "--dataset", str(image_folder), "--quiet",
                 "--weights", str(tmp_path / "mobilenet_2_5_224_tf_notop.h5")]) == 2
    err = capsys.readouterr().err
    assert "--weights" in err and f"did you mean {str(weights)!r}?" in err


def test_a_misspelt_option_shows_the_command_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["compare", "--image-sise", "32"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: cvtoolkit compare ") and "--image-size" in err.split("error:")[0]
    assert err.strip().endswith("unrecognized arguments: --image-sise 32; did you mean --image-size?")


def test_a_misspelt_option_of_another_command(capsys):
    with pytest.raises(SystemExit):
        main(["audit", "--datset", "digits"])
    err = capsys.readouterr().err
    assert err.startswith("usage: cvtoolkit audit ") and "did you mean --dataset?" in err


def test_no_progress_bars_in_a_log_file(image_folder, tmp_path, capfd):
    """Issue 22, item 8: stderr is not a terminal here (as in a log file): no carriage-return runs."""
    rc = main(["compare", "--dataset", str(image_folder), "--image-size", "16", "--methods", "raw+knn",
               "--out", str(tmp_path / "o"), "--no-cache"])
    captured = capfd.readouterr()
    assert rc == 0 and "verdict" in captured.out
    assert "\r" not in captured.err and "\r" not in captured.out


def test_leakage_line_names_the_source_size_not_the_loaded_one(tmp_path, capsys):
    """Issue 22, item 8: digits are loaded at 32x32, but hashed at their source 8x8: say so."""
    rc = main(["compare", "--methods", "raw+knn", "--out", str(tmp_path / "o"), "--quiet",
               "--cache-dir", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert rc == 0 and "(32x32x1)" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("leakage:"))
    assert "(450 of them are 8x8 in the source data, under 32 px whatever the loaded size" in line


@pytest.mark.parametrize("command", ["compare", "train"])
def test_tensorboard_without_the_extra_is_one_line_before_work(image_folder, tmp_path, capsys, monkeypatch,
                                                               no_loading, command):
    """Issue 22, item 1: TensorBoard is an optional extra now; without it --tensorboard says so at once."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    extra = ["--methods", "shallownet"] if command == "compare" else ["--model", "shallownet"]
    rc = main([command, "--dataset", str(image_folder), *extra, "--tensorboard", str(tmp_path / "tb"),
               "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "needs TensorBoard, which is not installed" in err and "[tensorboard]" in err


@pytest.mark.parametrize("flag, value", [("--epochs", "0"), ("--batch-size", "0"), ("--folds", "1"),
                                         ("--repeats", "0"), ("--n-jobs", "0"), ("--alpha", "-1"),
                                         ("--epochs", "ten")])
def test_numbers_out_of_range_stop_while_parsing(capsys, flag, value):
    with pytest.raises(SystemExit) as stop:
        main(["compare", flag, value])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("usage: cvtoolkit compare ") and f"argument {flag}" in err
