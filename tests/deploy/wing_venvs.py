"""Virtualenvs holding exactly one image's requirements file and the project, as
``deploy/docker/Dockerfile.<service>`` installs them: ``pip install --require-hashes -r
deploy/requirements/requirements-<image>.txt`` then the project with ``--no-deps``.

They live under ``<tools>/wing-venvs/<image>`` and are rebuilt (by uv, from its wheel cache)
only when the requirements file or the Python changes; the project is reinstalled when its
source changes. pytest-xdist workers take a file lock so one builds while the others wait.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tests.deploy import tools

ROOT = tools.ROOT
REQUIREMENTS = ROOT / "deploy" / "requirements"
VENVS = tools.TOOLS / "wing-venvs"
WINGS = ("monitoring", "recording", "integration", "auth")
IMAGES = ("core", *WINGS)
"""``core`` is the base dependencies alone: the migration image (``aicc db upgrade``)."""

T = TypeVar("T")


def parallel(function: Callable[..., T], *argument_lists: Any) -> list[T]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(function, *argument_lists))


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT
    )


def _project_key() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    for path in sorted((ROOT / "src").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _requirements_key(image: str) -> str:
    requirements = (REQUIREMENTS / f"requirements-{image}.txt").read_bytes()
    return hashlib.sha256(requirements + sys.version.encode()).hexdigest()


def _is(path: Path, key: str) -> bool:
    return path.exists() and path.read_text() == key


def _make_venv(uv: Path, image: str, wheel: Path | None, project: str) -> Path:
    """``<tools>/wing-venvs/<image>``: exactly ``requirements-<image>.txt`` and the project."""
    venv = VENVS / image
    python = venv / "bin" / "python"
    install: list[str | Path] = [uv, "pip", "install", "--quiet", "--compile-bytecode"]
    install += ["--python", python]
    if not _is(venv / ".requirements", _requirements_key(image)):
        shutil.rmtree(venv, ignore_errors=True)
        made = run(uv, "venv", "--quiet", "--python", sys.executable, venv)
        assert made.returncode == 0, made.stderr
        requirements = REQUIREMENTS / f"requirements-{image}.txt"
        result = run(*install, "--require-hashes", "-r", requirements)
        assert result.returncode == 0, result.stderr
        (venv / ".requirements").write_text(_requirements_key(image))
    if not _is(venv / ".project", project):
        assert wheel is not None
        result = run(*install, "--no-deps", "--reinstall", wheel)
        assert result.returncode == 0, result.stderr
        (venv / ".project").write_text(project)
    return venv / "bin"


def build_venvs(uv: Path, scratch: Path) -> dict[str, Path]:
    """The ``bin`` folder of each image's virtualenv, built in parallel (once per change)."""
    project = _project_key()
    with tools._locked("wing-venvs"):
        wheel = None
        if not all(
            _is(VENVS / i / ".requirements", _requirements_key(i))
            and _is(VENVS / i / ".project", project)
            for i in IMAGES
        ):
            result = run(uv, "build", "--quiet", "--wheel", "--out-dir", scratch, ROOT)
            assert result.returncode == 0, result.stderr
            wheel = next(scratch.glob("aicc_common-*.whl"))
        bins = parallel(lambda image: _make_venv(uv, image, wheel, project), IMAGES)
    return dict(zip(IMAGES, bins, strict=True))
