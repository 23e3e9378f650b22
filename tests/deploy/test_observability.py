"""The observability pack (deploy/observability) against the real thing: Debian's Prometheus
scrapes a live ``aicc up`` (Amazon Connect polled from its stand-in, an integration delivering
to the REST stand-in) with the committed scrape config and rules, and every Grafana panel's
query is sent to Prometheus' HTTP API after real traffic went through the services."""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import pytest
import yaml

from tests.deploy.live_stack import SERVICES
from tests.deploy.observability_support import (
    DASHBOARD,
    PROMETHEUS_YML,
    PROMTOOL_TESTS,
    RULES,
    Observed,
    exported_part,
    metric_names,
    observed_stack,
    panel_queries,
    substitute,
    wait_for,
)
from tests.deploy.tools import system_tool

pytestmark = pytest.mark.xdist_group("observability")
"""One live stack per worker: with ``--dist loadgroup`` every test here runs on one worker."""

ISSUE_TOPICS = {
    "request rate": "aicc_api_requests_total",
    "error rate": 'status=~"5..',
    "p95 latency": "histogram_quantile(0.95, sum by (le, service, route) (rate(aicc_api_duration",
    "database pool": "aicc_db_connections_active",
    "query time": "aicc_db_query_duration_seconds_bucket",
    "CPU": "system_cpu_usage_percent",
    "memory": "system_memory_usage_percent",
    "disk": "system_disk_usage_percent",
    "Connect queues": "aicc_connect_contacts_in_queue",
    "Connect agents": "aicc_connect_agents_available",
    "recording ingest": "aicc_recording_ingested_bytes_total",
    "recording finalize": 'kind=~"recording[.](finalize|import)"',
    "integration delivery": "aicc_integration_requests_total",
    "breakers": "aicc_integration_breaker_state",
    "dead letters": "aicc_integration_dead_letters",
    "job lag": "aicc_job_lag_seconds",
}


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    with observed_stack(tmp_path_factory.mktemp("observability")) as found:
        yield found


def query(observed: Observed, expr: str) -> list[dict[str, Any]]:
    response = httpx2.get(f"{observed.prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


def panel_failures(observed: Observed) -> list[str]:
    """What is wrong with the panels' data: a query (All selected) without a finite value; a
    per-service panel missing a service; one with a single service selected (each service in
    turn) showing another."""
    runs: list[tuple[str, str, str | None]] = []
    for title, expr in panel_queries(json.loads(DASHBOARD.read_text())):
        runs.append((title, substitute(expr), None))
        if "$service" in expr:
            one = SERVICES[len(runs) % len(SERVICES)]
            runs.append((title, substitute(expr, service=one), one))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda run: query(observed, run[1]), runs))
    failures = []
    for (title, expr, alone), result in zip(runs, results, strict=True):
        by_service: dict[str, bool] = {}
        for series in result:
            if "service" in series["metric"]:
                name = series["metric"]["service"]
                by_service[name] = by_service.get(name, False) or finite([series])
        wanted: set[str] = set(SERVICES) if by_service else set()
        if alone is not None:
            wanted = {alone}
        if not finite(result) or any(not by_service.get(s) for s in wanted):
            failures.append(f"{title}: {expr} -> {result}")
        elif alone and set(by_service) != {alone}:
            failures.append(f"{title} [{alone}] shows {sorted(by_service)}")
    return failures


