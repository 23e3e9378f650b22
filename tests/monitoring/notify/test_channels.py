"""Channel CRUD over HTTP: masked answers, settings sealed at rest, masked secrets kept on
PUT, names unique, channels a route uses cannot go, test sends, permissions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from aicc.monitoring.models import channel as channel_table
from tests.integration.support import ADMIN, VIEWER
from tests.monitoring.channels.fakes import FakeReceiver, FakeSlack
from tests.monitoring.notify.conftest import Deployment
from tests.recording.support import bearer, error_code

ROUTING_KEY = "R0123456789abcdef0123456789abcde"
SUPERVISOR = bearer("SUPERVISOR")


def slack_body(url: str, name: str = "ops-slack") -> dict[str, Any]:
    return {"name": name, "type": "slack", "settings": {"webhook_url": url}}


async def test_a_channel_is_sealed_at_rest_and_never_answered_whole(
    monitoring_on: Deployment, slack: FakeSlack
) -> None:
    hook = slack.hook()
    secret_part = hook.rsplit("/", 1)[1]
    http = monitoring_on.http
    created = await http.post("/alerts/channels", json=slack_body(hook), headers=ADMIN)
    assert created.status_code == 201, created.text
    pd = {
        "name": "pager",
        "type": "pagerduty",
        "settings": {"routing_key": ROUTING_KEY, "url": f"{slack.url}/v2/enqueue"},
    }
    assert (await http.post("/alerts/channels", json=pd, headers=ADMIN)).status_code == 201
    answers = [
        created,
        await http.get("/alerts/channels", headers=ADMIN),
        await http.get("/alerts/channels/ops-slack", headers=SUPERVISOR),
        await http.get("/alerts/channels/pager", headers=ADMIN),
    ]
    for answer in answers:
        assert answer.status_code == 200 or answer.status_code == 201
        assert secret_part not in answer.text
        assert ROUTING_KEY not in answer.text
    assert created.json()["type"] == "slack"
    assert created.json()["send_resolved"] is True
    assert "***" in created.json()["settings"]["webhook_url"]
    names = [c["name"] for c in answers[1].json()["channels"]]
    assert names == ["ops-slack", "pager"]
    database = monitoring_on.service.resources.database
    async with database.connect() as conn:
        rows = (await conn.execute(sa.select(channel_table))).all()
    assert len(rows) == 2
    for row in rows:
        stored = bytes(row.settings_sealed)
        assert secret_part.encode() not in stored
        assert ROUTING_KEY.encode() not in stored
        assert b"hooks" not in stored and b"127.0.0.1" not in stored


async def test_put_keeps_masked_secrets_and_changes_the_rest(
    monitoring: Deployment, slack: FakeSlack
) -> None:
    hook = slack.hook()
    http = monitoring.http
    await http.post("/alerts/channels", json=slack_body(hook), headers=ADMIN)
    shown = (await http.get("/alerts/channels/ops-slack", headers=ADMIN)).json()
    shown["send_resolved"] = False
    shown["settings"]["channel"] = "#ops"
    changed = await http.put(
        "/alerts/channels/ops-slack",
        json={k: shown[k] for k in ("name", "type", "settings", "send_resolved")},
        headers=ADMIN,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["send_resolved"] is False
    assert changed.json()["settings"]["channel"] == "#ops"
    row = await monitoring.service.get_channel("ops-slack")
    assert row.config.settings.webhook_url == hook  # type: ignore[union-attr]
    result = await http.post("/alerts/channels/ops-slack/test", headers=ADMIN)
    assert result.status_code == 200
    assert result.json()["sent"] is True
    assert slack.messages and "AICCTestNotification" in str(slack.messages[0])


async def test_channel_errors_are_4xx_in_the_common_shape(
    monitoring: Deployment, slack: FakeSlack
) -> None:
    http = monitoring.http
    body = slack_body(slack.hook())
    assert (await http.post("/alerts/channels", json=body, headers=ADMIN)).status_code == 201
    duplicate = await http.post("/alerts/channels", json=body, headers=ADMIN)
    assert duplicate.status_code == 409 and error_code(duplicate) == "channel_exists"
    missing = await http.get("/alerts/channels/nope", headers=ADMIN)
    assert missing.status_code == 404 and error_code(missing) == "channel_not_found"
    bad_type = {"name": "x", "type": "carrier-pigeon", "settings": {}}
    assert (await http.post("/alerts/channels", json=bad_type, headers=ADMIN)).status_code == 422
    no_url = {"name": "x", "type": "slack", "settings": {}}
    assert (await http.post("/alerts/channels", json=no_url, headers=ADMIN)).status_code == 422
    not_json = await http.post(
        "/alerts/channels",
        content=b"{",
        headers={**ADMIN, "content-type": "application/json"},
    )
    assert not_json.status_code == 422 and error_code(not_json) == "invalid_json"
    assert (await http.post("/alerts/channels", json=[1], headers=ADMIN)).status_code == 422
    renamed = await http.put(
        "/alerts/channels/ops-slack", json={**body, "name": "other"}, headers=ADMIN
    )
    assert renamed.status_code == 422 and error_code(renamed) == "name_mismatch"
    unnamed = {k: v for k, v in body.items() if k != "name"}
    put_missing = await http.put("/alerts/channels/nope", json=unnamed, headers=ADMIN)
    assert put_missing.status_code == 404
    deleted = await http.delete("/alerts/channels/nope", headers=ADMIN)
    assert deleted.status_code == 404


async def test_reading_needs_alerts_read_and_changing_alerts_manage(
    monitoring: Deployment, slack: FakeSlack
) -> None:
    http = monitoring.http
    body = slack_body(slack.hook())
    assert (await http.get("/alerts/channels")).status_code == 401
    assert (await http.get("/alerts/channels", headers=VIEWER)).status_code == 403
    assert (await http.get("/alerts/channels", headers=SUPERVISOR)).status_code == 200
    assert (await http.post("/alerts/channels", json=body, headers=SUPERVISOR)).status_code == 403
    assert (await http.post("/alerts/channels", json=body, headers=ADMIN)).status_code == 201
    assert (await http.delete("/alerts/channels/ops-slack", headers=SUPERVISOR)).status_code == 403


async def test_a_channel_a_route_uses_cannot_be_deleted(
    monitoring: Deployment, receiver: FakeReceiver
) -> None:
    http = monitoring.http
    hook = {"name": "hook", "type": "webhook", "settings": {"url": f"{receiver.url}/am"}}
    assert (await http.post("/alerts/channels", json=hook, headers=ADMIN)).status_code == 201
    routing = {"route": {"receiver": "hook", "group_by": ["alertname"]}}
    assert (await http.put("/alerts/routing", json=routing, headers=ADMIN)).status_code == 200
    refused = await http.delete("/alerts/channels/hook", headers=ADMIN)
    assert refused.status_code == 409 and error_code(refused) == "channel_in_use"
    reset = {"route": {"group_by": ["alertname"]}}
    assert (await http.put("/alerts/routing", json=reset, headers=ADMIN)).status_code == 200
    assert (await http.delete("/alerts/channels/hook", headers=ADMIN)).status_code == 204
    assert (await http.get("/alerts/channels/hook", headers=ADMIN)).status_code == 404


async def test_a_failed_test_send_is_reported_not_raised(
    monitoring: Deployment, slack: FakeSlack
) -> None:
    gone = slack.hook().replace("/services/T", "/services/X")
    body = slack_body(gone)
    assert (
        await monitoring.http.post("/alerts/channels", json=body, headers=ADMIN)
    ).status_code == 201
    result = await monitoring.http.post("/alerts/channels/ops-slack/test", headers=ADMIN)
    assert result.status_code == 200
    assert result.json()["sent"] is False
    assert result.json()["status"] == 404
    assert result.json()["retryable"] is False


async def test_a_destination_the_guard_refuses_is_a_422(monitoring: Deployment) -> None:
    metadata = "http://169.254.169.254/services/T1/B1/secret"
    refused = await monitoring.http.post(
        "/alerts/channels", json=slack_body(metadata), headers=ADMIN
    )
    assert refused.status_code == 422
    assert error_code(refused) == "url_not_allowed"
    assert "secret" not in refused.text
