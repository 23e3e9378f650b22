"""Shared helpers of deploy_plan.py: the services, the ``DEPLOY_*`` environment the script
exports, canonical JSON and its hash, and the plan lines."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

SERVICES = ("monitoring", "recording", "integration", "auth")
PORTS = {"monitoring": 8000, "recording": 8001, "integration": 8002, "auth": 8003}


def say(line: str) -> None:
    """One line on standard output, which the script reads."""
    sys.stdout.write(line + "\n")


def env(name: str) -> str:
    """A value the script exported as ``DEPLOY_<name>``; empty when unset."""
    return os.environ.get(f"DEPLOY_{name}", "")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def sha256(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def load(path: str) -> Any:
    return json.loads(Path(path).read_text() or "null")


def project_tags(key: str, value: str) -> list[dict[str, str]]:
    return [
        {key: "Project", value: "aicc"},
        {key: "ManagedBy", value: "deploy_common_services.sh"},
    ]


def tag_value(tags: list[dict[str, str]] | None, name: str) -> str:
    for tag in tags or []:
        if tag.get("key", tag.get("Key")) == name:
            return tag.get("value", tag.get("Value", ""))
    return ""


def emit(out: Path, command: str, name: str, request: Any) -> None:
    """Write ``request`` for ``aws <command> --cli-input-json`` and print its plan line; the
    script runs the lines of one ``name`` in order."""
    file = out / f"{command.replace(' ', '.')}.{len(list(out.iterdir()))}.{name}.json"
    file.write_text(json.dumps(request))
    say(f"{command}\t{file}\t{name}")
