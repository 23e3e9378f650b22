"""Slack incoming webhooks: ``text`` (the notification line) and one attachment coloured by
status and severity holding Block Kit sections, one per alert.

Slack answers 200 ``ok``; 400/403/404/410 with a short code (``invalid_payload``,
``no_service``, ``channel_is_archived``) are terminal, 429 (with ``Retry-After``) and 5xx are
retried. A 200 whose body is neither ``ok`` nor ``{"ok": true}`` is an error, as in
Alertmanager.
"""

from __future__ import annotations

from typing import Any

import orjson

from aicc.monitoring.channels.base import ChannelContext, http_failure, post_json
from aicc.monitoring.channels.models import SlackSettings
from aicc.monitoring.channels.notification import AlertItem, Notification, subject
from aicc.monitoring.channels.render import (
    hidden_count,
    label_text,
    ordered,
    other_annotations,
    truncate,
    when,
)

SHOWN_ALERTS = 10
"""Alerts spelled out (two blocks each, well under Slack's 50 blocks)."""
SECTION_LIMIT = 3000
CONTEXT_LIMIT = 2000
_EMOJI = {"firing": ":fire:", "resolved": ":white_check_mark:"}
_RANK = {"critical": 3, "error": 3, "warning": 2}


def escape(text: str) -> str:
    """Slack's mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    safe = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    return f"<{safe}|{escape(label)}>"


def colour(notification: Notification) -> str:
    if notification.status == "resolved":
        return "good"
    rank = max(
        (_RANK.get(a.labels.get("severity", "").lower(), 1) for a in notification.firing), default=1
    )
    return {3: "danger", 2: "warning"}.get(rank, "#439FE0")


def _alert_blocks(alert: AlertItem) -> list[dict[str, Any]]:
    head = f"{_EMOJI[alert.status]} *{escape(alert.name or 'alert')}*"
    if severity := alert.labels.get("severity"):
        head += f" `{escape(severity)}`"
    lines = [f"{head} {escape(when(alert))}"]
    for key in ("summary", "description"):
        if alert.annotations.get(key):
            lines.append(escape(alert.annotations[key]))
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate("\n".join(lines), SECTION_LIMIT)},
        }
    ]
    details = [
        f"{escape(k)}: {escape(v)}" for k, v in other_annotations(alert) if k != "runbook_url"
    ]
    if labels := label_text(alert):
        details.append(escape(labels))
    if runbook := alert.annotations.get("runbook_url"):
        details.append(link(runbook, "Runbook"))
    if alert.generator_url:
        details.append(link(alert.generator_url, "Source"))
    if details:
        text = truncate(" · ".join(details), CONTEXT_LIMIT)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
    return blocks


def slack_message(settings: SlackSettings, notification: Notification) -> dict[str, Any]:
    """The webhook body."""
    line = f"{_EMOJI[notification.status]} {subject(notification)}"
    heading = escape(subject(notification))
    if notification.external_url:
        heading = link(notification.external_url, subject(notification))
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(f"*{heading}*", SECTION_LIMIT)},
        }
    ]
    alerts = ordered(notification)[:SHOWN_ALERTS]
    for alert in alerts:
        blocks += _alert_blocks(alert)
    if more := hidden_count(notification, len(alerts)):
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"… and {more} more alerts"}],
            }
        )
    message: dict[str, Any] = {
        "text": line,
        "attachments": [{"color": colour(notification), "fallback": line, "blocks": blocks}],
    }
    if settings.channel:
        message["channel"] = settings.channel
    if settings.username:
        message["username"] = settings.username
    return message


async def send_slack(
    ctx: ChannelContext, settings: SlackSettings, notification: Notification, secrets: list[str]
) -> dict[str, Any]:
    body = orjson.dumps(slack_message(settings, notification))
    response = await post_json(ctx, "Slack", settings.webhook_url, body, secrets)
    if not response.is_success:
        raise http_failure("Slack", response, secrets)
    text = response.text.strip()
    if text == "ok":
        return {"status_code": response.status_code}
    try:
        answer = orjson.loads(text)
    except orjson.JSONDecodeError:
        answer = None
    if isinstance(answer, dict) and answer.get("ok") is True:
        return {"status_code": response.status_code}
    raise http_failure("Slack", response, secrets, detail=text or "an empty answer, not ok")
