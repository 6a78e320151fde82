"""Start-up costs: listing names never imports TensorFlow; TensorFlow's native start-up lines stay off screen."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("tensorflow", "keras", "sklearn")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)


def test_list_methods_imports_neither_tensorflow_nor_scikit_learn():
    code = ("import sys; from cvtoolkit.cli import main; rc = main(['compare', '--list-methods']); "
            f"print(rc, sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = _run(code)
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "0 []", done.stdout + done.stderr
    cnn_line = next(line for line in lines if line.startswith("CNNs:"))
    assert "shallownet" in cnn_line and "resnet" in cnn_line
    assert any(line.startswith("features:") and "hog" in line for line in lines)
    assert any(line.startswith("classifiers:") and "logreg" in line for line in lines)


def test_help_and_cnn_name_checks_do_not_import_tensorflow():
    code = ("import sys, contextlib, io\n"
            "from cvtoolkit.cli import main\n"
            "from cvtoolkit.methods import validate_methods\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            "        main(['--help'])\n"
            "    except SystemExit:\n"
            "        pass\n"
            "    try:\n"
            "        main(['compare', '--help'])\n"
            "    except SystemExit:\n"
            "        pass\n"
            "assert [s.kind for s in validate_methods(['shallownet', 'raw+knn'])] == ['cnn', 'classical']\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    assert _run(code).stdout.strip().splitlines()[-1] == "[]"


def test_builtin_names_are_the_registry_names():
    from cvtoolkit.nn import MODELS
    from cvtoolkit.nn.names import BUILTIN_MODELS, model_names

    assert tuple(MODELS)[: len(BUILTIN_MODELS)] == BUILTIN_MODELS
    assert model_names() == list(MODELS)


def test_unknown_cnn_name_still_fails_with_the_list():
    from cvtoolkit.methods import validate_methods
    from cvtoolkit.methods.spec import MethodError

    with pytest.raises(MethodError, match="shallownet"):
        validate_methods(["shalownet"])


def test_native_stderr_filter_drops_startup_noise_and_keeps_the_rest():
    code = ("import os\n"
            "from cvtoolkit._quiet import filtered_native_stderr\n"
            "with filtered_native_stderr():\n"
            "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
            "    os.write(2, b'I0000 00:00:1795795148.720106   12962 port.cc:153] oneDNN custom operations are on.\\n')\n"
            "    os.write(2, b'E0000 00:00:1795795186.99   14608 cuda_platform.cc:52] failed call to cuInit: X\\n')\n"
            "    os.write(2, b'E0000 00:00:1.5   1 foo.cc:9] a real error\\n')\n"
            "    os.write(2, b'plain line\\n')\n"
            "os.write(2, b'after\\n')\n")
    done = _run(code)
    assert done.stderr.splitlines() == ["E0000 00:00:1.5   1 foo.cc:9] a real error", "plain line", "after"]


@pytest.mark.slow
def test_cli_imports_tensorflow_without_native_log_lines_and_with_onednn_default():
    code = ("import os, sys\n"
            "os.environ.pop('TF_ENABLE_ONEDNN_OPTS', None)\n"
            "os.environ.pop('TF_CPP_MIN_LOG_LEVEL', None)  # tf2onnx (imported by other tests) sets it to 3\n"
            "from cvtoolkit.cli import _quiet_backends\n"
            "_quiet_backends()\n"
            "import keras\n"
            "keras.ops.convert_to_numpy(keras.ops.ones((2, 2)) + 1)\n"
            "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), os.environ.get('TF_CPP_MIN_LOG_LEVEL'))\n")
    done = _run(code)
    assert done.stdout.strip() == "None 2"
    noise = [line for line in done.stderr.splitlines() if line.strip()]
    assert noise == [], done.stderr