class TestScraping:
    def test_every_service_is_scraped_and_labelled(self, observed: Observed) -> None:
        targets = httpx2.get(f"{observed.prometheus}/api/v1/targets", timeout=10).json()
        active = targets["data"]["activeTargets"]
        assert sorted(t["labels"]["service"] for t in active) == sorted(SERVICES)
        for target in active:
            service = target["labels"]["service"]
            assert target["health"] == "up", target
            assert target["labels"]["job"] == f"aicc-{service}"
            assert target["scrapeUrl"] == f"{observed.stack.url(service)}/metrics"
        pairs = query(observed, "count by (job, service) (aicc_db_connections_active)")
        assert {(s["metric"]["job"], s["metric"]["service"]) for s in pairs} == {
            (f"aicc-{s}", s) for s in SERVICES
        }
        assert query(observed, '{exported_service!=""}') == []

    def test_monitoring_is_scraped_with_the_metrics_token(self, observed: Observed) -> None:
        url = observed.stack.url("monitoring") + "/metrics"
        assert httpx2.get(url, timeout=5).status_code == 401
        assert observed.token_file.read_text() == observed.metrics_token
        rendered = yaml.safe_load(observed.config.read_text())
        jobs = {job["job_name"]: job for job in rendered["scrape_configs"]}
        credentials = jobs["aicc-monitoring"]["authorization"]["credentials_file"]
        assert credentials == str(observed.token_file)

    def test_the_rules_load_and_evaluate(self, observed: Observed) -> None:
        groups = httpx2.get(f"{observed.prometheus}/api/v1/rules", timeout=10).json()
        loaded = {g["name"]: g for g in groups["data"]["groups"]}
        assert set(loaded) == {"aicc", "aicc-records", "aicc-scrape"}
        exported = yaml.safe_load(exported_part(RULES / "aicc-alerts.yml"))
        assert [r["name"] for r in loaded["aicc"]["rules"]] == [
            r["alert"] for r in exported["groups"][0]["rules"]
        ]
        assert {
            "api_response_time_high",
            "cpu_usage_high",
            "memory_usage_high",
            "disk_usage_high",
        } == {r["name"] for r in loaded["aicc"]["rules"]}
        for group in loaded.values():
            for rule in group["rules"]:
                assert rule["health"] == "ok", rule
        records = [rule["name"] for rule in loaded["aicc-records"]["rules"]]
        assert len(records) == 7
        wait_for(
            lambda: all(finite(query(observed, name)) for name in records),
            "every recording rule to have a value",
        )

    def test_the_committed_alerts_are_what_the_service_exports(self, observed: Observed) -> None:
        live = httpx2.get(
            observed.stack.url("monitoring") + "/alerts/rules/export",
            headers=observed.stack.bearer(observed.admin_token),
            timeout=10,
        )
        assert live.status_code == 200, live.text
        assert exported_part(RULES / "aicc-alerts.yml") == live.text


class TestPromtool:
    def run(self, *args: str) -> str:
        promtool = system_tool("promtool", "prometheus")
        done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def test_the_committed_config_and_the_rendered_one(self, observed: Observed) -> None:
        self.run("check", "config", "--syntax-only", str(PROMETHEUS_YML))
        checked = self.run("check", "config", str(observed.config))
        files = sorted(RULES.glob("*.yml"))
        assert f"SUCCESS: {len(files)} rule files found" in checked
        for path in files:
            assert f"Checking {path}\n  SUCCESS" in checked

    def test_every_rules_file(self) -> None:
        files = sorted(RULES.glob("*.yml"))
        assert [f.name for f in files] == [
            "aicc-alerts.yml",
            "aicc-records.yml",
            "aicc-scrape-alerts.yml",
        ]
        for path in files:
            assert "SUCCESS" in self.run("check", "rules", str(path))

    def test_the_scrape_alerts_fire_when_they_should(self) -> None:
        for path in sorted(PROMTOOL_TESTS.glob("*.test.yml")):
            assert "SUCCESS" in self.run("test", "rules", str(path))


