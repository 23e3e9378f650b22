"""Reading the Dockerfiles of deploy/docker and the paths they share with the other deploy tests."""

from __future__ import annotations

import re
from pathlib import Path

from tests.deploy.tools import ROOT

DOCKER = ROOT / "deploy" / "docker"
PORTS = {"monitoring": 8000, "recording": 8001, "integration": 8002, "auth": 8003}
IMAGES = {**{name: name for name in PORTS}, "migrate": "core"}
"""Image name -> the requirements file it installs (deploy/requirements/requirements-<x>.txt)."""

Instruction = tuple[str, str]


def instructions(path: Path) -> list[Instruction]:
    """(KEYWORD, arguments) per instruction; continuation lines joined, comments dropped."""
    result: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        result.append((keyword.upper(), rest.strip()))
        pending = ""
    return result


def final_stage(steps: list[Instruction]) -> list[Instruction]:
    start = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[start:]


def values(steps: list[Instruction], keyword: str) -> list[str]:
    return [rest for key, rest in steps if key == keyword]


def env_of(steps: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in values(steps, "ENV"):
        env.update(item.split("=", 1) for item in rest.split())  # type: ignore[misc]
    return env


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.lstrip("!").strip("/")
        regex = re.escape(body).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            ignored = not negate
    return ignored
