"""Alertmanager's own client, ``amtool``, against the live app: alerts added and queried,
silences added, queried and expired, with a bearer token from ``--http.config.file``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from aicc.monitoring.app import create_app
from tests.asgi import live_app
from tests.integration.support import ADMIN
from tests.monitoring.notify.conftest import monitoring_settings


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


class Amtool:
    def __init__(self, path: str, url: str, config: Path) -> None:
        self.base = [path, f"--alertmanager.url={url}", f"--http.config.file={config}"]

    async def run(self, *args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            *self.base,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
        assert process.returncode == 0, (args, out.decode(), err.decode())
        return out.decode()


async def test_amtool_adds_and_queries_alerts_and_manages_silences(
    amtool: str, tmp_path: Path
) -> None:
    token = ADMIN["Authorization"].removeprefix("Bearer ")
    config = tmp_path / "http.yml"
    config.write_text(f"authorization:\n  type: Bearer\n  credentials: {token}\n")
    app = create_app(monitoring_settings(tmp_path, {}))
    async with live_app(app) as url:
        tool = Amtool(amtool, url, config)
        await tool.run(
            "alert",
            "add",
            "alertname=DiskFull",
            "severity=critical",
            "instance=db1",
            "--annotation=summary=disk is full",
        )
        await tool.run("alert", "add", "alertname=CpuHot", "severity=warning")
        alerts = json.loads(await tool.run("alert", "query", "-o", "json"))
        assert sorted(a["labels"]["alertname"] for a in alerts) == ["CpuHot", "DiskFull"]
        disk = next(a for a in alerts if a["labels"]["alertname"] == "DiskFull")
        assert disk["annotations"] == {"summary": "disk is full"}
        only = json.loads(await tool.run("alert", "query", "-o", "json", "severity=critical"))
        assert [a["labels"]["alertname"] for a in only] == ["DiskFull"]

        silence_id = (
            await tool.run(
                "silence",
                "add",
                "alertname=DiskFull",
                "--comment=replacing the disk",
                "--author=ops",
                "--duration=1h",
            )
        ).strip()
        assert len(silence_id) == 36
        silences = json.loads(await tool.run("silence", "query", "-o", "json"))
        assert [s["id"] for s in silences] == [silence_id]
        assert silences[0]["createdBy"] == "ops"
        assert silences[0]["status"]["state"] == "active"
        active = json.loads(await tool.run("alert", "query", "-o", "json"))
        assert [a["labels"]["alertname"] for a in active] == ["CpuHot"]
        silenced = json.loads(await tool.run("alert", "query", "-o", "json", "--silenced"))
        names = sorted(a["labels"]["alertname"] for a in silenced)
        assert "DiskFull" in names

        await tool.run("silence", "expire", silence_id)
        assert json.loads(await tool.run("silence", "query", "-o", "json")) == []
        expired = json.loads(await tool.run("silence", "query", "-o", "json", "--expired"))
        assert [s["status"]["state"] for s in expired] == ["expired"]
        status = await tool.run("config", "show")
        assert "route:" in status