class TestDashboard:
    def test_every_panel_query_returns_data(self, observed: Observed) -> None:
        failures: list[str] = []

        def settled() -> bool:
            failures[:] = panel_failures(observed)
            return not failures

        wait_for(settled, "every panel to have data", timeout=30, failures=failures)

    def test_the_panels_show_what_happened(self, observed: Observed) -> None:
        """The traffic as the dashboard's own queries see it."""

        def panel(title: str, ref: str = "A") -> dict[str, float]:
            expr = dict(panel_queries(json.loads(DASHBOARD.read_text())))[f"{title} / {ref}"]
            return {
                ",".join(f"{k}={v}" for k, v in sorted(s["metric"].items())): float(s["value"][1])
                for s in query(observed, substitute(expr))
            }

        assert panel("Dead letters") == {"integration=observed": 2.0}
        assert panel("Circuit breakers") == {"integration=observed": 0.0}
        errors = panel("Error ratio (5xx) by service and route")
        assert errors["route=/integrations/{integration_id}/messages,service=integration"] > 0
        assert errors["route=/recordings/voice/start,service=recording"] == 0
        rate = panel("Request rate by service and route")
        assert rate["route=/recordings/voice/{recording_id}/audio,service=recording"] > 0
        assert panel("Contacts in queue") == {
            f"channel={channel},queue={queue}": waiting
            for queue, waiting in (("Sales", 4.0), ("Support", 1.0))
            for channel in ("CHAT", "TASK", "VOICE")
        }
        agents = {k: v for k, v in panel("Agent status (instance)").items() if v}
        assert agents == {"status=Available": 1.0, "status=On contact": 1.0, "status=Break": 1.0}
        assert panel("Audio ingest by source")["source=live"] > 0
        assert "kind=recording.finalize,outcome=completed" in panel(
            "Finalize and import jobs by outcome"
        )
        assert math.isfinite(panel("Finalize time p95")["kind=recording.finalize"])
        assert (
            panel("Provider calls by integration and outcome")[
                "integration=observed,outcome=success"
            ]
            > 0
        )

    def test_no_panel_names_a_metric_we_do_not_export(self, observed: Observed) -> None:
        dashboard = json.loads(DASHBOARD.read_text())
        named: set[str] = set()
        for _, expr in panel_queries(dashboard):
            found = metric_names(expr)
            assert found, expr
            named |= found
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                named |= metric_names(variable["query"]["query"])
        assert set(ISSUE_TOPICS.values()) & named >= {
            "aicc_api_requests_total",
            "aicc_recording_ingested_bytes_total",
            "aicc_job_lag_seconds",
        }
        exported = httpx2.get(
            f"{observed.prometheus}/api/v1/label/__name__/values", timeout=10
        ).json()["data"]
        assert named - set(exported) == set()

    def test_the_variables_list_the_services_and_queues(self, observed: Observed) -> None:
        dashboard = json.loads(DASHBOARD.read_text())
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["DS_PROMETHEUS"]["type"] == "datasource"
        assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
        found = {}
        for name in ("service", "queue"):
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", variables[name]["query"]["query"])
            assert match, variables[name]
            values = httpx2.get(
                f"{observed.prometheus}/api/v1/label/{match[2]}/values",
                params={"match[]": match[1]},
                timeout=10,
            ).json()["data"]
            found[name] = sorted(values)
        assert found == {"service": sorted(SERVICES), "queue": ["Sales", "Support"]}

    def test_the_recording_ingest_counter_counts_each_byte_once(self, observed: Observed) -> None:
        text = httpx2.get(observed.stack.url("recording") + "/metrics", timeout=5).text
        counted = {
            m["source"]: float(m["value"])
            for m in re.finditer(
                r'^aicc_recording_ingested_bytes_total\{source="(?P<source>\w+)"\} (?P<value>\S+)$',
                text,
                re.MULTILINE,
            )
        }
        assert counted == {
            "live": observed.rounds * observed.live_bytes,
            "import": observed.rounds * observed.import_bytes,
        }


class TestDashboardFile:
    """The dashboard and its provisioning, read as Grafana reads them."""

    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())

    def panels(self) -> list[dict[str, Any]]:
        return [p for p in self.dashboard["panels"] if p["type"] != "row"]

    def test_shape(self) -> None:
        assert self.dashboard["schemaVersion"] == 39
        assert self.dashboard["uid"] == "aicc-overview" and self.dashboard["id"] is None
        ids = [p["id"] for p in self.dashboard["panels"]]
        assert len(ids) == len(set(ids))
        for panel in self.panels():
            assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
            assert panel["targets"] and panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"]

    def test_panels_do_not_overlap(self) -> None:
        taken: set[tuple[int, int]] = set()
        for panel in self.dashboard["panels"]:
            box = panel["gridPos"]
            assert box["x"] + box["w"] <= 24, panel["title"]
            cells = {
                (box["x"] + dx, box["y"] + dy) for dx in range(box["w"]) for dy in range(box["h"])
            }
            assert not cells & taken, panel["title"]
            taken |= cells

    @pytest.mark.parametrize("topic", sorted(ISSUE_TOPICS))
    def test_covers_what_the_issue_asks_for(self, topic: str) -> None:
        queries = [expr for _, expr in panel_queries(self.dashboard)]
        assert any(ISSUE_TOPICS[topic] in expr for expr in queries), topic

    def test_provisioning(self) -> None:
        grafana = DASHBOARD.parents[1] / "provisioning"
        sources = yaml.safe_load((grafana / "datasources" / "aicc-prometheus.yml").read_text())
        (source,) = sources["datasources"]
        variable = self.dashboard["templating"]["list"][0]
        assert source["type"] == "prometheus"
        assert variable["current"]["value"] == source["uid"]
        scrape = yaml.safe_load(PROMETHEUS_YML.read_text())["global"]["scrape_interval"]
        assert source["jsonData"]["timeInterval"] == scrape
        providers = yaml.safe_load((grafana / "dashboards" / "aicc.yml").read_text())
        (provider,) = providers["providers"]
        assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
        uids = [json.loads(p.read_text())["uid"] for p in DASHBOARD.parent.glob("*.json")]
        assert len(uids) == len(set(uids))
