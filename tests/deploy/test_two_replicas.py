"""Two replicas behave as one (issue 10, section 7): a contact-center day through round-robin
balancers in front of two ``aicc serve`` processes per service on one PostgreSQL, one Redis
and S3 (moto); then one replica of each service is killed with SIGKILL at the busiest moment
(1,000 ASYNC messages being delivered, a call being recorded) and the day still completes.

Each step says what it proves; "once" is always counted where it shows: at the provider
stand-in, at the webhook receiver, in the rule's history, in the versions of the object.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from aicc.recording.app import create_app
from tests.asgi import live_app
from tests.deploy.replicas import Backends, Day, contact_center
from tests.deploy.round_robin import BYTE_RATE, FRAME, Acks, open_stream, poll, resume_stream
from tests.integration.fakes.common import Fault
from tests.recording.conftest import recording_settings
from tests.recording.support import bearer, decode, interleave, tone

LOCKOUT = 4
MESSAGES = 1000
SENDERS = 16
POLL_INTERVAL = 1.0
RULE = "memory_in_use"
PASSWORD = "Agent-passphrase-" + uuid.uuid4().hex[:8]
EVALUATED = re.compile(
    r'^aicc_jobs_processed_total\{(?=[^}]*kind="monitoring\.evaluate")'
    r'(?=[^}]*outcome="completed")[^}]*\} (\S+)$',
    re.M,
)


@pytest.fixture
async def day(
    tmp_path: Path, postgres_url: str, redis_url: str, moto_endpoint: str
) -> AsyncIterator[Day]:
    async with contact_center(
        tmp_path,
        Backends(postgres_url, redis_url, moto_endpoint, ""),
        AICC_MONITORING_CONNECT_POLL_INTERVAL=str(POLL_INTERVAL),
        AICC_ALERT_EVAL_INTERVAL="1",
        AICC_MONITORING_SCRAPE_INTERVAL="2",
        AICC_AUTH_LOCKOUT_THRESHOLD=str(LOCKOUT),
        AICC_INTEGRATION_BACKOFF_BASE="0.2",
        AICC_RECORDING_RECOVERY_GRACE="30",
    ) as today:
        yield today


async def test_a_contact_center_day_on_two_replicas_of_each_service(day: Day) -> None:
    await morning_logins(day)
    await monitoring_set_up(day)
    await breaker_opens_everywhere(day)
    await recording_moves_to_the_other_replica(day)
    await one_connect_snapshot_everywhere(day)
    await alert_notified_once(day)
    await busy_hour_with_an_outage(day)


# --- auth -----------------------------------------------------------------------------------


async def morning_logins(day: Day) -> None:
    """A token from one auth replica works on both and refreshes on the other; a logout on one
    is refused by every auth and recording replica; failed logins alternating between the
    auth replicas lock the account at the threshold counted across both."""
    api, auth = day.api, day.deployment.balancers["auth"]
    day.admin = (await api.token("admin", day.deployment.admin_password))["access_token"]
    users = {}
    for name in ("agent001", "agent002"):
        body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        created = await api.call(
            "auth", "POST", "/auth/register", token=day.admin, json={**body, "roles": ["agent"]}
        )
        assert created.status_code == 201, created.text
        users[name] = created.json()["user_id"]
    first = await api.token("agent001", PASSWORD)
    assert await day.answers(first["access_token"]) == {200}
    refresh = {"refresh_token": first["refresh_token"]}
    refreshed = await api.call("auth", "POST", "/auth/refresh", json=refresh)
    assert refreshed.status_code == 200, refreshed.text
    assert auth.served_by("/auth/login")[-1] != auth.served_by("/auth/refresh")[-1]
    day.agent = refreshed.json()["access_token"]

    leaving = (await api.token("agent001", PASSWORD))["access_token"]
    assert await day.answers(leaving) == {200}
    assert (await api.call("auth", "POST", "/auth/logout", token=leaving)).status_code == 204

    async def refused_everywhere() -> bool:
        return await day.answers(leaving) == {401}

    await poll(refused_everywhere, 10, "the logout to reach every replica")
    assert await day.answers(day.agent) == {200}, "other sessions go on"

    before = len(auth.served_by("/auth/login"))
    for _ in range(LOCKOUT):
        assert (await api.login("agent002", "not-" + PASSWORD)).status_code == 401
    tried = auth.served_by("/auth/login")[before:]
    assert set(tried) == set(day.replicas("auth")), "the failures alternated between replicas"
    assert max(tried.count(u) for u in tried) < LOCKOUT, "no replica saw the threshold alone"
    for url in day.replicas("auth"):
        good = {"username": "agent002", "password": PASSWORD}
        refused = await api.call(url, "POST", "/auth/login", json=good)
        assert refused.status_code == 401, f"{url} let a locked account in"
    query = {"target_id": users["agent002"]}
    audit = await api.call("auth", "GET", "/auth/audit", token=day.admin, params=query)
    events = [
        (e["event"], e["details"].get("reason"))
        for e in sorted(audit.json()["items"], key=lambda e: e["id"])
        if e["event"] in ("login", "account_locked")
    ]
    bad, locked = ("login", "bad"), ("login", "locked")
    assert events == [*[bad] * LOCKOUT, ("account_locked", None), locked, locked], events


# --- integration ----------------------------------------------------------------------------


async def breaker_opens_everywhere(day: Day) -> None:
    """Failures spread over both integration replicas open one breaker, open on each."""
    api, balancer = day.api, day.deployment.balancers["integration"]
    await day.register("crm-flaky", day.flaky.url, breaker_threshold=3, breaker_reset_seconds=300)
    day.flaky.fail(*[Fault(status=503, body={"error": "down"}) for _ in range(3)])
    lookup = {"message_type": "sync", "payload": {"method": "request", "path": "/customers/7"}}
    path = "/integrations/crm-flaky/messages"
    for _ in range(3):
        failed = await api.call("integration", "POST", path, token=day.agent, json=lookup)
        assert failed.status_code == 502 and failed.json()["error"]["code"] == "provider_error"
    assert set(balancer.served_by(path)) == set(day.replicas("integration"))
    for url in day.replicas("integration"):
        fast = await api.call(url, "POST", path, token=day.agent, json=lookup)
        assert fast.status_code == 503 and fast.json()["error"]["code"] == "circuit_open", url
        seen = await api.call(url, "GET", "/integrations/crm-flaky", token=day.admin)
        assert seen.json()["breaker"] == "open", url
    assert len(day.flaky.calls("/customers")) == 3, "an open breaker calls nobody"


async def _send_all(day: Day, integration_id: str, ids: list[str]) -> None:
    """Each ASYNC message sent once, and again under the same id when the balancer could not
    say whether it arrived."""
    pending = iter(ids)
    path = f"/integrations/{integration_id}/messages"
    payload = {"method": "request", "http_method": "POST", "path": "/orders", "json": {"qty": 1}}

    async def sender() -> None:
        for message_id in pending:
            body = {"message_id": message_id, "message_type": "async", "payload": payload}
            sent = await day.api.call(
                "integration", "POST", path, token=day.agent, json=body, retry=True
            )
            assert sent.status_code in (200, 202), sent.text

    await asyncio.gather(*(sender() for _ in range(SENDERS)))


# --- monitoring -----------------------------------------------------------------------------


async def monitoring_set_up(day: Day) -> None:
    """A webhook channel, routing that sends at once, and a rule that is true from the start.

    The rule compares the latest value, so it holds across the leader's failover too (a
    windowed rule waits for a window of samples on the new leader; see docs/monitoring.md)."""
    channel = {"name": "day-hook", "type": "webhook", "settings": {"url": f"{day.receiver.url}/am"}}
    rule: dict[str, object] = {"rule_name": RULE, "metric": "memory_usage_percent"}
    rule |= {"threshold": 0, "operator": ">"}
    rule |= {"level": "warning", "channels": ["day-hook"]}
    for method, path, body in (
        ("POST", "/alerts/channels", channel),
        ("PUT", "/alerts/routing", {"route": {"group_wait": "0s", "group_interval": "1s"}}),
    ):
        answer = await day.api.call("monitoring", method, path, token=day.admin, json=body)
        assert answer.status_code in (200, 201), answer.text

    async def rule_created() -> bool:
        """Created once the evaluator has scraped the metric (either replica may answer)."""
        answer = await day.api.call(
            "monitoring", "POST", "/alerts/rules", token=day.admin, json=rule
        )
        assert answer.status_code in (201, 422), answer.text
        return answer.status_code == 201

    await poll(rule_created, 30, "the rule, once its metric has been scraped")


def _notified(day: Day) -> int:
    alerts = [b["alerts"] for b in day.receiver.bodies if b["status"] == "firing"]
    return sum(any(a["labels"]["alertname"] == RULE for a in group) for group in alerts)


async def _evaluations(day: Day) -> float:
    """Evaluations completed by the live monitoring replicas (their job counters)."""
    texts = [(await day.api.call(u, "GET", "/metrics")).text for u in day.replicas("monitoring")]
    return sum(float(v) for text in texts for v in EVALUATED.findall(text))


async def alert_notified_once(day: Day, cycles: int = 3) -> None:
    """Notified once, and still once after ``cycles`` more evaluations by the live replicas;
    one transition to firing in the rule's history."""
    await poll(lambda: _notified(day) >= 1, 30, "the alert's notification")
    baseline = await _evaluations(day)

    async def evaluated() -> bool:
        return await _evaluations(day) >= baseline + cycles

    await poll(evaluated, 30, f"{cycles} more evaluations")
    assert _notified(day) == 1, day.receiver.bodies
    query = {"rule_name": RULE}
    history = await day.api.call(
        "monitoring", "GET", "/alerts/history", token=day.admin, params=query
    )
    fired = [h for h in history.json()["history"] if h["to"] == "firing"]
    assert len(fired) == 1, history.json()


