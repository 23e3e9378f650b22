"""Silences over ``/alerts/silences`` and ``/api/v2``: created, listed in Alertmanager's
order, updated in place or replaced, expired (and still listed), and refused when invalid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.support import ADMIN, VIEWER
from tests.monitoring.notify.conftest import Deployment
from tests.recording.support import bearer, error_code

SUPERVISOR = bearer("SUPERVISOR")


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat().replace("+00:00", "Z")


def silence_body(**overrides: Any) -> dict[str, Any]:
    return {
        "matchers": [
            {"name": "alertname", "value": "HighCPU", "isRegex": False, "isEqual": True},
            {"name": "service", "value": "rec.*", "isRegex": True, "isEqual": True},
        ],
        "startsAt": iso(timedelta(seconds=-1)),
        "endsAt": iso(timedelta(hours=1)),
        "createdBy": "ops",
        "comment": "maintenance",
        **overrides,
    }


async def test_a_silence_lives_and_expires_but_stays_listed(monitoring_on: Deployment) -> None:
    http = monitoring_on.http
    created = await http.post("/alerts/silences", json=silence_body(), headers=ADMIN)
    assert created.status_code == 200, created.text
    silence_id = created.json()["silenceID"]
    assert created.json()["id"] == silence_id
    assert created.json()["status"] == {"state": "active"}
    one = (await http.get(f"/alerts/silences/{silence_id}", headers=SUPERVISOR)).json()
    assert one["matchers"][1] == {
        "name": "service",
        "value": "rec.*",
        "isRegex": True,
        "isEqual": True,
    }
    assert one["createdBy"] == "ops" and one["comment"] == "maintenance"
    pending = await http.post(
        "/api/v2/silences",
        json=silence_body(startsAt=iso(timedelta(hours=1)), endsAt=iso(timedelta(hours=2))),
        headers=ADMIN,
    )
    assert pending.status_code == 200
    assert set(pending.json()) == {"silenceID"}
    listed = (await http.get("/alerts/silences", headers=SUPERVISOR)).json()
    assert [s["status"]["state"] for s in listed] == ["active", "pending"]
    expired = await http.delete(f"/alerts/silences/{silence_id}", headers=ADMIN)
    assert expired.status_code == 200
    assert expired.json()["status"] == {"state": "expired"}
    ended = datetime.fromisoformat(expired.json()["endsAt"].replace("Z", "+00:00"))
    assert abs((ended - datetime.now(UTC)).total_seconds()) < 5
    via_v2 = (await http.get("/api/v2/silences", headers=SUPERVISOR)).json()
    assert [s["status"]["state"] for s in via_v2] == ["pending", "expired"]
    assert (await http.delete(f"/alerts/silences/{silence_id}", headers=ADMIN)).status_code == 200
    gone = await http.delete("/api/v2/silence/" + pending.json()["silenceID"], headers=ADMIN)
    assert gone.status_code == 200
    states = [
        s["status"]["state"] for s in (await http.get("/api/v2/silences", headers=ADMIN)).json()
    ]
    assert states == ["expired", "expired"]


async def test_updates_in_place_or_replace_as_alertmanager_does(monitoring: Deployment) -> None:
    http = monitoring.http
    first = (await http.post("/alerts/silences", json=silence_body(), headers=ADMIN)).json()
    longer = silence_body(
        id=first["id"], startsAt=first["startsAt"], endsAt=iso(timedelta(hours=3)), comment="more"
    )
    same = await http.post("/alerts/silences", json=longer, headers=ADMIN)
    assert same.json()["silenceID"] == first["id"]
    assert same.json()["comment"] == "more"
    other_matchers = silence_body(
        id=first["id"],
        matchers=[{"name": "alertname", "value": "Disk", "isRegex": False, "isEqual": True}],
    )
    replaced = await http.post("/alerts/silences", json=other_matchers, headers=ADMIN)
    assert replaced.json()["silenceID"] != first["id"]
    old = (await http.get(f"/alerts/silences/{first['id']}", headers=ADMIN)).json()
    assert old["status"]["state"] == "expired"
    filtered = await http.get(
        "/api/v2/silences", params={"filter": 'alertname="Disk"'}, headers=ADMIN
    )
    assert [s["id"] for s in filtered.json()] == [replaced.json()["silenceID"]]


async def test_invalid_silences_are_refused(monitoring: Deployment) -> None:
    http = monitoring.http
    empty_only = silence_body(
        matchers=[{"name": "a", "value": ".*", "isRegex": True, "isEqual": True}]
    )
    cases = [
        silence_body(matchers=[]),
        empty_only,
        silence_body(endsAt=iso(timedelta(hours=-1)), startsAt=iso(timedelta(hours=-2))),
        silence_body(startsAt="yesterday"),
        silence_body(matchers=[{"name": "a", "value": "(", "isRegex": True, "isEqual": True}]),
        {"matchers": "x"},
        silence_body(comment="x" * 2001),
        [],
    ]
    for body in cases:
        ours = await http.post("/alerts/silences", json=body, headers=ADMIN)
        assert ours.status_code == 422, body
        theirs = await http.post("/api/v2/silences", json=body, headers=ADMIN)
        assert theirs.status_code == 400, body
        assert "error" in theirs.json()
    missing = await http.get("/alerts/silences/nope", headers=ADMIN)
    assert missing.status_code == 404 and error_code(missing) == "silence_not_found"
    assert (await http.get("/api/v2/silence/nope", headers=ADMIN)).status_code == 404
    assert (await http.delete("/api/v2/silence/nope", headers=ADMIN)).status_code == 404
    unknown_id = await http.post("/alerts/silences", json=silence_body(id="nope"), headers=ADMIN)
    assert unknown_id.status_code == 404
    assert (await http.get("/alerts/silences", headers=VIEWER)).status_code == 403
    forbidden = await http.post("/alerts/silences", json=silence_body(), headers=SUPERVISOR)
    assert forbidden.status_code == 403


async def test_created_by_defaults_to_the_caller(monitoring: Deployment) -> None:
    body = silence_body()
    del body["createdBy"]
    created = await monitoring.http.post("/alerts/silences", json=body, headers=ADMIN)
    assert created.status_code == 200
    assert created.json()["createdBy"] == "admin"
