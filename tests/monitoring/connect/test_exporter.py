from __future__ import annotations

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aicc.monitoring.connect import ConnectMetrics, QueueInfo, Snapshot
from tests.monitoring.connect.conftest import PollerFactory
from tests.monitoring.connect.fakes import FakeConnect


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def snapshot_of(*queues: tuple[str, str, dict[str, float | None]]) -> Snapshot:
    """A snapshot of (queue id, queue name, VOICE values) rows."""
    return Snapshot(
        instance_id="instance",
        taken_at=1_800_000_000.0,
        channels=("VOICE",),
        metrics=("AGENTS_ONLINE", "OLDEST_CONTACT_AGE", "ESTIMATED_WAIT_TIME"),
        queues={qid: QueueInfo(qid, f"arn:{qid}", name) for qid, name, _ in queues},
        values={(qid, "VOICE"): values for qid, _, values in queues},
        agent_states={qid: {"Available": 1} for qid, _, _ in queues},
        instance_agent_states={"Available": len(queues)},
    )


async def test_a_polled_snapshot_becomes_gauges_labelled_by_queue_name_and_channel(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    sales = connect.add_queue("Sales")
    connect.set_metrics(sales, "VOICE", AGENTS_ONLINE=7, CONTACTS_IN_QUEUE=4, OLDEST_CONTACT_AGE=95)
    connect.set_metrics(sales, "CHAT", AGENTS_ON_CONTACT=2, AGENTS_AFTER_CONTACT_WORK=1)
    profile = connect.add_profile(sales)
    connect.add_agent(profile, "Available", "CONNECTED")
    connect.add_agent(profile, "Break")
    registry = CollectorRegistry()
    metrics = ConnectMetrics(registry)

    metrics.update(await poller_for(connect).poll(now=1_800_000_000.0))

    found = samples(generate_latest(registry))
    voice = (("channel", "VOICE"), ("queue", "Sales"))
    chat = (("channel", "CHAT"), ("queue", "Sales"))
    assert found[("aicc_connect_agents_online", voice)] == 7
    assert found[("aicc_connect_contacts_in_queue", voice)] == 4
    assert found[("aicc_connect_oldest_contact_age_seconds", voice)] == 95
    assert found[("aicc_connect_agents_on_contact", chat)] == 2
    assert found[("aicc_connect_agents_after_contact_work", chat)] == 1
    assert found[("aicc_connect_agents_available", chat)] == 0
    assert found[("aicc_connect_agent_status", (("queue", "Sales"), ("status", "On contact")))] == 1
    assert found[("aicc_connect_agent_status", (("queue", "Sales"), ("status", "Break")))] == 1
    assert found[("aicc_connect_agent_status", (("queue", "Sales"), ("status", "Available")))] == 0
    assert found[("aicc_connect_instance_agent_status", (("status", "On contact"),))] == 1
    assert found[("aicc_connect_queues", ())] == 1
    assert found[("aicc_connect_last_poll_timestamp_seconds", ())] == 1_800_000_000.0
    assert metrics.render() == generate_latest(registry)


def test_a_queue_gone_from_the_next_snapshot_is_gone_from_the_gauges() -> None:
    metrics = ConnectMetrics()
    metrics.update(
        snapshot_of(("q1", "Sales", {"AGENTS_ONLINE": 3}), ("q2", "Support", {"AGENTS_ONLINE": 4}))
    )
    assert (
        samples(metrics.render())[
            ("aicc_connect_agents_online", (("channel", "VOICE"), ("queue", "Support")))
        ]
        == 4
    )

    metrics.update(snapshot_of(("q1", "Sales renamed", {"AGENTS_ONLINE": 5})))

    found = samples(metrics.render())
    assert {labels for name, labels in found if name == "aicc_connect_agents_online"} == {
        (("channel", "VOICE"), ("queue", "Sales renamed"))
    }
    assert not any(dict(labels).get("queue") in ("Sales", "Support") for _, labels in found)


def test_a_value_connect_could_not_compute_is_absent_not_zero() -> None:
    metrics = ConnectMetrics()
    metrics.update(snapshot_of(("q1", "Sales", {"AGENTS_ONLINE": 3, "ESTIMATED_WAIT_TIME": None})))

    names = {name for name, _ in samples(metrics.render())}

    assert "aicc_connect_agents_online" in names
    assert "aicc_connect_estimated_wait_time_seconds" not in names


def test_queues_sharing_a_name_are_told_apart_by_their_id() -> None:
    metrics = ConnectMetrics()
    metrics.update(
        snapshot_of(("q1", "Sales", {"AGENTS_ONLINE": 1}), ("q2", "Sales", {"AGENTS_ONLINE": 2}))
    )

    found = samples(metrics.render())

    assert (
        found[("aicc_connect_agents_online", (("channel", "VOICE"), ("queue", "Sales (q1)")))] == 1
    )
    assert (
        found[("aicc_connect_agents_online", (("channel", "VOICE"), ("queue", "Sales (q2)")))] == 2
    )


def test_the_gauges_are_registered_once_per_registry() -> None:
    registry = CollectorRegistry()
    ConnectMetrics(registry)

    with pytest.raises(ValueError, match="aicc_connect_agents_online"):
        ConnectMetrics(registry)
    ConnectMetrics(CollectorRegistry())


def test_clear_removes_every_connect_series() -> None:
    registry = CollectorRegistry()
    metrics = ConnectMetrics(registry)
    metrics.update(snapshot_of(("q1", "Sales", {"AGENTS_ONLINE": 3})))

    metrics.clear()

    assert b"aicc_connect" not in generate_latest(registry)
    assert metrics.render() == b""


async def test_a_snapshot_round_trips_through_json(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    sales = connect.add_queue("상담 Sales")
    connect.set_metrics(sales, "VOICE", AGENTS_ONLINE=7, ESTIMATED_WAIT_TIME=None)
    connect.add_agent(connect.add_profile(sales), "Available", "ENDED")
    snapshot = await poller_for(connect).poll(now=1_800_000_000.25)

    data = orjson.loads(orjson.dumps(snapshot.to_dict()))
    again = Snapshot.from_dict(data)

    assert data["taken_at"] == "2027-01-15T08:00:00.250000Z"
    assert data["queues"][0]["name"] == "상담 Sales"
    assert data["queues"][0]["channels"]["VOICE"]["AGENTS_ONLINE"] == 7
    assert data["queues"][0]["agent_states"]["After contact work"] == 1
    assert data["poll"]["calls"] == snapshot.calls
    assert again.to_dict() == data
    assert (again.queues, again.values) == (snapshot.queues, snapshot.values)
    assert again.agent_states == snapshot.agent_states
    assert again.instance_agent_states == snapshot.instance_agent_states
    assert again.value(sales, "VOICE", "ESTIMATED_WAIT_TIME") is None
    assert again.taken_at == snapshot.taken_at
