"""One wing per image: the lock, the requirement files exported from it with hashes, the
import boundaries between wings, and each wing serving from a virtualenv that holds only its
own requirements file plus the project (see ``tests/deploy/wing_venvs.py``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx2
import pytest
from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from tests.backends import free_port
from tests.deploy import tools
from tests.deploy.wing_venvs import IMAGES, REQUIREMENTS, ROOT, WINGS, build_venvs, parallel, run
from tests.processes import aicc_env

EXPORT = REQUIREMENTS / "export.sh"
DEV_TOOLS = ("pytest", "mypy", "ruff", "moto", "import-linter", "numpy", "python-hcl2")
EXTRA_MODULES = {
    "auth": ("argon2", "pyotp", "zxcvbn"),
    "recording": ("av", "zstandard"),
    "integration": (),
    "monitoring": ("psutil",),
}
"""Top-level modules only a wing's own code imports. Others of the extras are loaded by base
libraries when present (bcrypt by cryptography, python-multipart by FastAPI, PyYAML by
uvicorn), so only the wing virtualenvs prove those absent."""


def _pins(path: Path) -> list[tuple[Requirement, set[str]]]:
    """Each requirement of a requirements file with its ``--hash`` values."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *hashes = re.split(r"\s+--hash=", line)
        pins.append((Requirement(spec), {h.strip() for h in hashes}))
    return pins


def _names(image: str) -> set[str]:
    return {canonicalize_name(r.name) for r, _ in _pins(REQUIREMENTS / f"requirements-{image}.txt")}


@pytest.fixture(scope="session")
def uv() -> Path:
    return tools.python_tool("uv", "uv>=0.9") / "uv"


# --- the files ---------------------------------------------------------------------------


def test_lock_and_requirement_files_match_pyproject(uv: Path) -> None:
    result = run(EXPORT, "--check", env={**os.environ, "UV": str(uv)})
    assert result.returncode == 0, result.stderr


def test_the_export_script_passes_shellcheck() -> None:
    shellcheck = tools.system_tool("shellcheck", "shellcheck")
    result = run(shellcheck, EXPORT)
    assert result.returncode == 0, result.stdout


def test_the_check_catches_a_stale_file_and_a_stale_lock(uv: Path, tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copy(ROOT / "uv.lock", tmp_path)
    shutil.copytree(REQUIREMENTS, tmp_path / "deploy" / "requirements")
    env = {**os.environ, "UV": str(uv)}
    script = tmp_path / "deploy" / "requirements" / "export.sh"
    assert run(script, "--check", env=env).returncode == 0

    recording = tmp_path / "deploy" / "requirements" / "requirements-recording.txt"
    recording.write_text(re.sub(r"(?m)^zstandard==\S+", "zstandard==0.23.0", recording.read_text()))
    stale = run(script, "--check", env=env)
    assert stale.returncode == 1
    assert "out of date with uv.lock: deploy/requirements/requirements-recording.txt" in (
        stale.stderr
    )

    assert run(script, env=env).returncode == 0
    assert run(script, "--check", env=env).returncode == 0
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('    "zstandard>=0.23",\n', ""))
    unlocked = run(script, "--check", env=env)
    assert unlocked.returncode == 1
    assert "uv.lock does not match pyproject.toml" in unlocked.stderr


def test_each_file_is_the_base_plus_one_extra_pinned_with_hashes() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    dev_tools = {canonicalize_name(t) for t in DEV_TOOLS}
    for image in IMAGES:
        path = REQUIREMENTS / f"requirements-{image}.txt"
        assert not re.search(r"(?m)^\s*(-e|\.|file:|aicc)", path.read_text()), path
        for requirement, hashes in _pins(path):
            assert str(requirement.specifier).startswith("=="), (path.name, requirement)
            assert hashes and all(h.startswith("sha256:") for h in hashes), (path.name, requirement)
        assert not _names(image) & dev_tools, image
    core = _names("core")
    only = {w: {canonicalize_name(Requirement(r).name) for r in extras[w]} - core for w in WINGS}
    assert {"av", "psutil", "argon2-cffi"} <= only["recording"] | only["monitoring"] | only["auth"]
    for wing in WINGS:
        assert core <= _names(wing), wing
        assert only[wing] <= _names(wing), wing
        for other in WINGS:
            if other != wing:
                assert not only[other] & _names(wing), (wing, other)


