"""PagerDuty Events API v2, as Alertmanager drives it: ``trigger`` while any alert of the
group fires, ``resolve`` once all are resolved, both with ``dedup_key`` = sha256 of the group
key, so the resolve closes the incident the trigger opened and a repeated trigger updates it.

PagerDuty answers 202; a 400 (``invalid event``) is terminal; 429 and 5xx are retried,
honouring ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

import orjson

from aicc.monitoring.channels.base import ChannelContext, http_failure, post_json
from aicc.monitoring.channels.models import PagerDutySettings
from aicc.monitoring.channels.notification import (
    AlertItem,
    Notification,
    dedup_key,
    go_time,
    subject,
)
from aicc.monitoring.channels.render import ordered, truncate

CLIENT = "AICC Monitoring"
MAX_SUMMARY = 1024
MAX_EVENT_BYTES = 512_000
"""PagerDuty refuses a larger event; custom details are dropped first, as Alertmanager does."""
MAX_LINKS = 10
DEFAULT_SEVERITY = "error"
_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}


def severity(settings: PagerDutySettings, notification: Notification) -> str:
    """The highest severity of the firing alerts (of all, when none fires), each alert's
    ``severity`` label mapped through ``settings.severity``."""
    mapping = settings.severity or {}
    found = []
    for alert in notification.firing or notification.alerts:
        label = alert.labels.get("severity", "").lower()
        found.append(mapping.get(label) or (label if label in _RANK else DEFAULT_SEVERITY))
    return max(found, key=_RANK.__getitem__, default=DEFAULT_SEVERITY)


def _alert(alert: AlertItem) -> dict[str, Any]:
    return {
        "labels": dict(sorted(alert.labels.items())),
        "annotations": dict(sorted(alert.annotations.items())),
        "starts_at": go_time(alert.starts_at),
        "ends_at": go_time(alert.ends_at) if alert.ends_at is not None else None,
        "generator_url": alert.generator_url,
    }


def _links(notification: Notification) -> list[dict[str, str]]:
    links: dict[str, str] = {}
    for alert in ordered(notification):
        runbook = alert.annotations.get("runbook_url", "")
        for href, text in ((alert.generator_url, "Source"), (runbook, "Runbook")):
            if href.startswith(("http://", "https://")) and href not in links:
                links[href] = f"{text}: {alert.name}" if alert.name else text
    return [{"href": h, "text": t} for h, t in list(links.items())[:MAX_LINKS]]


def pagerduty_event(settings: PagerDutySettings, notification: Notification) -> dict[str, Any]:
    """The Events API v2 body."""
    key = dedup_key(notification)
    if notification.status == "resolved":
        return {"routing_key": settings.routing_key, "event_action": "resolve", "dedup_key": key}
    summary = subject(notification)
    firing = notification.firing
    if len(firing) == 1 and (detail := firing[0].annotations.get("summary")):
        summary += f": {detail}"
    common = notification.common_labels
    payload: dict[str, Any] = {
        "summary": truncate(" ".join(summary.split()), MAX_SUMMARY),
        "source": common.get("instance") or common.get("service") or CLIENT,
        "severity": severity(settings, notification),
        "timestamp": go_time(min(a.starts_at for a in firing)) if firing else None,
        "custom_details": {
            "num_firing": len(firing),
            "num_resolved": len(notification.resolved),
            "truncated_alerts": notification.truncated_alerts,
            "group_labels": dict(sorted(notification.group_labels.items())),
            "common_labels": dict(sorted(common.items())),
            "common_annotations": dict(sorted(notification.common_annotations.items())),
            "firing": [_alert(a) for a in firing],
            "resolved": [_alert(a) for a in notification.resolved],
        },
    }
    for field, label in (("class", "alertname"), ("component", "service"), ("group", "job")):
        if common.get(label):
            payload[field] = common[label]
    if payload["timestamp"] is None:
        del payload["timestamp"]
    event: dict[str, Any] = {
        "routing_key": settings.routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": payload,
        "client": CLIENT,
    }
    if notification.external_url.startswith(("http://", "https://")):
        event["client_url"] = notification.external_url
    if links := _links(notification):
        event["links"] = links
    if len(orjson.dumps(event)) > MAX_EVENT_BYTES:
        payload["custom_details"] = {
            "num_firing": len(firing),
            "num_resolved": len(notification.resolved),
            "note": "details dropped: the event exceeded PagerDuty's 512 KB limit",
        }
    return event


async def send_pagerduty(
    ctx: ChannelContext,
    settings: PagerDutySettings,
    notification: Notification,
    secrets: list[str],
) -> dict[str, Any]:
    event = pagerduty_event(settings, notification)
    response = await post_json(ctx, "PagerDuty", settings.url, orjson.dumps(event), secrets)
    answer: Any = None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.is_success:
        key = answer.get("dedup_key") if isinstance(answer, dict) else None
        return {
            "status_code": response.status_code,
            "event_action": event["event_action"],
            "dedup_key": key or event["dedup_key"],
        }
    detail = None
    if isinstance(answer, dict) and (answer.get("errors") or answer.get("message")):
        errors = answer.get("errors")
        parts = [str(answer.get("message") or "")]
        if isinstance(errors, list):
            parts += [str(e) for e in errors]
        detail = "; ".join(p for p in parts if p)
    raise http_failure("PagerDuty", response, secrets, detail=detail)
