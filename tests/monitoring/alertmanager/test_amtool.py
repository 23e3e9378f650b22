"""The routing tree checked against Alertmanager's own ``amtool`` (Debian package
``prometheus-alertmanager``): the exported YAML is a valid alertmanager.yml route section,
and amtool routes each label set to the same receivers."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from aicc.monitoring.alertmanager import RoutingConfig
from tests.monitoring.alertmanager.samples import ALERTMANAGER_YML, RECEIVERS

LABEL_SETS = [
    {"alertname": "HighLatency", "severity": "critical", "service": "rec-1"},
    {"alertname": "HighLatency", "severity": "critical", "service": "auth"},
    {"alertname": "HighLatency", "severity": "warning", "service": "integration"},
    {"alertname": "DiskFull", "severity": "warning", "service": "rec", "team": "storage"},
    {"alertname": "DiskFull", "severity": "warning", "service": "rec", "team": "db"},
    {"alertname": "X", "service": "authz"},
    {"alertname": "CPU", "severity": "info"},
    {"alertname": "CPU", "severity": "debug"},
]


@pytest.fixture
def amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        message = (
            "amtool is not installed; install it with: apt-get install prometheus-alertmanager"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def exported_config(tmp_path: Path) -> Path:
    config = RoutingConfig.from_yaml(ALERTMANAGER_YML)
    document = yaml.safe_load(config.to_yaml())
    document["receivers"] = [{"name": name} for name in RECEIVERS]
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_exported_yaml_passes_amtool_check_config(amtool: str, tmp_path: Path) -> None:
    path = exported_config(tmp_path)
    result = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("labels", LABEL_SETS, ids=lambda ls: ",".join(ls.values()))
def test_routes_agree_with_amtool(amtool: str, tmp_path: Path, labels: dict[str, str]) -> None:
    ours = [m.receiver for m in RoutingConfig.from_yaml(ALERTMANAGER_YML).match(labels)]
    path = exported_config(tmp_path)
    args = [f"{name}={value}" for name, value in labels.items()]
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={path}", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split(",") == ours
