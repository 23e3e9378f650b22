"""The spec's CloudWatch dashboard (deploy/observability/cloudwatch-dashboard.json), one file
that Terraform renders with ``templatefile()`` (deploy/terraform/observability.tf).

It is rendered here with the variables Terraform passes, put to moto's CloudWatch, and every
metric it names in the services' namespace (and every Metrics Insights alarm) is checked
against what the monitoring service's CloudWatch publisher really sends: the publisher runs
on the four services served in-process."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import boto3
import hcl2
import orjson
import pytest
from hcl2.utils import SerializationOptions

from aicc.core.config import SERVICE_NAMES, load_settings
from aicc.core.config_services import MonitoringSettings
from aicc.monitoring.connect import METRICS, QueueInfo, Snapshot, points_from_snapshot
from aicc.monitoring.publishing import SCRAPED_KEY
from tests.asgi import serve_app
from tests.deploy.tools import ROOT

DASHBOARD = ROOT / "deploy" / "observability" / "cloudwatch-dashboard.json"
OBSERVABILITY_TF = ROOT / "deploy" / "terraform" / "observability.tf"
PLAIN = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
TEMPLATE_CALL = re.compile(
    r'\$\{templatefile\("\$\{path\.module\}/\.\./observability/cloudwatch-dashboard\.json", '
    r"\{(.*)\}\)\}"
)
SEARCH = re.compile(r"SEARCH\('\{\"?([^\",}]+)\"?((?:,\w+)*)\} MetricName=\"(\w+)\"")
INSIGHTS = re.compile(
    r'SELECT \w+\((\w+)\) FROM SCHEMA\("\$\{var\.cloudwatch_namespace\}", ([\w, ]+)\)'
)
Metric = tuple[str, frozenset[str]]
NAMESPACE = str(MonitoringSettings.model_fields["cloudwatch_namespace"].default)


@pytest.fixture(scope="module")
def terraform() -> dict[str, dict[str, Any]]:
    """observability.tf's resources by type and name."""
    parsed = hcl2.loads(OBSERVABILITY_TF.read_text(), serialization_options=PLAIN)
    found: dict[str, dict[str, Any]] = {}
    for entry in parsed["resource"]:
        for kind, named in entry.items():
            found.setdefault(kind, {}).update(named)
    return found


@pytest.fixture(scope="module")
def rendered(terraform: dict[str, dict[str, Any]]) -> tuple[dict[str, str], str]:
    """Test values of the variables Terraform passes, and the body templatefile() makes."""
    call = terraform["aws_cloudwatch_dashboard"]["main"]["dashboard_body"]
    passed = TEMPLATE_CALL.fullmatch(call)
    assert passed, call
    values = {key: f"test-{key}" for key in re.findall(r"(\w+) = ", passed[1])}
    values |= {"region": "ap-northeast-2", "namespace": NAMESPACE}
    text = DASHBOARD.read_text()
    assert "%{" not in text and "$${" not in text  # interpolations only, no directives
    assert text.count("${") == len(re.findall(r"\$\{\w+\}", text))
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(values)  # all passed, all used
    return values, re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]], text)


def entries(body: dict[str, Any]) -> list[list[Any]]:
    return [e for w in body["widgets"] for e in w["properties"].get("metrics", [])]


