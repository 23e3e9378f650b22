"""Alert rules through the HTTP API and the facade: the spec's POST, the defaults, the state
machine run by the evaluator with its state kept across a restart, history and export."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from aicc.core.config import load_settings
from aicc.monitoring.app import create_app
from tests.asgi import serve_app
from tests.integration.support import ADMIN, VIEWER
from tests.recording.support import ISSUER, SECRET, bearer

SUPERVISOR = bearer("SUPERVISOR", user_id="u-sup", username="sup01")

SPEC_RULE = {
    "rule_name": "high_cpu_usage",
    "metric": "cpu_usage_percent",
    "threshold": 80,
    "operator": ">",
    "level": "warning",
}


@pytest.fixture(params=["embedded", "production"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "embedded":
        return {}
    return {
        "database_url": request.getfixturevalue("postgres_url"),
        "redis_url": request.getfixturevalue("redis_url"),
        "redis.key_prefix": request.getfixturevalue("redis_prefix"),
        "encryption_key": base64.b64encode(os.urandom(32)).decode(),
    }


@asynccontextmanager
async def monitoring(tmp_path: Path, backend: dict[str, Any]) -> AsyncIterator[Any]:
    settings = load_settings(
        {
            "data_dir": str(tmp_path / "var"),
            "jwt_secret": SECRET,
            "auth.issuer": ISSUER,
            "monitoring.targets": "none=http://127.0.0.1:9",
            "jobs.enabled": False,
            **backend,
        },
        env_file=None,
    )
    app = create_app(settings)
    async with serve_app(app) as http:
        yield app.state.aicc_service, http


async def test_the_specs_rule_is_created_with_its_short_metric_name(tmp_path: Path) -> None:
    async with monitoring(tmp_path, {}) as (_, http):
        created = await http.post("/alerts/rules", json=SPEC_RULE, headers=ADMIN)
        again = await http.post("/alerts/rules", json=SPEC_RULE, headers=ADMIN)
        unknown = await http.post(
            "/alerts/rules", json={**SPEC_RULE, "rule_name": "x", "metric": "nope"}, headers=ADMIN
        )
        viewer = await http.post(
            "/alerts/rules", json={**SPEC_RULE, "rule_name": "y"}, headers=SUPERVISOR
        )
        not_allowed = await http.get("/alerts", headers=VIEWER)
    assert created.status_code == 201, created.text
    assert created.json()["metric"] == "system_cpu_usage_percent"
    assert again.status_code == 409 and again.json()["error"]["code"] == "rule_exists"
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_metric"
    assert "system_cpu_usage_percent" in unknown.json()["error"]["details"]["known"]
    assert viewer.status_code == 403 and not_allowed.status_code == 403


async def test_the_four_defaults_are_installed_once(tmp_path: Path) -> None:
    async with monitoring(tmp_path, {}) as (_, http):
        names = [
            r["rule_name"]
            for r in (await http.get("/alerts/rules", headers=SUPERVISOR)).json()["rules"]
        ]
        for name in names:
            await http.delete(f"/alerts/rules/{name}", headers=ADMIN)
    async with monitoring(tmp_path, {}) as (_, http):
        after = (await http.get("/alerts/rules", headers=SUPERVISOR)).json()["rules"]
    assert len(names) == 4 and "high_cpu_usage" not in names
    assert after == [], "deleted defaults are not put back"


async def test_a_rule_fires_and_its_state_survives_a_restart(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    rule = {"rule_name": "memory_in_use", "metric": "memory_usage_percent", "threshold": 0,
            "operator": ">", "level": "critical", "for_seconds": 0}  # fmt: skip
    slow = {**rule, "rule_name": "memory_for_an_hour", "for_seconds": 3600}
    async with monitoring(tmp_path, backend) as (service, http):
        for body in (rule, slow):
            assert (await http.post("/alerts/rules", json=body, headers=ADMIN)).status_code == 201
        await service.evaluate_rules()
        alerts = (await http.get("/alerts", headers=SUPERVISOR)).json()["alerts"]
    states = {a["rule_name"]: a["state"] for a in alerts}
    assert states["memory_in_use"] == "firing" and states["memory_for_an_hour"] == "pending"
    firing = next(a for a in alerts if a["rule_name"] == "memory_in_use")
    assert firing["labels"]["severity"] == "critical"
    async with monitoring(tmp_path, backend) as (service, http):
        await service.evaluate_rules()
        again = (await http.get("/alerts", headers=SUPERVISOR)).json()["alerts"]
        history = (
            await http.get("/alerts/history?rule_name=memory_in_use", headers=SUPERVISOR)
        ).json()["history"]
        fired = (
            await http.get(
                "/alerts/history",
                params={"state": "firing", "level": "critical"},
                headers=SUPERVISOR,
            )
        ).json()["history"]
    kept = next(a for a in again if a["rule_name"] == "memory_in_use")
    assert kept["state"] == "firing" and kept["fired_at"] == firing["fired_at"]
    assert [(h["from"], h["to"]) for h in history] == [
        ("pending", "firing"),
        ("inactive", "pending"),
    ]
    assert [(h["rule_name"], h["from"], h["to"]) for h in fired] == [
        ("memory_in_use", "pending", "firing")
    ]


async def test_rules_can_be_replaced_and_deleted(tmp_path: Path) -> None:
    async with monitoring(tmp_path, {}) as (_, http):
        await http.post("/alerts/rules", json=SPEC_RULE, headers=ADMIN)
        replaced = await http.put(
            "/alerts/rules/high_cpu_usage", json={**SPEC_RULE, "threshold": 95}, headers=ADMIN
        )
        renamed = await http.put(
            "/alerts/rules/high_cpu_usage", json={**SPEC_RULE, "rule_name": "other"}, headers=ADMIN
        )
        deleted = await http.delete("/alerts/rules/high_cpu_usage", headers=ADMIN)
        missing = await http.get("/alerts/rules/high_cpu_usage", headers=SUPERVISOR)
    assert replaced.status_code == 200 and replaced.json()["threshold"] == 95
    assert renamed.status_code == 422
    assert deleted.status_code == 204
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "rule_not_found"


async def test_the_export_is_a_prometheus_rules_file(tmp_path: Path) -> None:
    async with monitoring(tmp_path, {}) as (_, http):
        await http.post("/alerts/rules", json={**SPEC_RULE, "for_seconds": 300}, headers=ADMIN)
        exported = await http.get("/alerts/rules/export", headers=SUPERVISOR)
    parsed = yaml.safe_load(exported.text)
    rules = [r for group in parsed["groups"] for r in group["rules"]]
    mine = next(r for r in rules if r["alert"] == "high_cpu_usage")
    assert mine["for"] == "5m" and mine["labels"]["severity"] == "warning"
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is needed under CI (Debian's prometheus package)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    path = tmp_path / "rules.yml"
    path.write_text(exported.text)
    checked = await asyncio.to_thread(
        subprocess.run, [promtool, "check", "rules", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
