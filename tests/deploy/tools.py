"""Operations tools the deploy tests run as a user would: each in its own place outside the
project's virtualenv (checkov and the AWS CLI pin packages the project also uses).

Tools live under ``~/.cache/aicc-test-tools`` (``AICC_TEST_TOOLS`` elsewhere), outside the
checkout, so a fresh clone on the same machine reuses them; each is installed on first use and
again when what it is asked to hold changes. pytest-xdist workers (and concurrent runs) take a
file lock so one installs while the others wait. Under
``CI=true`` a tool that cannot be installed fails the test; elsewhere it is skipped.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("AICC_TEST_TOOLS") or Path.home() / ".cache" / "aicc-test-tools")


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def _locked(name: str) -> Iterator[None]:
    TOOLS.mkdir(parents=True, exist_ok=True)
    with (TOOLS / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def python_tool(name: str, *requirements: str) -> Path:
    """The ``bin`` folder of a virtualenv at ``.tools/<name>`` holding ``requirements``."""
    venv = TOOLS / name
    done = venv / ".installed"
    wanted = "\n".join(requirements)
    with _locked(name):
        if done.exists() and done.read_text() == wanted:
            return venv / "bin"
        shutil.rmtree(venv, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *requirements,
            ],
        ]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                _unavailable(f"could not install {name}: {result.stderr[-2000:]}")
        done.write_text(wanted)
    return venv / "bin"


def npm_tool(name: str, package: str) -> Path:
    """The ``node_modules/.bin`` folder of ``.tools/<name>`` holding the npm ``package``."""
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not installed (apt-get install nodejs npm)")
        raise AssertionError("unreachable")
    prefix = TOOLS / name
    done = prefix / ".installed"
    with _locked(name):
        if done.exists() and done.read_text() == package:
            return prefix / "node_modules" / ".bin"
        prefix.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", package],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if result.returncode != 0:
            _unavailable(f"could not install {package}: {result.stderr[-2000:]}")
        done.write_text(package)
    return prefix / "node_modules" / ".bin"


def system_tool(command: str, package: str) -> str:
    """The path of a command from Debian's packages (``.ci/run`` installs them)."""
    path = shutil.which(command)
    if path is None:
        _unavailable(f"{command} is not installed (apt-get install {package})")
        raise AssertionError("unreachable")
    return path
