"""The container images of deploy/docker, proven without a Docker engine.

checkov's ``dockerfile`` checks pass on the five Dockerfiles (a deliberately bad one scanned
beside them proves the run is not blind) and its ``secrets`` checks on them and on the compose
files; reading the files shows what checkov does not check: the user, port, health check, stop
signal, volumes and command of each image, hashed installs, one shared structure, and a build
context holding only what the images copy.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.dockerfiles import (
    DOCKER,
    IMAGES,
    PORTS,
    Instruction,
    dockerignored,
    env_of,
    final_stage,
    instructions,
    values,
)
from tests.deploy.tools import ROOT, python_tool

COMPOSE_FILES = [
    ROOT / "deploy" / "compose.yaml",
    ROOT / "deploy" / "compose" / "haproxy.cfg",
    ROOT / "deploy" / "compose" / "env.example",
]


@pytest.fixture(scope="module")
def checkov_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One checkov run over the Dockerfiles and the compose files, with a bad Dockerfile and a
    file holding AWS's documented example keys beside them, which must fail."""
    checkov = python_tool("checkov", "checkov>=3.2.0") / "checkov"
    bad = tmp_path_factory.mktemp("bad") / "Dockerfile"
    bad.write_text("FROM python:latest\nADD . /app\nCMD python /app/x.py\n")
    leak = bad.parent / "leak.yaml"
    leak.write_text(f"AWS_ACCESS_KEY_ID: AKIA{'IOSFODNN7EXAMPLE'}\n")
    files = [*sorted(DOCKER.glob("Dockerfile.*")), *COMPOSE_FILES, bad, leak]
    args = [str(checkov), "--framework", "dockerfile", "secrets", "--skip-download"]
    for path in files:
        args += ["-f", str(path)]
    result = subprocess.run(
        [*args, "-o", "json"], capture_output=True, text=True, timeout=300, cwd=bad.parent
    )
    assert result.stdout.lstrip().startswith(("{", "[")), result.stderr[-2000:]
    parsed = json.loads(result.stdout)
    reports = parsed if isinstance(parsed, list) else [parsed]
    return {report["check_type"]: report for report in reports}


def test_checkov_passes_on_the_dockerfiles(checkov_reports: dict[str, dict[str, Any]]) -> None:
    report = checkov_reports["dockerfile"]
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] == 6
    failed = {
        (Path(c["file_abs_path"]).name, c["check_id"]) for c in report["results"]["failed_checks"]
    }
    ours = {entry for entry in failed if entry[0] != "Dockerfile"}
    assert not ours, f"checkov failed on our Dockerfiles: {sorted(ours)}"
    assert {("Dockerfile", "CKV_DOCKER_2"), ("Dockerfile", "CKV_DOCKER_3")} <= failed
    assert {("Dockerfile", "CKV_DOCKER_4"), ("Dockerfile", "CKV_DOCKER_7")} <= failed
    for skipped in report["results"].get("skipped_checks", []):
        assert skipped.get("suppress_comment"), f"{skipped['check_id']} skipped without a reason"


