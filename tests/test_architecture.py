"""Package boundaries and the public Python API the spec promises."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import aicc

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    """core imports no service; no service imports another (import-linter, pyproject.toml)."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_importing_every_module_builds_nothing(tmp_path: Path) -> None:
    """No settings, engines, clients or data folders come into being at import time."""
    for module in pkgutil.walk_packages(aicc.__path__, "aicc."):
        if module.name in ("aicc.__main__", "aicc.migrations.env"):
            continue
        importlib.import_module(module.name)
    assert list(Path.cwd().iterdir()) == []


@pytest.mark.parametrize(
    ("package", "facade"),
    [
        ("aicc.monitoring", "MonitoringService"),
        ("aicc.recording", "RecordingService"),
        ("aicc.integration", "IntegrationService"),
        ("aicc.auth", "AuthService"),
    ],
)
def test_each_service_exposes_the_spec_facade(package: str, facade: str) -> None:
    module = importlib.import_module(package)
    assert facade in module.__all__
    assert getattr(module, facade).__name__ == facade
    for name in module.__all__:
        assert getattr(module, name).__module__.startswith(package), name


def test_no_source_file_is_oversized() -> None:
    too_long = {
        str(path.relative_to(ROOT)): n
        for path in (ROOT / "src").rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 400
    }
    assert too_long == {}


@pytest.mark.parametrize(
    ("construct", "home"),
    [
        ("AioSession(", "src/aicc/core/aws.py"),
        ("create_client(", "src/aicc/core/aws.py"),
        ("httpx2.AsyncClient(", "src/aicc/core/outgoing/"),
    ],
)
def test_aws_and_http_clients_come_from_their_one_factory(construct: str, home: str) -> None:
    """AWS clients only from ``aicc.core.aws``; outgoing HTTP clients only from
    ``aicc.core.outgoing`` (where user-supplied URLs pass the request-forgery guard)."""
    elsewhere = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "src").rglob("*.py")
        if construct in path.read_text() and not str(path.relative_to(ROOT)).startswith(home)
    ]
    assert elsewhere == []
