"""Alertmanager's webhook receiver protocol (``notify/webhook``), so receivers written for
Alertmanager work unchanged: version ``"4"``, Go's JSON field order and time format,
``max_alerts`` truncation counted in ``truncatedAlerts``. 2xx is success; 408, 429 and 5xx
are retried (honouring ``Retry-After``); other answers are terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from aicc.monitoring.channels.base import ChannelContext, http_failure, post_json
from aicc.monitoring.channels.models import WebhookSettings
from aicc.monitoring.channels.notification import AlertItem, Notification, go_time

VERSION = "4"


def _kv(values: Mapping[str, str]) -> dict[str, str]:
    """Go marshals a map with its keys sorted."""
    return dict(sorted(values.items()))


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first, *rest = maps
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in rest)}


def _alert(alert: AlertItem) -> dict[str, Any]:
    return {
        "status": alert.status,
        "labels": _kv(alert.labels),
        "annotations": _kv(alert.annotations),
        "startsAt": go_time(alert.starts_at),
        "endsAt": go_time(alert.ends_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def webhook_payload(notification: Notification, max_alerts: int = 0) -> dict[str, Any]:
    """The body Alertmanager posts to a webhook receiver.

    With ``max_alerts`` > 0 only the first ``max_alerts`` alerts are kept, and, as in
    Alertmanager, ``status``, ``commonLabels`` and ``commonAnnotations`` describe the kept
    alerts; ``truncatedAlerts`` adds the dropped ones to ``notification.truncated_alerts``.
    """
    alerts = notification.alerts
    status: str = notification.status
    common_labels = notification.common_labels
    common_annotations = notification.common_annotations
    truncated = notification.truncated_alerts
    if 0 < max_alerts < len(alerts):
        truncated += len(alerts) - max_alerts
        alerts = alerts[:max_alerts]
        status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
        common_labels = _common([a.labels for a in alerts])
        common_annotations = _common([a.annotations for a in alerts])
    return {
        "receiver": notification.receiver,
        "status": status,
        "alerts": [_alert(a) for a in alerts],
        "groupLabels": _kv(notification.group_labels),
        "commonLabels": _kv(common_labels),
        "commonAnnotations": _kv(common_annotations),
        "externalURL": notification.external_url,
        "version": VERSION,
        "groupKey": notification.group_key,
        "truncatedAlerts": truncated,
    }


async def send_webhook(
    ctx: ChannelContext,
    settings: WebhookSettings,
    notification: Notification,
    secrets: list[str],
) -> dict[str, Any]:
    body = orjson.dumps(webhook_payload(notification, settings.max_alerts))
    response = await post_json(ctx, "webhook", settings.url, body, secrets, settings.headers)
    if not response.is_success:
        raise http_failure("webhook", response, secrets)
    return {"status_code": response.status_code}
