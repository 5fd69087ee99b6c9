"""requirements.txt (make setup) and environment.yml (conda) must install the same things."""

import re

import pytest
import yaml

from utils import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.\-]+)$")


def _strip(line: str) -> str:
    return line.split("#", 1)[0].strip()


def requirements() -> dict:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if _strip(line):
            match = PIN.match(_strip(line))
            assert match, f"requirements.txt: not an exact pin: {line!r}"
            pins[match[1].lower()] = match[2]
    return pins


def conda_pip_pins() -> tuple[dict, list]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = [], {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                match = PIN.match(line.strip())
                assert match, f"environment.yml: not an exact pin: {line!r}"
                pip[match[1].lower()] = match[2]
        else:
            conda.append(dep)
    return pip, conda


def test_same_packages_and_versions():
    pip, _ = conda_pip_pins()
    assert pip == requirements()


def test_conda_python_is_311():
    _, conda = conda_pip_pins()
    assert "python=3.11" in conda


def test_core_stack_is_pinned():
    pins = requirements()
    for name in ("tensorflow", "keras", "papermill", "pandas", "seaborn", "jupyterlab"):
        assert name in pins, f"{name} missing from requirements.txt"
    assert pins["tensorflow"].startswith("2.21")
    assert pins["keras"].startswith("3.")


def test_installed_versions_match_the_pins():
    """The environment the tests run in is the pinned one (catches a stale .venv)."""
    from importlib.metadata import version

    for name, pinned in requirements().items():
        assert version(name) == pinned, f"{name}: installed {version(name)}, pinned {pinned}"


@pytest.mark.parametrize("value, enabled", [("1", True), ("0", False)])
def test_determinism_follows_birnn_deterministic(value, enabled):
    """`set_seed` turns TensorFlow's op determinism on, unless BIRNN_DETERMINISTIC=0 (the way
    out on a GPU op without a deterministic kernel; README, "On a GPU runtime")."""
    import os
    import subprocess
    import sys

    code = ("from utils.notebook import set_seed; set_seed(0)\n"
            "from tensorflow.python.framework import config\n"
            "print('DETERMINISM', config.is_op_determinism_enabled())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "BIRNN_DETERMINISTIC": value}, timeout=120)
    assert f"DETERMINISM {enabled}" in result.stdout, result.stderr[-1000:]
