"""Alertmanager's API v2: pushed alerts are routed and notified like the evaluator's, an
alert pushed without ``endsAt`` resolves after ``resolve_timeout``, invalid alerts are a 400
after the valid ones are kept, and ``/api/v2/status`` answers as Alertmanager does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.support import ADMIN, VIEWER
from tests.monitoring.channels.fakes import FakeReceiver
from tests.monitoring.notify.conftest import Deployment
from tests.monitoring.notify.support import add_webhook, set_routing, wait_for
from tests.recording.support import bearer, error_code

SUPERVISOR = bearer("SUPERVISOR")


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat().replace("+00:00", "Z")


async def test_pushed_alerts_are_notified_and_resolve_after_the_timeout(
    monitoring_on: Deployment, receiver: FakeReceiver
) -> None:
    http = monitoring_on.http
    await add_webhook(monitoring_on, "hook", f"{receiver.url}/am")
    await set_routing(
        monitoring_on,
        {
            "global": {"resolve_timeout": "1s"},
            "route": {"receiver": "hook", "group_wait": "0s", "group_interval": "1s"},
        },
    )
    pushed = [
        {
            "labels": {"alertname": "InstanceDown", "instance": "a", "empty": ""},
            "annotations": {"summary": "a is down"},
            "generatorURL": "http://prometheus/graph",
        }
    ]
    answer = await http.post("/api/v2/alerts", json=pushed, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    await wait_for(lambda: len(receiver.bodies) == 1)
    first = receiver.bodies[0]
    assert first["status"] == "firing"
    assert first["alerts"][0]["labels"] == {"alertname": "InstanceDown", "instance": "a"}
    assert first["alerts"][0]["generatorURL"] == "http://prometheus/graph"
    listed = (await http.get("/api/v2/alerts", headers=SUPERVISOR)).json()
    assert [a["labels"]["instance"] for a in listed] == ["a"]
    assert listed[0]["receivers"] == [{"name": "hook"}]
    assert listed[0]["status"]["state"] == "active"
    await wait_for(lambda: len(receiver.bodies) == 2, timeout=10)
    assert receiver.bodies[1]["status"] == "resolved"
    assert (await http.get("/api/v2/alerts", headers=SUPERVISOR)).json() == []


async def test_valid_alerts_are_kept_when_others_are_invalid(monitoring: Deployment) -> None:
    http = monitoring.http
    body = [
        {"labels": {"alertname": "Good"}, "endsAt": iso(timedelta(hours=1))},
        {"labels": {}},
        {"labels": {"alertname": "Bad"}, "startsAt": "not a time"},
    ]
    answer = await http.post("/api/v2/alerts", json=body, headers=ADMIN)
    assert answer.status_code == 400
    assert error_code(answer) == "invalid_alerts"
    assert len(answer.json()["error"]["details"]) == 2
    names = [
        a["labels"]["alertname"] for a in (await http.get("/api/v2/alerts", headers=ADMIN)).json()
    ]
    assert names == ["Good"]
    for bad in ({"labels": {"a": "b"}}, "x", None):
        assert (await http.post("/api/v2/alerts", json=bad, headers=ADMIN)).status_code == 400
    not_json = await http.post(
        "/api/v2/alerts", content=b"[", headers={**ADMIN, "content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert (await http.post("/api/v2/alerts", json=[], headers=SUPERVISOR)).status_code == 403
    assert (await http.get("/api/v2/alerts", headers=VIEWER)).status_code == 403
    assert (await http.get("/api/v2/alerts")).status_code == 401


async def test_alert_filters_work_as_alertmanagers(monitoring: Deployment) -> None:
    http = monitoring.http
    later = iso(timedelta(hours=1))
    body = [
        {"labels": {"alertname": "A", "severity": "critical"}, "endsAt": later},
        {"labels": {"alertname": "B", "severity": "warning"}, "endsAt": later},
    ]
    assert (await http.post("/api/v2/alerts", json=body, headers=ADMIN)).status_code == 200

    async def names(**params: str) -> list[str]:
        answer = await http.get("/api/v2/alerts", params=params, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        return [a["labels"]["alertname"] for a in answer.json()]

    assert set(await names()) == {"A", "B"}
    assert await names(filter='severity="critical"') == ["A"]
    assert await names(filter="severity=~warn.*") == ["B"]
    assert await names(active="false") == []
    assert await names(receiver="nobody") == []
    bad = await http.get("/api/v2/alerts", params={"filter": "=="}, headers=ADMIN)
    assert bad.status_code == 400
    bad_regex = await http.get("/api/v2/alerts", params={"receiver": "("}, headers=ADMIN)
    assert bad_regex.status_code == 400


async def test_status_answers_as_alertmanager(monitoring: Deployment) -> None:
    answer = await monitoring.http.get("/api/v2/status", headers=SUPERVISOR)
    assert answer.status_code == 200
    status = answer.json()
    assert status["cluster"]["status"] == "disabled"
    assert status["cluster"]["peers"] == []
    assert "route:" in status["config"]["original"]
    assert set(status["versionInfo"]) == {
        "version",
        "revision",
        "branch",
        "buildUser",
        "buildDate",
        "goVersion",
    }
    assert datetime.fromisoformat(status["uptime"].replace("Z", "+00:00")) <= datetime.now(UTC)


async def test_alert_groups_show_each_receivers_groups(
    monitoring: Deployment, receiver: FakeReceiver
) -> None:
    http = monitoring.http
    await add_webhook(monitoring, "hook", f"{receiver.url}/am")
    await set_routing(monitoring, {"route": {"receiver": "hook", "group_by": ["alertname"]}})
    later = iso(timedelta(hours=1))
    body = [
        {"labels": {"alertname": "B", "instance": "1"}, "endsAt": later},
        {"labels": {"alertname": "A", "instance": "1"}, "endsAt": later},
        {"labels": {"alertname": "A", "instance": "2"}, "endsAt": later},
    ]
    assert (await http.post("/api/v2/alerts", json=body, headers=ADMIN)).status_code == 200
    groups = (await http.get("/api/v2/alerts/groups", headers=SUPERVISOR)).json()
    assert [(g["labels"], g["receiver"]) for g in groups] == [
        ({"alertname": "A"}, {"name": "hook"}),
        ({"alertname": "B"}, {"name": "hook"}),
    ]
    assert sorted(a["labels"]["instance"] for a in groups[0]["alerts"]) == ["1", "2"]
    filtered = await http.get(
        "/api/v2/alerts/groups", params={"filter": 'instance="2"'}, headers=ADMIN
    )
    assert [g["labels"] for g in filtered.json()] == [{"alertname": "A"}]
    none = await http.get("/api/v2/alerts/groups", params={"receiver": "other"}, headers=ADMIN)
    assert none.json() == []
    bad = await http.get("/api/v2/alerts/groups", params={"receiver": "("}, headers=ADMIN)
    assert bad.status_code == 400
