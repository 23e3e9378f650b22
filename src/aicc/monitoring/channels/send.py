"""One entry point for every channel type: :func:`send`."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from aicc.monitoring.channels.aws import send_ses, send_sns
from aicc.monitoring.channels.base import ChannelContext, ChannelError, SendResult
from aicc.monitoring.channels.models import (
    ChannelConfig,
    PagerDutySettings,
    SesSettings,
    SlackSettings,
    SnsSettings,
    WebhookSettings,
)
from aicc.monitoring.channels.notification import Notification
from aicc.monitoring.channels.pagerduty import send_pagerduty
from aicc.monitoring.channels.redaction import secret_strings
from aicc.monitoring.channels.slack import send_slack
from aicc.monitoring.channels.webhook import send_webhook

logger = logging.getLogger("aicc.monitoring.channels")


def for_channel(config: ChannelConfig, notification: Notification) -> Notification | None:
    """What the channel is sent: without ``send_resolved`` its resolved alerts are left out
    (and nothing is sent when no alert is left), as Alertmanager does."""
    if config.send_resolved:
        return notification
    firing = notification.firing
    if not firing:
        return None
    return replace(notification, status="firing", alerts=firing)


async def send(
    config: ChannelConfig, notification: Notification, ctx: ChannelContext
) -> SendResult:
    """Deliver ``notification`` through the channel ``config``.

    Raises :class:`ChannelError` (``retryable``, ``retry_after``) when the provider did not
    accept it; its message names the provider and the reason, never a secret.
    """
    outgoing = for_channel(config, notification)
    if outgoing is None:
        return SendResult(
            config.name,
            config.type,
            sent=False,
            alerts=0,
            detail={"skipped": "only resolved alerts and send_resolved is false"},
        )
    secrets = secret_strings(config)
    settings = config.settings
    try:
        detail: dict[str, Any]
        if isinstance(settings, SlackSettings):
            detail = await send_slack(ctx, settings, outgoing, secrets)
        elif isinstance(settings, PagerDutySettings):
            detail = await send_pagerduty(ctx, settings, outgoing, secrets)
        elif isinstance(settings, SnsSettings):
            detail = await send_sns(ctx, settings, outgoing)
        elif isinstance(settings, SesSettings):
            detail = await send_ses(ctx, settings, outgoing)
        elif isinstance(settings, WebhookSettings):
            detail = await send_webhook(ctx, settings, outgoing, secrets)
        else:  # pragma: no cover - ChannelConfig admits no other settings
            raise ChannelError(f"channel type {config.type} cannot send")
    except ChannelError as exc:
        logger.warning(
            "notification not delivered",
            extra={
                "metadata": {
                    "channel": config.name,
                    "type": config.type,
                    "group_key": notification.group_key,
                    "error": exc.message,
                    "retryable": exc.retryable,
                }
            },
        )
        raise
    logger.info(
        "notification delivered",
        extra={
            "metadata": {
                "channel": config.name,
                "type": config.type,
                "status": outgoing.status,
                "alerts": len(outgoing.alerts),
            }
        },
    )
    return SendResult(
        config.name, config.type, sent=True, alerts=len(outgoing.alerts), detail=detail
    )
