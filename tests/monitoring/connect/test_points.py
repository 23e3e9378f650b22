from __future__ import annotations

import time

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aicc.monitoring.connect import (
    CounterDeltas,
    MetricPoint,
    QueueInfo,
    Snapshot,
    points_from_registry,
    points_from_snapshot,
)
from tests.monitoring.connect.conftest import CloudWatch, PollerFactory
from tests.monitoring.connect.fakes import FakeConnect


def by_key(points: list[MetricPoint]) -> dict[tuple[str, tuple[tuple[str, str], ...]], MetricPoint]:
    return {(p.name, tuple(sorted(p.dimensions.items()))): p for p in points}


def spec_registry() -> tuple[CollectorRegistry, Counter, Histogram]:
    registry = CollectorRegistry()
    Gauge("system_cpu_usage_percent", "cpu", registry=registry).set(42.5)
    sessions = Gauge("aicc_active_sessions_total", "sessions", registry=registry)
    sessions.set(12)
    requests = Counter(
        "aicc_api_requests", "requests", ["service", "route", "tenant"], registry=registry
    )
    duration = Histogram(
        "aicc_api_duration_seconds", "duration", ["service"], buckets=(0.1, 1), registry=registry
    )
    Gauge("process_open_fds", "not published", registry=registry).set(9)
    requests.labels("auth", "/login", "").inc(5)
    duration.labels("auth").observe(0.25)
    duration.labels("auth").observe(0.75)
    return registry, requests, duration


def test_registry_points_carry_gauges_counter_totals_and_histogram_sums_and_counts() -> None:
    registry, _, _ = spec_registry()

    points = by_key(points_from_registry(registry, timestamp=1_800_000_000.0))

    assert points[("system_cpu_usage_percent", ())].value == 42.5
    assert points[("system_cpu_usage_percent", ())].unit == "Percent"
    assert points[("aicc_active_sessions_total", ())].value == 12
    assert points[("aicc_active_sessions_total", ())].unit == "Count"
    requests = points[("aicc_api_requests_total", (("route", "/login"), ("service", "auth")))]
    assert (requests.value, requests.unit) == (5, "Count")
    duration_sum = points[("aicc_api_duration_seconds_sum", (("service", "auth"),))]
    assert (duration_sum.value, duration_sum.unit) == (1.0, "Seconds")
    duration_count = points[("aicc_api_duration_seconds_count", (("service", "auth"),))]
    assert (duration_count.value, duration_count.unit) == (2, "Count")
    assert all(p.timestamp == 1_800_000_000.0 for p in points.values())
    assert not any("bucket" in name or "created" in name or "fds" in name for name, _ in points)


def test_a_scraped_text_exposition_gives_the_same_points_as_its_registry() -> None:
    registry, _, _ = spec_registry()
    parsed = text_string_to_metric_families(generate_latest(registry).decode())

    assert by_key(points_from_registry(parsed)) == by_key(points_from_registry(registry))


def test_with_deltas_counters_give_increments_and_a_reset_gives_the_new_total() -> None:
    registry, requests, duration = spec_registry()
    deltas = CounterDeltas()
    route = (("route", "/login"), ("service", "auth"))

    first = by_key(points_from_registry(registry, deltas=deltas))
    requests.labels("auth", "/login", "").inc(3)
    duration.labels("auth").observe(2.0)
    second = by_key(points_from_registry(registry, deltas=deltas))
    restarted, _, _ = spec_registry()
    third = by_key(points_from_registry(restarted, deltas=deltas))

    assert ("aicc_api_requests_total", route) not in first
    assert ("system_cpu_usage_percent", ()) in first
    assert second[("aicc_api_requests_total", route)].value == 3
    assert second[("aicc_api_duration_seconds_count", (("service", "auth"),))].value == 1
    assert second[("aicc_api_duration_seconds_sum", (("service", "auth"),))].value == 2.0
    assert third[("aicc_api_requests_total", route)].value == 5  # 8 before, 5 now: a reset


def test_counter_deltas_survive_a_json_round_trip() -> None:
    registry, requests, _ = spec_registry()
    deltas = CounterDeltas()
    points_from_registry(registry, deltas=deltas)
    stored = orjson.loads(orjson.dumps(deltas.to_dict()))
    requests.labels("auth", "/login", "").inc(4)

    later = by_key(points_from_registry(registry, deltas=CounterDeltas.from_dict(stored)))

    assert later[("aicc_api_requests_total", (("route", "/login"), ("service", "auth")))].value == 4


def test_snapshot_points_have_queue_and_channel_dimensions_and_the_snapshot_time() -> None:
    snapshot = Snapshot(
        instance_id="instance",
        taken_at=1_800_000_000.0,
        channels=("VOICE",),
        metrics=("AGENTS_ONLINE", "OLDEST_CONTACT_AGE", "ESTIMATED_WAIT_TIME"),
        queues={"q1": QueueInfo("q1", "arn:q1", "Sales")},
        values={
            ("q1", "VOICE"): {
                "AGENTS_ONLINE": 4,
                "OLDEST_CONTACT_AGE": 30,
                "ESTIMATED_WAIT_TIME": None,
            }
        },
        agent_states={"q1": {"Available": 2}},
        instance_agent_states={"Available": 2},
    )

    points = by_key(points_from_snapshot(snapshot, dimensions={"instance": "prod"}))
    only = points_from_snapshot(snapshot, names={"aicc_connect_agents_online"})

    where = (("channel", "VOICE"), ("instance", "prod"), ("queue", "Sales"))
    assert points[("aicc_connect_agents_online", where)].value == 4
    assert points[("aicc_connect_agents_online", where)].unit == "Count"
    assert points[("aicc_connect_oldest_contact_age_seconds", where)].unit == "Seconds"
    assert not any(name == "aicc_connect_estimated_wait_time_seconds" for name, _ in points)
    status = (("instance", "prod"), ("queue", "Sales"), ("status", "Available"))
    assert points[("aicc_connect_agent_status", status)].value == 2
    instance = (("instance", "prod"), ("status", "Available"))
    assert points[("aicc_connect_instance_agent_status", instance)].value == 2
    assert all(p.timestamp == 1_800_000_000.0 for p in points.values())
    assert [p.name for p in only] == ["aicc_connect_agents_online"]


async def test_a_polled_snapshot_published_to_cloudwatch_is_there_by_queue_and_channel(
    connect: FakeConnect, poller_for: PollerFactory, cloudwatch: CloudWatch
) -> None:
    queues = [connect.add_queue(f"Queue {n:03}") for n in range(120)]
    for n, queue in enumerate(queues):
        connect.set_metrics(queue, "VOICE", CONTACTS_IN_QUEUE=n)
    snapshot = await poller_for(connect, channels=("VOICE", "CHAT")).poll(now=time.time())

    report = await cloudwatch.publisher().publish(points_from_snapshot(snapshot))

    assert report.ok
    metric_points = 120 * (13 + 12)  # no CHAT data: its ESTIMATED_WAIT_TIME is null
    agent_points = 120 * 7 + 7  # the seven activities per queue and for the instance
    assert report.sent == metric_points + agent_points
    assert report.calls == 4
    stats = cloudwatch.statistics(
        "aicc_connect_contacts_in_queue", {"queue": "Queue 042", "channel": "VOICE"}
    )
    assert stats["Sum"] == 42 and stats["Unit"] == "Count"
