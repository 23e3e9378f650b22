"""How the overview turns the services' Prometheus text into figures and charts (no stack
needed: these are the console's own calculations on text in the services' format)."""

from __future__ import annotations

import pytest

from aicc.console.live.charts import FIGURES, chart, charts
from aicc.console.live.prometheus import Traffic, contact_center, machine, quantile

SCRAPE = """\
# HELP aicc_api_requests_total HTTP requests handled, by route template and status
# TYPE aicc_api_requests_total counter
aicc_api_requests_total{service="auth",method="POST",route="/auth/login",status="200"} 90.0
aicc_api_requests_total{service="auth",method="POST",route="/auth/login",status="503"} 10.0
aicc_api_requests_total{service="auth",method="GET",route="/health/ready",status="200"} 500.0
aicc_api_requests_total{service="auth",method="GET",route="/metrics",status="200"} 70.0
aicc_api_duration_seconds_bucket{service="auth",method="POST",route="/auth/login",le="0.1"} 50.0
aicc_api_duration_seconds_bucket{service="auth",method="POST",route="/auth/login",le="0.5"} 90.0
aicc_api_duration_seconds_bucket{service="auth",method="POST",route="/auth/login",le="1.0"} 100.0
aicc_api_duration_seconds_bucket{service="auth",method="POST",route="/auth/login",le="+Inf"} 100.0
aicc_api_duration_seconds_bucket{service="auth",method="GET",route="/metrics",le="+Inf"} 70.0
system_cpu_usage_percent 42.5
system_memory_usage_percent 61.0
system_disk_usage_percent{path="/"} 30.0
system_disk_usage_percent{path="/var/lib/aicc"} 55.5
"""
CONNECT = """\
aicc_connect_queues 2.0
aicc_connect_contacts_in_queue{queue="Sales",channel="VOICE"} 4.0
aicc_connect_contacts_in_queue{queue="Support",channel="CHAT"} 3.0
aicc_connect_oldest_contact_age_seconds{queue="Sales",channel="VOICE"} 95.0
aicc_connect_instance_agent_status{status="Available"} 12.0
aicc_connect_instance_agent_status{status="On contact"} 30.0
"""


def test_traffic_leaves_out_probes_and_counts_5xx_as_errors() -> None:
    traffic = Traffic.read(SCRAPE)

    assert traffic.requests == 100.0
    assert traffic.errors == 10.0
    assert traffic.buckets == {"0.1": 50.0, "0.5": 90.0, "1.0": 100.0, "+Inf": 100.0}


def test_the_change_since_the_previous_scrape_survives_a_restart() -> None:
    before = Traffic(requests=80.0, errors=5.0, buckets={"+Inf": 80.0})
    restarted = Traffic(requests=3.0, errors=0.0, buckets={"+Inf": 3.0})

    assert Traffic.read(SCRAPE).since(before).requests == 20.0
    assert restarted.since(before).requests == 3.0


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0.5, 0.1), (0.95, 0.75), (0.25, 0.05), (1.0, 1.0)],
)
def test_quantiles_interpolate_within_buckets_like_prometheus(q: float, expected: float) -> None:
    assert quantile(q, Traffic.read(SCRAPE).buckets) == pytest.approx(expected)


def test_no_requests_no_quantile() -> None:
    assert quantile(0.95, {"0.1": 0.0, "+Inf": 0.0}) is None
    assert quantile(0.95, {}) is None


def test_the_machine_and_contact_center_figures() -> None:
    found = machine(SCRAPE)

    assert (found.cpu, found.memory, found.disk) == (42.5, 61.0, 55.5)
    assert contact_center(SCRAPE) is None
    assert contact_center(CONNECT) == {
        "queues": 2.0,
        "in_queue": 7.0,
        "oldest_age": 95.0,
        "agents": 42.0,
        "available": 12.0,
    }


def test_a_chart_puts_the_newest_point_on_the_right_and_breaks_at_gaps() -> None:
    cpu = next(f for f in FIGURES if f.key == "cpu")

    drawn = chart(cpu, [10.0, 20.0, None, 50.0, 100.0])

    assert drawn.value == 100.0
    assert drawn.level == "high"
    assert len(drawn.lines) == 2
    assert drawn.lines[-1].endswith("297.0,3.0")
    assert drawn.areas[-1].startswith(drawn.lines[-1].split(",")[0] + ",61.0")


def test_connect_charts_only_when_connect_figures_exist() -> None:
    plain = {"points": [{"cpu": 1.0}], "connect": None}
    with_connect = {"points": [{"cpu": 1.0, "in_queue": 7.0}], "connect": {"in_queue": 7.0}}

    assert "in_queue" not in {c.figure.key for c in charts(plain)}
    assert "in_queue" in {c.figure.key for c in charts(with_connect)}
    assert charts(None)[0].value is None
