from __future__ import annotations

from typing import Any

import pytest

from aicc.monitoring.connect import Backoff, ConnectError
from tests.integration.fakes.common import Fault
from tests.monitoring.connect.conftest import PollerFactory
from tests.monitoring.connect.fakes import Agent, FakeConnect, throttle


async def test_a_poll_reads_each_standard_queue_by_channel_with_names_and_arns(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    sales = connect.add_queue("Sales")
    support = connect.add_queue("Support")
    connect.add_queue("agent-queue-of-kim", "AGENT")
    connect.set_metrics(sales, "VOICE", AGENTS_ONLINE=7, CONTACTS_IN_QUEUE=4, OLDEST_CONTACT_AGE=95)
    connect.set_metrics(sales, "CHAT", AGENTS_ONLINE=2, AGENTS_AVAILABLE=1)
    connect.set_metrics(support, "TASK", AGENTS_AFTER_CONTACT_WORK=3)

    snapshot = await poller_for(connect).poll(now=1_800_000_000.0)

    assert [q.name for q in snapshot.queues.values()] == ["Sales", "Support"]
    assert snapshot.queues[sales].arn == connect.arn("queue", sales)
    assert snapshot.value(sales, "VOICE", "AGENTS_ONLINE") == 7
    assert snapshot.value(sales, "VOICE", "CONTACTS_IN_QUEUE") == 4
    assert snapshot.value(sales, "VOICE", "OLDEST_CONTACT_AGE") == 95
    assert snapshot.value(sales, "CHAT", "AGENTS_AVAILABLE") == 1
    assert snapshot.value(support, "TASK", "AGENTS_AFTER_CONTACT_WORK") == 3
    assert snapshot.taken_at == 1_800_000_000.0
    assert snapshot.data_snapshot_time == pytest.approx(connect.snapshot_time, abs=0.001)
    [request] = connect.calls("/metrics/current/")
    body = request.json()
    assert body["Groupings"] == ["QUEUE", "CHANNEL"]
    assert sorted(body["Filters"]["Queues"]) == sorted([sales, support])
    assert body["Filters"]["Channels"] == ["VOICE", "CHAT", "TASK"]
    units = {m["Name"]: m["Unit"] for m in body["CurrentMetrics"]}
    assert units["OLDEST_CONTACT_AGE"] == "SECONDS"
    assert units["AGENTS_ON_CONTACT"] == "COUNT"
    assert "queueTypes=STANDARD" in connect.calls("/queues-summary/")[0].query


async def test_a_queue_and_channel_without_data_reads_zero_and_a_null_value_stays_none(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    quiet = connect.add_queue("Quiet")
    busy = connect.add_queue("Busy")
    connect.set_metrics(busy, "VOICE", CONTACTS_IN_QUEUE=5, ESTIMATED_WAIT_TIME=None)

    snapshot = await poller_for(connect, channels=("VOICE",)).poll()

    assert snapshot.value(quiet, "VOICE", "AGENTS_ONLINE") == 0
    assert snapshot.value(quiet, "VOICE", "OLDEST_CONTACT_AGE") == 0
    assert snapshot.value(quiet, "VOICE", "ESTIMATED_WAIT_TIME") is None
    assert snapshot.value(busy, "VOICE", "CONTACTS_IN_QUEUE") == 5
    assert snapshot.value(busy, "VOICE", "ESTIMATED_WAIT_TIME") is None
    assert snapshot.channels == ("VOICE",)


async def test_every_call_follows_next_token_to_the_last_page(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    connect.page_size = 2
    queues = [connect.add_queue(f"Queue {n}") for n in range(5)]
    for queue in queues:
        for channel in ("VOICE", "CHAT", "TASK"):
            connect.set_metrics(queue, channel, AGENTS_ONLINE=1)
    profile = connect.add_profile(*queues)
    for _ in range(5):
        connect.add_agent(profile, "Available")

    snapshot = await poller_for(connect).poll()

    assert len(snapshot.queues) == 5
    assert all(
        snapshot.value(q, c, "AGENTS_ONLINE") == 1
        for q in queues
        for c in ("VOICE", "CHAT", "TASK")
    )
    assert snapshot.instance_agent_states is not None
    assert snapshot.instance_agent_states["Available"] == 5
    assert snapshot.agent_states is not None
    assert all(snapshot.agent_states[q]["Available"] == 5 for q in queues)
    assert len(connect.calls("/queues-summary/")) == 3  # 5 queues, 2 a page
    assert len(connect.calls("/metrics/current/")) == 8  # 15 rows
    assert len(connect.calls("/metrics/userdata/")) == 3  # 5 agents
    assert len(connect.calls("/routing-profiles/")) == 8  # 15 queue × channel entries
    tokens = [r.json().get("NextToken") for r in connect.calls("/metrics/current/")]
    assert tokens[0] is None and all(tokens[1:])
    assert snapshot.calls == 3 + 8 + 3 + 8


async def test_more_than_100_queues_are_asked_for_100_at_a_time(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    queues = [connect.add_queue(f"Q{n:03}") for n in range(250)]
    for queue in queues:
        connect.set_metrics(queue, "VOICE", CONTACTS_IN_QUEUE=2)
    connect.add_agent(connect.add_profile(*queues[:150]), "Available")

    snapshot = await poller_for(connect, channels=("VOICE",)).poll()

    metric_chunks = [len(r.json()["Filters"]["Queues"]) for r in connect.calls("/metrics/current/")]
    user_chunks = [len(r.json()["Filters"]["Queues"]) for r in connect.calls("/metrics/userdata/")]
    assert metric_chunks == [100, 100, 50]
    assert user_chunks == [100, 100, 50]
    assert len(snapshot.queues) == 250
    assert all(snapshot.value(q, "VOICE", "CONTACTS_IN_QUEUE") == 2 for q in queues)
    assert snapshot.instance_agent_states is not None
    assert snapshot.instance_agent_states["Available"] == 1  # seen in two chunks, counted once


async def test_agents_are_counted_by_activity_in_every_queue_of_their_routing_profile(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    sales, support, billing = (connect.add_queue(n) for n in ("Sales", "Support", "Billing"))
    both = connect.add_profile(sales, support)
    billing_only = connect.add_profile(billing)
    connect.add_agent(both, "Available")
    connect.add_agent(both, "Available", "CONNECTED")
    connect.add_agent(both, "Available", "ENDED")
    connect.add_agent(both, "Lunch")
    connect.add_agent(billing_only, "Available", "CONNECTING")
    connect.add_agent(billing_only, "Available", "MISSED")
    connect.add_agent(billing_only, "Available", "CONNECTED_ONHOLD", "ENDED")

    snapshot = await poller_for(connect).poll()

    assert snapshot.agent_states is not None
    for queue in (sales, support):
        states = snapshot.agent_states[queue]
        assert states["Available"] == 1
        assert states["On contact"] == 1
        assert states["After contact work"] == 1
        assert states["Lunch"] == 1
        assert states["Incoming"] == 0
    billing_states = snapshot.agent_states[billing]
    assert billing_states["Incoming"] == 1
    assert billing_states["Missed"] == 1
    assert billing_states["On contact"] == 1
    assert billing_states["Available"] == 0
    assert snapshot.instance_agent_states == {
        "Available": 1,
        "Incoming": 1,
        "On contact": 2,
        "After contact work": 1,
        "Missed": 1,
        "Rejected": 0,
        "Error": 0,
        "Lunch": 1,
    }


async def test_routing_profile_queues_are_cached_for_their_ttl(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    queue = connect.add_queue("Sales")
    connect.add_agent(connect.add_profile(queue), "Available")
    poller = poller_for(connect, routing_profile_ttl=60)

    await poller.poll(now=1000.0)
    await poller.poll(now=1059.0)
    assert len(connect.calls("/routing-profiles/")) == 1
    await poller.poll(now=1060.0)
    assert len(connect.calls("/routing-profiles/")) == 2
    await poller.poll(now=900.0)  # the clock went back: the cache is not trusted
    assert len(connect.calls("/routing-profiles/")) == 3


async def test_an_agent_whose_routing_profile_is_deleted_mid_poll_counts_for_the_instance_only(
    connect: FakeConnect, poller_for: PollerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = connect.add_queue("Sales")
    connect.add_agent(connect.add_profile(queue), "Available")
    leaving = connect.add_agent(connect.add_profile(queue), "Break")
    read = connect._user_data

    def profile_deleted_once_read(agent: Agent) -> dict[str, Any]:
        found = read(agent)
        if agent is leaving:
            del connect.profiles[agent.routing_profile]
        return found

    monkeypatch.setattr(connect, "_user_data", profile_deleted_once_read)

    snapshot = await poller_for(connect).poll()

    assert snapshot.agent_states is not None
    assert snapshot.agent_states[queue]["Available"] == 1
    assert "Break" not in snapshot.agent_states[queue]
    assert snapshot.instance_agent_states is not None
    assert snapshot.instance_agent_states["Break"] == 1


async def test_throttled_calls_back_off_and_then_succeed(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    queue = connect.add_queue("Sales")
    connect.set_metrics(queue, "VOICE", AGENTS_ONLINE=3)
    connect.provider.fail(
        throttle("/queues-summary/", "ThrottlingException"),
        throttle("/metrics/current/"),
        throttle("/metrics/current/"),
    )

    snapshot = await poller_for(connect).poll()

    assert snapshot.value(queue, "VOICE", "AGENTS_ONLINE") == 3
    assert snapshot.throttled == 3
    assert len(connect.calls("/queues-summary/")) == 2
    assert len(connect.calls("/metrics/current/")) == 3


async def test_throttling_past_the_attempts_raises_connect_error_with_the_aws_code(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    connect.add_queue("Sales")
    connect.provider.fail(*(throttle("/metrics/current/") for _ in range(10)))
    poller = poller_for(connect, backoff=Backoff(attempts=3, base=0.001, cap=0.001))

    with pytest.raises(ConnectError) as caught:
        await poller.poll()

    assert caught.value.aws_code == "TooManyRequestsException"
    assert caught.value.operation == "get_current_metric_data"
    assert caught.value.throttled
    assert len(connect.calls("/metrics/current/")) == 3


async def test_throttling_past_the_time_budget_raises_connect_error(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    connect.add_queue("Sales")
    connect.provider.fail(*(throttle("/queues-summary/") for _ in range(10)))
    poller = poller_for(connect, backoff=Backoff(attempts=100, base=0.05, cap=0.05, budget=0.1))

    with pytest.raises(ConnectError) as caught:
        await poller.poll()

    assert caught.value.throttled
    assert 2 <= len(connect.calls("/queues-summary/")) < 10


async def test_an_unknown_instance_raises_resource_not_found_without_retrying(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    connect.add_queue("Sales")
    connect.instance_id, real = "00000000-0000-0000-0000-000000000000", connect.instance_id
    poller = poller_for(connect)
    connect.instance_id = real

    with pytest.raises(ConnectError) as caught:
        await poller.poll()

    assert caught.value.aws_code == "ResourceNotFoundException"
    assert caught.value.operation == "list_queues"
    assert not caught.value.throttled
    assert len(connect.calls("/queues-summary/")) == 1


async def test_a_refused_request_is_a_connect_error_and_not_retried(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    connect.add_queue("Sales")
    connect.provider.fail(
        Fault(
            status=400,
            headers={"x-amzn-ErrorType": "InvalidRequestException"},
            body={"message": "nope"},
            path="/metrics/current/",
        )
    )

    with pytest.raises(ConnectError) as caught:
        await poller_for(connect).poll()

    assert caught.value.aws_code == "InvalidRequestException"
    assert "nope" in str(caught.value)
    assert len(connect.calls("/metrics/current/")) == 1


async def test_max_queues_polls_the_first_queues_by_name_and_marks_the_snapshot_truncated(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    for name in ("Delta", "Alpha", "Charlie", "Bravo"):
        connect.add_queue(name)

    snapshot = await poller_for(connect, max_queues=2).poll()

    assert [q.name for q in snapshot.queues.values()] == ["Alpha", "Bravo"]
    assert snapshot.truncated
    assert len(connect.calls("/metrics/current/")[0].json()["Filters"]["Queues"]) == 2


async def test_without_agent_states_no_user_data_is_read(
    connect: FakeConnect, poller_for: PollerFactory
) -> None:
    queue = connect.add_queue("Sales")
    connect.add_agent(connect.add_profile(queue), "Available")

    snapshot = await poller_for(connect, agent_states=False).poll()

    assert snapshot.agent_states is None
    assert connect.calls("/metrics/userdata/") == []
    assert snapshot.to_dict()["agent_states"] is None