def _one_cadence(times: list[float]) -> None:
    """At most one poll per interval over the span, give or take the periods at its ends (two
    pollers would make twice as many). Runs of the periodic task are serialized: a period's
    run is added only once the previous one is done, at or after its period's start."""
    assert len(times) >= 3, times
    span = times[-1] - times[0]
    assert len(times) <= span / POLL_INTERVAL + 3, f"{len(times)} polls in {span:.1f}s"


async def one_connect_snapshot_everywhere(day: Day) -> None:
    """Whichever replica polled, both serve the same snapshot of the stand-in's queue."""

    async def alike() -> bool:
        seen = [
            (await day.api.call(url, "GET", "/connect/metrics", token=day.admin)).json()
            for url in day.replicas("monitoring")
        ]
        snapshots = [s["snapshot"] for s in seen]
        return all(snapshots) and len({s["taken_at"] for s in snapshots}) == 1

    await poll(alike, 15, "both monitoring replicas to show one Connect snapshot")


# --- recording ------------------------------------------------------------------------------


async def _finalized_once(day: Day, recording_id: str, audio: bytes) -> None:
    """Completed with every byte, the right length, and one object version written."""
    path = f"/recordings/{recording_id}"

    async def completed() -> bool:
        got = await day.api.call("recording", "GET", path, token=day.agent)
        return bool(got.json()["status"] == "completed")

    await poll(completed, 30, f"recording {recording_id} to complete")
    meta = (await day.api.call("recording", "GET", path, token=day.agent)).json()
    assert meta["duration_seconds"] == len(audio) / BYTE_RATE, meta
    assert meta["ended_by"] == "stop" and meta["recovered"] is False, meta
    download = await day.api.call("recording", "GET", f"{path}/download", token=day.admin)
    assert decode(download.content)[2].tobytes() == audio, "every byte once, in order"
    listed = await asyncio.to_thread(
        day.s3.list_object_versions, Bucket=day.bucket, Prefix="recordings/"
    )
    versions = [v for v in listed.get("Versions", []) if v["Key"].endswith(recording_id)]
    assert len(versions) == 1, versions


