"""CloudWatch publishing wired into the monitoring service, against moto's server: the spec's
metrics of this service and of the watched ones, the Connect gauges, counter increments kept
between publications (on whichever replica publishes), failures reported, and nothing at all
when publishing is off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from aicc.integration.app import create_app as integration_app
from aicc.monitoring.publishing import SCRAPED_KEY, TASK
from tests.asgi import live_app
from tests.integration.support import VIEWER, integration_settings
from tests.monitoring.connect.fakes import FakeConnect
from tests.monitoring.contact_center.conftest import CloudWatch, ReplicaFactory


def enabled(cloudwatch: CloudWatch, **more: Any) -> dict[str, Any]:
    return {
        "monitoring.cloudwatch_enabled": True,
        "monitoring.cloudwatch_namespace": cloudwatch.namespace,
        **more,
    }


async def test_the_spec_metrics_and_the_connect_gauges_reach_the_namespace(
    cloudwatch: CloudWatch,
    connect: FakeConnect,
    replica: ReplicaFactory,
    backend: dict[str, Any],
    tmp_path: Path,
) -> None:
    sales = connect.add_queue("Sales")
    connect.set_metrics(sales, "VOICE", CONTACTS_IN_QUEUE=4, OLDEST_CONTACT_AGE=95)
    watched = integration_app(integration_settings(tmp_path / "integration", {}))
    async with live_app(watched) as url:
        more = {
            "connect.instance_id": connect.instance_id,
            "monitoring.targets": [f"integration={url}"],
        }
        settings = enabled(cloudwatch, **more)
        async with replica(backend, **settings) as r:
            await r.http.get("/health")  # the series exist before the first publication
            async with httpx2.AsyncClient() as client:
                await client.get(f"{url}/health/ready")
            await r.service.scrape()
            await r.service.poll_connect()
            first = await r.service.publish_cloudwatch()
            for _ in range(3):
                await r.http.get("/health")
            await r.service.scrape()
            second = await r.service.publish_cloudwatch()
            status = (await r.http.get("/metrics/cloudwatch", headers=VIEWER)).json()

    assert first["sent"] == first["points"] > 0 and first["failed"] == 0
    assert second["sent"] == second["points"] and second["errors"] == []
    assert status["enabled"] is True and status["namespace"] == cloudwatch.namespace
    assert status["last"]["sent"] == second["sent"]
    for name in ("system_cpu_usage_percent", "system_memory_usage_percent"):
        assert {"service": "monitoring"} in cloudwatch.dimensions(name), name
    disks = cloudwatch.dimensions("system_disk_usage_percent")
    assert disks and all(d["service"] == "monitoring" and d["path"] for d in disks)
    assert {d["service"] for d in cloudwatch.dimensions("aicc_db_connections_active")} == {
        "monitoring",
        "integration",
    }
    health = {"service": "monitoring", "method": "GET", "route": "/health", "status": "200"}
    assert cloudwatch.statistics("aicc_api_requests_total", health)["Sum"] == 3
    timings = cloudwatch.dimensions("aicc_api_duration_seconds_count")
    assert any(d["service"] == "integration" for d in timings)
    voice = {"queue": "Sales", "channel": "VOICE"}
    assert cloudwatch.statistics("aicc_connect_contacts_in_queue", voice)["Maximum"] == 4
    age = cloudwatch.statistics("aicc_connect_oldest_contact_age_seconds", voice)
    assert age["SampleCount"] == 1  # one snapshot, published once
    assert age["Maximum"] == 95


async def test_the_publishing_replica_uses_texts_another_replica_scraped(
    cloudwatch: CloudWatch, replica: ReplicaFactory, shared: dict[str, Any], tmp_path: Path
) -> None:
    watched = integration_app(integration_settings(tmp_path / "integration", {}))
    async with live_app(watched) as url:
        settings = enabled(cloudwatch, **{"monitoring.targets": [f"integration={url}"]})
        async with (
            replica(shared, **settings) as scraper,
            replica(shared, **settings) as other,
            httpx2.AsyncClient(base_url=url) as client,
        ):
            await client.get("/health")
            await scraper.service.scrape()
            await other.service.publish_cloudwatch()
            await client.get("/health")
            await client.get("/health")
            await scraper.service.scrape()
            await scraper.service.publish_cloudwatch()

    services = {d["service"] for d in cloudwatch.dimensions("aicc_db_connections_active")}
    assert services == {"monitoring", "integration"}
    health = {"service": "integration", "method": "GET", "route": "/health", "status": "200"}
    assert cloudwatch.statistics("aicc_api_requests_total", health) == {
        "Sum": 2.0,
        "SampleCount": 1.0,
        "Maximum": 2.0,
    }  # the increment since the other replica's publication


async def test_an_unreachable_cloudwatch_is_reported_and_the_increments_wait(
    cloudwatch: CloudWatch,
    replica: ReplicaFactory,
    aws_env: pytest.MonkeyPatch,
) -> None:
    async with replica({}, **enabled(cloudwatch)) as r:
        await r.http.get("/health")
        await r.service.publish_cloudwatch()
        aws_env.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:9")
        await r.service.resources.aws.close()
        for _ in range(2):
            await r.http.get("/health")
        failed = await r.service.publish_cloudwatch()
        status = (await r.http.get("/metrics/cloudwatch", headers=VIEWER)).json()
        aws_env.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch.client.meta.endpoint_url)
        await r.service.resources.aws.close()
        recovered = await r.service.publish_cloudwatch()

    assert failed["sent"] == 0 and failed["failed"] == failed["points"] > 0
    assert failed["errors"] and status["last"]["failed"] == failed["failed"]
    assert recovered["sent"] == recovered["points"] and recovered["failed"] == 0
    health = {"service": "monitoring", "method": "GET", "route": "/health", "status": "200"}
    assert cloudwatch.statistics("aicc_api_requests_total", health)["Sum"] == 2


async def test_disabled_publishing_declares_no_task_and_keeps_no_scraped_text(
    cloudwatch: CloudWatch, replica: ReplicaFactory, backend: dict[str, Any], tmp_path: Path
) -> None:
    watched = integration_app(integration_settings(tmp_path / "integration", {}))
    async with live_app(watched) as url:
        settings = {
            "monitoring.cloudwatch_namespace": cloudwatch.namespace,
            "monitoring.targets": [f"integration={url}"],
            "jobs.enabled": True,
            "monitoring.scrape_interval": 1,
        }
        async with replica(backend, **settings) as r:
            tasks = [task.name for task in r.service.periodic_tasks()]
            await r.service.scrape()
            kept = await r.service.resources.cache.get(SCRAPED_KEY)
            status = (await r.http.get("/metrics/cloudwatch", headers=VIEWER)).json()

    assert TASK not in tasks and "monitoring.evaluate" in tasks
    assert kept is None
    assert status == {
        "enabled": False,
        "namespace": cloudwatch.namespace,
        "interval_seconds": 60.0,
        "last": None,
    }
    assert cloudwatch.metrics() == []
