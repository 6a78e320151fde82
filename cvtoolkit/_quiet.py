"""TensorFlow's native start-up lines, kept off the user's terminal.

TensorFlow 2.16+ writes its start-up chatter (``WARNING: All log messages
before absl::InitializeLog() ...``, ``I0000 ... cudart_stub.cc ... Could not
find cuda drivers``, ``oneDNN custom operations are on ...``) from C++ to file
descriptor 2 *while it is imported*, before ``TF_CPP_MIN_LOG_LEVEL`` is read,
so the environment variable alone does not quiet it.
:func:`quiet_tensorflow_import` installs an import hook: the first
``import tensorflow`` (directly, or through ``import keras``) runs with the
process's standard error sent to a temporary file, and every line of it
except the known informational ones is written back afterwards, so real
warnings and errors still show. ``TF_CPP_MIN_LOG_LEVEL`` (default ``2``) then
quiets what TensorFlow logs after its import.

This module imports nothing heavy; the CLI calls it first.

Examples
--------
>>> quiet_tensorflow_import()  # idempotent; nothing is imported now
>>> is_startup_noise("I0000 00:00:1.2 123 cudart_stub.cc:31] Could not find cuda drivers")
True
>>> is_startup_noise("E0000 00:00:1.2 99 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)")
True
>>> is_startup_noise("E0000 00:00:1.2 99 foo.cc:1] something failed")
False
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

# re, tempfile and importlib.util are imported when used: ``import cvtoolkit`` installs the hook, and stays cheap.
_NOISE_PATTERN = (
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} [\d:.]+\s+\d+ \S+\] .*"
    r"|To enable the following instructions: .*, in other operations, rebuild TensorFlow .*"  # absl INFO lines (I0000 ...): oneDNN, cuda stubs, cpu features
    r"|E\d{4} [\d:.]+\s+\d+ cuda_\w+\.cc:\d+\] failed call to cuInit: .*)$"  # no GPU driver: CPU it is
)
_NOISE = None

_ENV_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "2"}


def is_startup_noise(line: str) -> bool:
    """Whether a line TensorFlow's native code wrote at import is informational only."""
    global _NOISE
    if _NOISE is None:
        import re

        _NOISE = re.compile(_NOISE_PATTERN)
    return bool(_NOISE.match(line.rstrip("\r\n")))


@contextlib.contextmanager
def filtered_native_stderr() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file; write back its non-noise lines on exit."""
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded, closed): nothing to filter
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [ln for ln in tmp.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not is_startup_noise(ln)]
            if kept:
                with contextlib.suppress(Exception):
                    sys.stderr.write("".join(kept))
                    sys.stderr.flush()


class _QuietTensorFlowFinder:  # an importlib.abc.MetaPathFinder (duck-typed: importlib.abc costs 5 ms)
    """Wraps the loading of the top-level ``tensorflow`` package in :func:`filtered_native_stderr`."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: D401 - importlib protocol
        if fullname != "tensorflow":
            return None
        import importlib.util

        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)  # once: let the normal finders locate the package
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def quiet_exec_module(module):
            with filtered_native_stderr():
                exec_module(module)
                # Device discovery logs too (cuInit fails without a GPU driver): do it now, filtered.
                with contextlib.suppress(Exception):
                    module.config.list_physical_devices()

        loader.exec_module = quiet_exec_module  # this spec's loader instance only
        return spec


def quiet_tensorflow_import() -> None:
    """Quiet TensorFlow's native start-up lines for the rest of this process (call before it is imported).

    Sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless the user set it, and leaves
    ``TF_ENABLE_ONEDNN_OPTS`` at TensorFlow's default (oneDNN on: 1.6x faster
    CPU convolutions here). Does nothing once TensorFlow is imported.
    """
    for key, value in _ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorFlowFinder())