async def recording_moves_to_the_other_replica(day: Day) -> None:
    """A stream cut on one replica resumes on the other from the last acknowledgement and the
    recording is finalized once."""
    balancer = day.deployment.balancers["recording"]
    recording_id, url = await day.start_recording("call-morning")
    audio = interleave(tone(440, 3.0), tone(1000, 3.0))
    ws = await open_stream(url)
    acks = Acks(ws)
    for start in range(0, len(audio) // 2, FRAME):
        await ws.send(audio[start : start + FRAME])
    acked = await acks.at_least(len(audio) // 3)
    first = balancer.served_by("/stream", "websocket")[-1]
    ws.transport.abort()
    await acks.task
    if balancer.next_upstream() == first:
        await day.api.call("recording", "GET", "/health")
    await resume_stream(url, audio, acked)
    assert balancer.served_by("/stream", "websocket")[-1] != first, "resumed on the other replica"
    await _finalized_once(day, recording_id, audio)


async def _stream_through_outage(
    url: str, audio: bytes, killed: asyncio.Event, progress: list[Acks]
) -> None:
    """Stream in real time until the replica under the stream dies, then resume through the
    balancer from the last acknowledgement."""
    ws = await open_stream(url)
    progress.append(Acks(ws))
    sent = 0
    with contextlib.suppress(ConnectionClosed):
        while not killed.is_set() and sent < len(audio):
            await ws.send(audio[sent : sent + FRAME])
            sent += FRAME
            await asyncio.sleep(FRAME / BYTE_RATE)
        async with asyncio.timeout(60):
            await killed.wait()
            await ws.wait_closed()
    await progress[0].task
    await resume_stream(url, audio, progress[0].count)


# --- the outage -----------------------------------------------------------------------------


async def busy_hour_with_an_outage(day: Day) -> None:
    """1,000 ASYNC messages under way and a call being recorded when one replica of each
    service dies: the recording's, an integration worker, an auth replica and the monitoring
    replica leading the Connect poll. Every message reaches the deduplicating provider once
    (at least once on the wire), the call resumes on the other replica and is finalized
    once, logins go on, the Connect poll and the evaluator move to the survivor."""
    deployment, api = day.deployment, day.api
    await day.register("shop-orders", day.shop.url)
    ids = [f"order-{n:04d}-{uuid.uuid4().hex[:8]}" for n in range(MESSAGES)]
    recording_id, url = await day.start_recording("call-busy-hour")
    audio = interleave(tone(330, 10.0), tone(880, 10.0))
    killed, progress = asyncio.Event(), list[Acks]()
    streamer = asyncio.ensure_future(_stream_through_outage(url, audio, killed, progress))
    producer = asyncio.ensure_future(_send_all(day, "shop-orders", ids))

    def busy() -> bool:
        streaming = bool(progress) and progress[0].count >= BYTE_RATE
        return streaming and len(day.shop.orders) >= MESSAGES // 5

    await poll(busy, 60, "deliveries and a live stream under way")
    stream_at = deployment.balancers["recording"].served_by("/stream", "websocket")[-1]
    leader = await day.leader_pid("monitoring.connect")
    victims = [
        deployment.replica_at("recording", stream_at),
        deployment.replicas["integration"][0],
        deployment.replicas["auth"][0],
        next(r for r in deployment.replicas["monitoring"] if r.pid == leader),
    ]
    killed_at = time.time()
    for victim in victims:
        victim.kill()
    killed.set()
    assert len(day.shop.orders) < MESSAGES, "the kill came after every delivery"
    _one_cadence([t for t in day.polls() if t < killed_at])

    for _ in range(2):
        assert (await api.login("agent001", PASSWORD)).status_code == 200, "auth goes on"
    async with asyncio.timeout(90):
        await asyncio.gather(producer, streamer)

    async def delivered() -> bool:
        undelivered = await day.undelivered("shop-orders")
        return undelivered == 0 and len(day.shop.orders) >= MESSAGES

    await poll(delivered, 60, "every message delivered")
    assert sorted(day.shop.orders) == sorted(ids), "each message reached the provider once"
    path = "/integrations/shop-orders/dead-letters"
    dead = await api.call("integration", "GET", path, token=day.admin)
    assert dead.json()["messages"] == []
    await _finalized_once(day, recording_id, audio)
    await poll(lambda: len(day.polls(killed_at)) >= 4, 30, "the Connect poll on the survivor")
    await alert_notified_once(day)
    _one_cadence(day.polls(killed_at))


# --- a stream replaced on another replica ---------------------------------------------------

START = {"session_id": "late-1", "agent_id": "agent001", "customer_id": "c-1", "format": "wav"}
AGENT = bearer("AGENT", user_id="u-agent", username="agent001")
SUPERVISOR = bearer("SUPERVISOR", user_id="u-sup", username="sup01")


async def test_audio_arriving_late_on_the_replaced_stream_is_not_stored_again(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    redis_prefix: str,
    moto_endpoint: str,
    s3_bucket: str,
) -> None:
    """A caller's stream moves from replica A to replica B (``?offset=`` of the last
    acknowledgement) while bytes it sent before the move are still on their way to A, as
    they are in a balancer's buffers after a cut. When A gets them it must find them already
    stored by B, not append them after B's audio."""
    backend = {"database_url": postgres_url, "redis_url": redis_url}
    backend |= {"redis.key_prefix": redis_prefix, "s3_bucket": s3_bucket}
    backend |= {"s3_endpoint_url": moto_endpoint, "aws_region": "us-east-1"}
    backend |= {"encryption_key": base64.b64encode(os.urandom(32)).decode()}
    apps = [create_app(recording_settings(tmp_path / n, backend)) for n in ("a", "b")]
    audio = interleave(tone(440, 2.0), tone(1000, 2.0))
    half = len(audio) // 2
    async with (
        live_app(apps[0]) as a,
        live_app(apps[1]) as b,
        httpx2.AsyncClient(base_url=a, timeout=30) as http,
    ):
        body = {**START, "channels": 2}
        started = (await http.post("/recordings/voice/start", json=body, headers=AGENT)).json()
        recording_id, url = started["recording_id"], started["stream_url"]
        async with await open_stream(url) as first:
            await first.send(audio[:half])
            assert orjson.loads(await first.recv())["received_bytes"] == half
            async with await open_stream(url.replace(a, b) + f"&offset={half}") as second:
                await second.send(audio[half:])
                assert orjson.loads(await second.recv())["received_bytes"] == len(audio)
                await first.send(audio[half : half + FRAME])
                async with asyncio.timeout(5):
                    while orjson.loads(await first.recv())["event"] != "ack":
                        pass
                await second.send(orjson.dumps({"event": "stop"}).decode())
                async with asyncio.timeout(30):
                    while orjson.loads(await second.recv())["event"] != "stopped":
                        pass
        meta = await apps[1].state.aicc_service.wait_finalized(recording_id, 30)
        download = await http.get(f"/recordings/{recording_id}/download", headers=SUPERVISOR)
    assert meta["received_bytes"] == len(audio), "the late bytes were stored a second time"
    assert meta["status"] == "completed", meta
    assert decode(download.content)[2].tobytes() == audio