def test_checkov_finds_no_secret_in_the_images_or_compose(
    checkov_reports: dict[str, dict[str, Any]],
) -> None:
    failed = checkov_reports["secrets"]["results"]["failed_checks"]
    assert {Path(check["file_abs_path"]).name for check in failed} == {"leak.yaml"}


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_each_dockerfile_follows_the_image_rules(image: str) -> None:
    steps = instructions(DOCKER / f"Dockerfile.{image}")
    final = final_stage(steps)
    build = steps[: len(steps) - len(final)]
    requirements = f"requirements-{IMAGES[image]}.txt"
    assert values(final, "FROM") == ["base"] and values(steps, "FROM")[1] == "base AS build"
    assert re.fullmatch(r"python:3\.12-slim-\w+ AS base", values(steps, "FROM")[0])
    assert values(final, "USER")[-1] == "10001:10001"
    assert values(final, "STOPSIGNAL") == ["SIGTERM"]
    env = env_of(final)
    volumes = json.loads(values(final, "VOLUME")[0])
    assert {env["AICC_DATA_DIR"], env["TMPDIR"]} <= set(volumes)
    assert env["AICC_ENV"] == "production" and env["AICC_HOST"] == "0.0.0.0"
    assert json.loads(values(final, "ENTRYPOINT")[0]) == ["aicc"]
    installs = [r for r in values(build, "RUN") if f"-r {requirements}" in r]
    assert installs and "--require-hashes" in installs[0] and "--no-deps" in installs[0]
    assert any(f"deploy/requirements/{requirements}" in c for c in values(build, "COPY"))
    assert values(final, "COPY") == ["--from=build /opt/aicc /opt/aicc"]
    assert not any(re.search(r"apt|apk|gcc|pip install", r) for r in values(final, "RUN"))
    assert f'org.opencontainers.image.title="aicc-{image}"' in values(final, "LABEL")[0]
    healthcheck = values(final, "HEALTHCHECK")[0]
    if image == "migrate":
        assert json.loads(values(final, "CMD")[0]) == ["db", "upgrade"]
        assert healthcheck == "NONE" and not values(final, "EXPOSE")
        return
    port = PORTS[image]
    assert json.loads(values(final, "CMD")[0]) == ["serve", image]
    assert values(final, "EXPOSE") == [str(port)]
    assert f"http://127.0.0.1:{port}/health'" in healthcheck and "curl" not in healthcheck


def test_the_dockerfiles_share_one_structure() -> None:
    def normalized(image: str) -> list[Instruction]:
        steps = instructions(DOCKER / f"Dockerfile.{image}")
        text = json.dumps(steps).replace(f"requirements-{IMAGES[image]}.txt", "requirements-X")
        text = text.replace(image, "NAME")
        if image in PORTS:
            text = text.replace(str(PORTS[image]), "PORT")
        return [(keyword, rest) for keyword, rest in json.loads(text)]

    services = [normalized(image) for image in PORTS]
    assert all(steps == services[0] for steps in services)
    migrate = normalized("migrate")
    expected = [step for step in services[0] if step[0] != "EXPOSE"]
    differing = [(a[0], b[0]) for a, b in zip(migrate, expected, strict=True) if a != b]
    assert differing == [("LABEL", "LABEL"), ("HEALTHCHECK", "HEALTHCHECK"), ("CMD", "CMD")]


def test_copied_files_exist_and_only_they_reach_the_build_context() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for image in IMAGES:
        for copy in values(instructions(DOCKER / f"Dockerfile.{image}"), "COPY"):
            if copy.startswith("--from="):
                continue
            for source in copy.split()[:-1]:
                assert (ROOT / source).exists(), f"Dockerfile.{image} copies missing {source}"
                assert not dockerignored(source, patterns), f"{source} is in .dockerignore"
                for inner in (ROOT / source).rglob("*.py") if (ROOT / source).is_dir() else []:
                    assert not dockerignored(str(inner.relative_to(ROOT)), patterns)
    for kept_out in [
        ".git/HEAD",
        ".venv/bin/python",
        ".tools/x",
        "var/secrets/encryption.key",
        ".env",
        "deploy/.env",
        "tests/conftest.py",
        "bench/x.py",
        "docs/platform.md",
        "src/aicc/__pycache__/cli.cpython-312.pyc",
    ]:
        assert dockerignored(kept_out, patterns), f"{kept_out} would reach the build context"


def test_requirement_files_the_images_install_are_hashed() -> None:
    files = [DOCKER / "requirements-build.txt"]
    files += [ROOT / "deploy" / "requirements" / f"requirements-{r}.txt" for r in IMAGES.values()]
    for path in files:
        entries = re.sub(r"\\\n", " ", path.read_text()).splitlines()
        requirements = [e for e in entries if e.strip() and not e.lstrip().startswith("#")]
        assert requirements, f"{path.name} is empty"
        for line in requirements:
            assert "--hash=sha256:" in line, f"{path.name}: {line.split()[0]} has no hash"
            assert not re.match(r"\s*(-e\b|\.|aicc-common\b)", line), "the project is built apart"
    pinned = re.search(r"^hatchling==(\d+)\.(\d+)", files[0].read_text(), re.MULTILINE)
    assert pinned and (int(pinned[1]), int(pinned[2])) >= (1, 25)
    assert '"hatchling>=1.25"' in (ROOT / "pyproject.toml").read_text()
