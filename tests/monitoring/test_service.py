"""The monitoring facade and app: the spec's example with its Prometheus endpoint, system
metrics under the spec's names, the watched services' health, and the metrics token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from aicc.core.config import load_settings
from aicc.core.errors import ConfigError
from aicc.integration.app import create_app as integration_app
from aicc.monitoring import MonitoringService
from aicc.monitoring.app import create_app
from tests.asgi import live_app, serve_app
from tests.backends import free_port
from tests.integration.support import VIEWER
from tests.recording.support import ISSUER, SECRET

SPEC_METRICS = (
    "system_cpu_usage_percent",
    "system_memory_usage_percent",
    "system_disk_usage_percent",
)


def settings_for(tmp_path: Path, **overrides: Any) -> Any:
    return load_settings(
        {
            "data_dir": str(tmp_path / "var"),
            "jwt_secret": SECRET,
            "auth.issuer": ISSUER,
            **overrides,
        },
        env_file=None,
    )


async def test_the_spec_example_serves_prometheus_metrics_on_its_port(
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The example names a Connect instance, so its poller starts: keep it on this machine.
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", "http://127.0.0.1:9")
    port = free_port()
    config = {
        "database_url": database_url,
        "redis_url": redis_url,
        "prometheus_port": port,
        "connect_instance_id": "your-instance-id",
        "data_dir": str(tmp_path / "var"),
        "redis.key_prefix": redis_prefix,
    }
    monitoring_service = MonitoringService(config)
    await monitoring_service.start()
    try:
        async with httpx2.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            health = await client.get(f"http://127.0.0.1:{port}/health")
    finally:
        await monitoring_service.stop()
    for name in SPEC_METRICS:
        assert f"\n{name}" in text or text.startswith(name), name
    assert health.json()["status"] == "ok"


async def test_a_busy_prometheus_port_is_a_clear_error(tmp_path: Path) -> None:
    async with live_app(create_app(settings_for(tmp_path / "other"))) as url:
        port = int(url.rsplit(":", 1)[1])
        service = MonitoringService({"prometheus_port": port, "data_dir": str(tmp_path / "var")})
        with pytest.raises(ConfigError, match="prometheus_port"):
            await service.start()
    assert not service.started


async def test_system_metrics_are_real_values(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path))
    async with serve_app(app) as http:
        refused = await http.get("/metrics/system")
        values = (await http.get("/metrics/system", headers=VIEWER)).json()
    assert refused.status_code == 401
    assert set(values) == set(SPEC_METRICS)
    assert 0 < values["system_memory_usage_percent"] < 100
    assert 0 < values["system_disk_usage_percent"] < 100
    assert 0 <= values["system_cpu_usage_percent"] <= 100


async def test_services_health_shows_each_watched_service(tmp_path: Path) -> None:
    watched = integration_app(settings_for(tmp_path / "integration"))
    async with live_app(watched) as integration_url:
        settings = settings_for(
            tmp_path,
            **{"monitoring.targets": [f"integration={integration_url}", "auth=http://127.0.0.1:9"]},
        )
        app = create_app(settings)
        async with serve_app(app) as http:
            await app.state.aicc_service.scrape()
            body = (await http.get("/services/health", headers=VIEWER)).json()
    assert body["monitoring"]["ready"] is True
    by_name = {s["name"]: s for s in body["services"]}
    assert by_name["integration"]["up"] is True and by_name["integration"]["ready"] is True
    assert by_name["integration"]["checks"]["database"]["status"] == "up"
    assert by_name["auth"]["up"] is False and by_name["auth"]["error"]


async def test_targets_default_to_the_other_three_services(tmp_path: Path) -> None:
    service = MonitoringService(settings=settings_for(tmp_path, **{"server.auth_port": 9103}))
    await service.start()
    try:
        urls = {t.name: t.url for t in service.targets}
    finally:
        await service.stop()
    assert urls == {
        "recording": "http://127.0.0.1:8001",
        "integration": "http://127.0.0.1:8002",
        "auth": "http://127.0.0.1:9103",
    }


async def test_a_bad_target_refuses_to_start(tmp_path: Path) -> None:
    service = MonitoringService(
        settings=settings_for(tmp_path, **{"monitoring.targets": "ftp://x"})
    )
    with pytest.raises(ConfigError, match="AICC_MONITORING_TARGETS"):
        await service.start()


async def test_the_metrics_token_guards_metrics(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path, **{"monitoring.metrics_token": "scrape-me-please"}))
    async with serve_app(app) as http:
        anonymous = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await http.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert anonymous.json()["error"]["code"] == "metrics_token"
    assert right.status_code == 200 and "system_cpu_usage_percent" in right.text