def _supported(python: tuple[int, int], arch: str) -> set[Tag]:
    """What pip on python:3.X-slim (Debian 12, glibc 2.36) installs on ``arch``."""
    platforms = [f"manylinux_2_{minor}_{arch}" for minor in range(36, 16, -1)]
    platforms += [f"manylinux2014_{arch}", f"linux_{arch}"]
    if arch == "x86_64":
        platforms += ["manylinux_2_12_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    interpreter = f"cp{python[0]}{python[1]}"
    return set(cpython_tags(python, platforms=platforms)) | set(
        compatible_tags(python, interpreter, platforms)
    )


@pytest.mark.parametrize("minor", [11, 12, 13], ids=lambda m: f"3.{m}")
def test_every_pin_has_a_hashed_manylinux_wheel_on_both_arches(minor: int) -> None:
    """No image build compiles anything: x86_64 and aarch64 each get a wheel whose hash the
    file lists, for the images' Python (3.12) and the oldest and next supported ones."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    wheels = {
        (p["name"], p["version"]): p.get("wheels", []) for p in lock["package"] if "version" in p
    }
    missing = []
    for arch in ("x86_64", "aarch64"):
        supported = _supported((3, minor), arch)
        environment = {
            "python_version": f"3.{minor}",
            "python_full_version": f"3.{minor}.0",
            "implementation_version": f"3.{minor}.0",
            "os_name": "posix",
            "platform_release": "",
            "platform_version": "",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "platform_machine": arch,
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
        }
        for image in IMAGES:
            for requirement, hashes in _pins(REQUIREMENTS / f"requirements-{image}.txt"):
                if requirement.marker and not requirement.marker.evaluate(environment):
                    continue
                version = str(requirement.specifier).removeprefix("==")
                fitting = [
                    w
                    for w in wheels[(canonicalize_name(requirement.name), version)]
                    if parse_wheel_filename(w["url"].rsplit("/", 1)[1])[3] & supported
                    and w["hash"] in hashes
                ]
                if not fitting:
                    missing.append(f"{image}: {requirement.name}=={version} on {arch}")
    assert not missing, missing


# --- the import boundaries, in the project's virtualenv ----------------------------------


def _modules_after(code: str, env: dict[str, str]) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=180
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def _foreign(modules: set[str], own: str | None) -> list[str]:
    return sorted(
        m
        for wing in WINGS
        if wing != own
        for m in modules
        if m.partition(".")[0] in EXTRA_MODULES[wing] or m.startswith(f"aicc.{wing}")
    )


@pytest.mark.parametrize("wing", WINGS)
def test_a_wing_imports_no_other_wing(wing: str, tmp_path: Path) -> None:
    code = f"import aicc.{wing}, aicc.{wing}.app, aicc.cli, aicc.runner"
    assert _foreign(_modules_after(code, aicc_env(tmp_path)), wing) == []


def test_migrating_imports_no_wing(tmp_path: Path) -> None:
    code = "from aicc.cli import main\nassert main(['db', 'upgrade']) == 0"
    assert _foreign(_modules_after(code, aicc_env(tmp_path)), None) == []


# --- each wing from its own virtualenv ----------------------------------------------------


@pytest.fixture(scope="session")
def wing_venvs(uv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_venvs(uv, tmp_path_factory.mktemp("wheel"))


@pytest.mark.parametrize("image", IMAGES)
def test_a_venv_holds_only_its_file_and_the_project(
    wing_venvs: dict[str, Path], image: str
) -> None:
    expected = {
        canonicalize_name(r.name): str(r.specifier).removeprefix("==")
        for r, _ in _pins(REQUIREMENTS / f"requirements-{image}.txt")
        if r.marker is None or r.marker.evaluate()
    }
    listing = "import importlib.metadata as m, json\n" + (
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    result = run(wing_venvs[image] / "python", "-c", listing)
    installed = {canonicalize_name(k): v for k, v in json.loads(result.stdout).items()}
    assert installed.pop(canonicalize_name("aicc-common")) == "0.1.0"
    assert installed == expected


def _wing_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = aicc_env(tmp_path, **extra)
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> httpx2.Response:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            return httpx2.get(f"{url}/health", timeout=2)
        except httpx2.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer: {log.read_text()[-3000:]}")


def test_each_wing_serves_healthy_from_its_own_venv(
    wing_venvs: dict[str, Path], tmp_path: Path
) -> None:
    """The four at once, each on its own embedded data (SQLite, local disk, memory cache)."""
    started = {}
    try:
        for wing in WINGS:
            port, log = free_port(), tmp_path / f"{wing}.log"
            (tmp_path / wing).mkdir()
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [wing_venvs[wing] / "aicc", "serve", wing, "--port", str(port)],
                    env=_wing_env(tmp_path / wing),
                    cwd=tmp_path / wing,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started[wing] = (process, f"http://127.0.0.1:{port}", log)
        for wing, (process, url, log) in started.items():
            health = _wait_healthy(url, process, log)
            assert health.status_code == 200 and health.json()["service"] == wing
            ready = httpx2.get(f"{url}/health/ready", timeout=5)
            assert ready.status_code == 200, ready.text
        for process, _, _ in started.values():
            process.send_signal(signal.SIGTERM)
        for wing, (process, _, log) in started.items():
            assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
            assert "Traceback" not in log.read_text(), wing
    finally:
        for process, _, _ in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()


REFUSALS = [
    ("monitoring", ["serve", "recording"], "aicc serve recording", ["recording"]),
    ("recording", ["serve", "auth"], "aicc serve auth", ["auth"]),
    ("integration", ["serve", "monitoring"], "aicc serve monitoring", ["monitoring"]),
    ("auth", ["serve", "recording"], "aicc serve recording", ["recording"]),
    ("monitoring", ["up"], "aicc up", ["recording", "auth", "console"]),
    ("recording", ["users", "create", "ann", "--email", "a@example.com"], "aicc users create",
     ["auth"]),
    ("auth", ["recording", "purge", "--dry-run"], "aicc recording purge", ["recording"]),
]  # fmt: skip


def test_a_wing_without_its_extra_is_refused_naming_the_extra(
    wing_venvs: dict[str, Path], tmp_path: Path
) -> None:
    def attempt(index: int) -> subprocess.CompletedProcess[str]:
        image, args, _, _ = REFUSALS[index]
        env = _wing_env(tmp_path / str(index))
        return subprocess.run(
            [wing_venvs[image] / "aicc", *args], capture_output=True, text=True, env=env,
            cwd=tmp_path, timeout=180,
        )  # fmt: skip

    results = parallel(attempt, range(len(REFUSALS)))
    for (image, _, command, extras), result in zip(REFUSALS, results, strict=True):
        assert result.returncode == 2, (image, command, result.stderr)
        assert result.stdout == ""
        noun = "extra" if len(extras) == 1 else "extras"
        named = " and ".join([", ".join(extras[:-1]), extras[-1]] if len(extras) > 1 else extras)
        assert re.fullmatch(
            rf"{re.escape(command)} needs the {named} {noun} \([^()]+ not installed\): "
            rf"pip install 'aicc-common\[{','.join(extras)}\]'\n",
            result.stderr,
        ), (image, result.stderr)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_core_venv_migrates_the_database(
    wing_venvs: dict[str, Path], tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    """The migration image: ``aicc db upgrade`` with the base dependencies alone."""
    extra = {}
    if database == "postgresql":
        extra["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    upgraded = subprocess.run(
        [wing_venvs["core"] / "aicc", "db", "upgrade"],
        capture_output=True,
        text=True,
        env=_wing_env(tmp_path, **extra),
        cwd=tmp_path,
        timeout=180,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    state = json.loads(upgraded.stdout)
    assert state["up_to_date"] is True and state["current"] is not None
