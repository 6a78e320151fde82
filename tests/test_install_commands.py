"""Issue 22, item 1: README's two commands are whole, and CI runs exactly the second one.

(a) installs only what the main job needs; (b) installs the test dependencies, then what pip
cannot bring (Chromium, through scripts/install_test_system_deps.sh), then runs pytest.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install_test_system_deps.sh"
EXTRAS_ONLY = {"mlflow", "tf2onnx", "onnxruntime", "tensorboard", "pytest", "hypothesis"}


def _block(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    after = text.split(f"<!-- {marker} -->", 1)[1]
    return re.search(r"```bash\n(.*?)\n```", after, re.S).group(1).strip()


def _names(lines) -> set[str]:
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=\[ ;]", line, 1)[0].lower())
    return names


def _pyproject():
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_main_command_installs_only_the_main_job():
    main = _block("main-command")
    assert main == "pip install -r requirements.txt -e . && python -m cvtoolkit compare"
    runtime = _names((ROOT / "requirements.txt").read_text().splitlines())
    assert runtime == _names(_pyproject()["dependencies"])  # the file and the package say the same
    assert not runtime & EXTRAS_ONLY


def test_test_command_installs_test_extras_and_chromium_then_runs_pytest():
    cmd = _block("test-command")
    assert cmd == ("pip install -r requirements-test.txt -e . && bash scripts/install_test_system_deps.sh "
                   "&& python -m pytest -q")
    lines = (ROOT / "requirements-test.txt").read_text().splitlines()
    assert "-r requirements.txt" in lines
    assert _names(lines) == EXTRAS_ONLY == _names(_pyproject()["optional-dependencies"]["test"])


def test_ci_runs_exactly_the_readme_command_and_nothing_before_it():
    ci = (ROOT / ".ci" / "run").read_text()
    code = [ln for ln in ci.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert not any(word in ln for ln in code for word in ("apt-get", "chromium", "pip ", "pytest -"))
    assert code[-1].strip() == 'eval "$cmd"'


def _fake_bin(tmp_path: Path, *, chromium=False, apt=None, uid="1000", sudo=False) -> Path:
    """A PATH with the script's few tools, and fakes of id, apt-get, sudo, chromium."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("mktemp", "tail", "rm", "cat", "touch", "chmod"):
        real = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        (bin_dir / tool).symlink_to(real)

    def script(name: str, body: str) -> None:
        (bin_dir / name).write_text("#!/bin/bash\n" + body + "\n")
        (bin_dir / name).chmod(0o755)

    script("id", f'echo {uid}')
    if chromium:
        script("chromium", "exit 0")
    if apt == "works":  # 'installs' chromium into the same folder
        script("apt-get", f'echo "apt-get $*" >> {tmp_path}/apt.log; '
                          f'if [ "$1" = install ] || [ "$3" = install ]; then '
                          f'printf "#!/bin/bash\\nexit 0\\n" > {bin_dir}/chromium; chmod +x {bin_dir}/chromium; fi')
    elif apt == "fails":
        script("apt-get", 'echo "E: Unable to locate package chromium" >&2; exit 100')
    if sudo:
        script("sudo", 'shift; "$@"')  # sudo -n CMD...
    return bin_dir


def _run(bin_dir: Path):
    return subprocess.run(["/bin/bash", str(SCRIPT)], capture_output=True, text=True, timeout=30,
                          env={"PATH": str(bin_dir), "HOME": str(bin_dir.parent)})


def test_script_leaves_an_installed_chromium_alone(tmp_path):
    out = _run(_fake_bin(tmp_path, chromium=True, apt="works", uid="0"))
    assert out.returncode == 0 and "Chromium found" in out.stderr and not (tmp_path / "apt.log").exists()


@pytest.mark.parametrize("uid, sudo", [("0", False), ("1000", True)])
def test_script_installs_chromium_with_apt_get(tmp_path, uid, sudo):
    out = _run(_fake_bin(tmp_path, apt="works", uid=uid, sudo=sudo))
    assert out.returncode == 0, out.stderr
    assert "Chromium installed" in out.stderr
    assert "install -y -qq chromium" in (tmp_path / "apt.log").read_text()


@pytest.mark.parametrize("kwargs, why", [
    ({"apt": None}, "no apt-get"),
    ({"apt": "works", "uid": "1000"}, "neither root nor allowed to sudo"),
    ({"apt": "fails", "uid": "0"}, "failed"),
])
def test_script_says_clearly_when_it_cannot(tmp_path, kwargs, why):
    out = _run(_fake_bin(tmp_path, **kwargs))
    assert out.returncode == 1
    assert "cannot install Chromium" in out.stderr and why in out.stderr
    assert "chromium" in out.stderr.splitlines()[0].lower()