def test_the_dashboard_renders_and_cloudwatch_accepts_it(
    rendered: tuple[dict[str, str], str], moto_endpoint: str
) -> None:
    values, text = rendered
    body = json.loads(text)
    cells: set[tuple[int, int]] = set()
    for widget in body["widgets"]:
        x, y, width, height = (widget[k] for k in ("x", "y", "width", "height"))
        assert x + width <= 24 and widget["type"] in ("metric", "text")
        area = {(i, j) for i in range(x, x + width) for j in range(y, y + height)}
        assert not area & cells, widget  # no two widgets overlap
        cells |= area
        if widget["type"] == "metric":
            props = widget["properties"]
            assert props["region"] == values["region"] and props["metrics"]
            ids = [e[0]["id"] for e in props["metrics"] if isinstance(e[0], dict)]
            assert len(ids) == len(set(ids))
            for entry in props["metrics"]:
                if isinstance(entry[0], dict):  # metric math: names only its widget's ids
                    bare = re.sub(r"'[^']*'", "", entry[0]["expression"])
                    assert set(re.findall(r"\b[a-z]\w*\b", bare)) <= set(ids), bare
                else:  # namespace, name, then dimension name/value pairs, then options
                    names = [e for e in entry if isinstance(e, str)]
                    assert len(names) % 2 == 0 and len(entry) - len(names) <= 1, entry
    client: Any = boto3.client(
        "cloudwatch",
        endpoint_url=moto_endpoint,
        region_name=values["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    answer = client.put_dashboard(DashboardName="aicc-common-services", DashboardBody=text)
    assert answer["DashboardValidationMessages"] == []
    stored = client.get_dashboard(DashboardName="aicc-common-services")["DashboardBody"]
    assert json.loads(stored) == body


def test_the_dashboard_shows_ecs_rds_elasticache_s3_per_the_spec(
    rendered: tuple[dict[str, str], str],
) -> None:
    values, text = rendered
    metrics = entries(json.loads(text))
    namespaces = {e[0] for e in metrics if isinstance(e[0], str)}
    assert {"AWS/ECS", "AWS/ApplicationELB", "AWS/RDS", "AWS/ElastiCache", "AWS/S3"} <= namespaces
    ecs = {e[e.index("ServiceName") + 1] for e in metrics if e[0] == "AWS/ECS"}
    assert ecs == {f"aicc-{name}" for name in SERVICE_NAMES}  # every service's health
    groups = {e[3] for e in metrics if e[0] == "AWS/ApplicationELB" and e[2] == "TargetGroup"}
    assert groups == {values[f"target_group_{name}"] for name in SERVICE_NAMES}
    assert {e[3] for e in metrics if e[0] == "AWS/RDS"} == {values["db_instance"]}
    assert {e[3] for e in metrics if e[0] == "AWS/S3"} == {values["recordings_bucket"]}
    nodes = {e[3] for e in metrics if e[0] == "AWS/ElastiCache"}
    assert nodes and all(n.startswith(values["redis_group"] + "-00") for n in nodes)


def shown_metrics(body: dict[str, Any], namespace: str) -> set[Metric]:
    """Every metric of ``namespace`` the dashboard names, with its dimension names."""
    found: set[Metric] = set()
    for entry in entries(body):
        if isinstance(entry[0], dict):
            for ns, dims, name in SEARCH.findall(entry[0]["expression"]):
                if ns == namespace:
                    found.add((name, frozenset(d for d in dims.split(",") if d)))
        elif entry[0] == namespace:
            pairs = [e for e in entry[2:] if isinstance(e, str)]
            found.add((entry[1], frozenset(pairs[::2])))
    return found


@pytest.fixture
def published(tmp_path: Path) -> set[Metric]:
    """What the publisher sends: two publications (counters go out as increments, so only the
    second has them) of a monitoring service that scraped the other three services' /metrics,
    all four served in-process on one SQLite file; plus the points of a Connect snapshot that
    holds every Connect metric."""

    async def run(folder: Path) -> set[Metric]:
        overrides = {
            "data_dir": str(folder),
            "jobs.enabled": False,
            "monitoring.targets": [],
            "auth.bootstrap_admin_password": "Unused-" + os.urandom(8).hex(),
        }
        async with AsyncExitStack() as stack:
            apps = {}
            for name in SERVICE_NAMES:
                module = importlib.import_module(f"aicc.{name}.app")
                app = module.create_app(load_settings(overrides, env_file=None))
                apps[name] = (app, await stack.enter_async_context(serve_app(app)))
            monitoring = apps["monitoring"][0].state.aicc_service
            points: list[Any] = []
            state: dict[str, Any] = {}
            for _ in range(2):
                texts = {}
                for name, (_, client) in apps.items():
                    await client.get("/health")
                    texts[name] = (await client.get("/metrics")).text
                del texts["monitoring"]  # its own points come from its registry
                await monitoring.resources.cache.set(SCRAPED_KEY, orjson.dumps(texts), ttl=60)
                found, state = await monitoring.cloudwatch_points(state)
                points += found
        names = tuple(m.name for m in METRICS)
        snapshot = Snapshot(
            instance_id="instance",
            taken_at=0.0,
            channels=("VOICE",),
            metrics=names,
            queues={"q1": QueueInfo("q1", "arn:aws:connect:::queue/q1", "Sales")},
            values={("q1", "VOICE"): dict.fromkeys(names, 1.0)},
            agent_states={"q1": {"Available": 1}},
            instance_agent_states={"Available": 1},
        )
        points += points_from_snapshot(snapshot)
        return {(p.name, frozenset(p.dimensions)) for p in points}

    return asyncio.run(run(tmp_path / "var"))


def test_every_aicc_metric_shown_or_alarmed_on_is_one_the_publisher_sends(
    rendered: tuple[dict[str, str], str],
    terraform: dict[str, dict[str, Any]],
    published: set[Metric],
) -> None:
    values, text = rendered
    shown = shown_metrics(json.loads(text), values["namespace"])
    assert len(shown) >= 12 and shown <= published, shown - published
    names = {name for name, _ in shown}
    for spec in (
        "system_cpu_usage_percent",
        "aicc_api_requests_total",
        "aicc_active_sessions_total",
    ):
        assert spec in names
    assert any(name.startswith("aicc_connect_") for name in names)
    alarms = terraform["aws_cloudwatch_metric_alarm"].values()
    queries = [a["metric_query"][0]["expression"] for a in alarms if "metric_query" in a]
    alarmed = {
        (name, frozenset(d.strip() for d in dims.split(",")))
        for query in queries
        for name, dims in INSIGHTS.findall(query)
    }
    assert len(alarmed) == len(queries) >= 2 and alarmed <= published, alarmed - published
