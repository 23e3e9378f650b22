"""The routing configuration over HTTP: Alertmanager's defaults, JSON and alertmanager.yml
round trips, and the 422s (unknown receivers, bad YAML, bad durations)."""

from __future__ import annotations

import yaml

from tests.integration.support import ADMIN
from tests.monitoring.channels.fakes import FakeReceiver
from tests.monitoring.notify.conftest import Deployment
from tests.recording.support import bearer, error_code

SUPERVISOR = bearer("SUPERVISOR")

ALERTMANAGER_YML = """
global:
  resolve_timeout: 2m
route:
  receiver: slack
  group_by: [alertname, service]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 2h
  routes:
    - receiver: pager
      matchers: ['severity="critical"']
      continue: true
    - receiver: slack
      matchers: ['severity=~"warning|critical"']
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname]
receivers:
  - name: slack
  - name: pager
"""


async def add_hooks(deployment: Deployment, receiver: FakeReceiver, *names: str) -> None:
    for name in names:
        body = {"name": name, "type": "webhook", "settings": {"url": f"{receiver.url}/{name}"}}
        answer = await deployment.http.post("/alerts/channels", json=body, headers=ADMIN)
        assert answer.status_code == 201, answer.text


async def test_the_default_is_alertmanagers(monitoring: Deployment) -> None:
    answer = await monitoring.http.get("/alerts/routing", headers=SUPERVISOR)
    assert answer.status_code == 200
    route = answer.json()["route"]
    assert route["group_by"] == ["alertname"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "30s",
        "5m",
        "4h",
    )
    assert answer.json()["inhibit_rules"] == []


async def test_yaml_in_json_and_yaml_out(monitoring_on: Deployment, receiver: FakeReceiver) -> None:
    http = monitoring_on.http
    await add_hooks(monitoring_on, receiver, "slack", "pager")
    put = await http.put(
        "/alerts/routing",
        content=ALERTMANAGER_YML,
        headers={**ADMIN, "content-type": "application/yaml"},
    )
    assert put.status_code == 200, put.text
    saved = (await http.get("/alerts/routing", headers=ADMIN)).json()
    assert saved["global"] == {"resolve_timeout": "2m"}
    assert saved["route"]["receiver"] == "slack"
    assert saved["route"]["group_by"] == ["alertname", "service"]
    assert saved["route"]["routes"][0]["continue"] is True
    assert saved["inhibit_rules"][0]["equal"] == ["alertname"]
    as_yaml = await http.get("/alerts/routing", headers={**ADMIN, "accept": "application/yaml"})
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.text)["route"] == saved["route"]
    again = await http.put("/alerts/routing", json=saved, headers=ADMIN)
    assert again.status_code == 200
    assert again.json() == saved
    config = await monitoring_on.service.routing()
    matched = config.match({"alertname": "X", "severity": "critical", "service": "a"})
    assert [m.receiver for m in matched] == ["pager", "slack"]


async def test_bad_configurations_are_422_naming_the_problem(
    monitoring: Deployment, receiver: FakeReceiver
) -> None:
    http = monitoring.http
    await add_hooks(monitoring, receiver, "slack")
    unknown = await http.put("/alerts/routing", json={"route": {"receiver": "nope"}}, headers=ADMIN)
    assert unknown.status_code == 422 and error_code(unknown) == "unknown_receiver"
    yaml_headers = {**ADMIN, "content-type": "application/yaml"}
    broken = await http.put("/alerts/routing", content="route: [", headers=yaml_headers)
    assert broken.status_code == 422 and error_code(broken) == "invalid_yaml"
    bad_duration = {"route": {"receiver": "slack", "group_wait": "soon"}}
    answer = await http.put("/alerts/routing", json=bad_duration, headers=ADMIN)
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["loc"] == ["route", "group_wait"]
    bodies: list[object] = [[], {"routes": []}, {"route": {"receiver": "slack"}, "extra": 1}]
    for body in bodies:
        assert (await http.put("/alerts/routing", json=body, headers=ADMIN)).status_code == 422
    not_json = await http.put(
        "/alerts/routing", content=b"nope", headers={**ADMIN, "content-type": "application/json"}
    )
    assert not_json.status_code == 422
    assert (
        await http.put("/alerts/routing", json={"route": {}}, headers=SUPERVISOR)
    ).status_code == 403
    current = (await http.get("/alerts/routing", headers=ADMIN)).json()
    assert current["route"].get("receiver") is None
