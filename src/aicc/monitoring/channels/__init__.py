"""Notification channels: Slack, PagerDuty Events v2, Amazon SNS, Amazon SES and
Alertmanager-compatible webhooks.

- :func:`parse_channel_config` checks a channel body (422 naming each bad field);
  :func:`check_channel_urls` applies the request-forgery guard to its URLs at submission;
  :func:`masked` is what responses show; :func:`restore_masked` keeps secrets a client sent
  back masked; :meth:`ChannelConfig.to_dict` is the form to persist (seal it: it has secrets).
- :func:`send` delivers one :class:`Notification` through one channel, or raises
  :class:`ChannelError` saying whether a retry can help and how long the provider asked to
  wait. Nothing here keeps state, runs in the background or retries on its own: the caller's
  job does.
"""

from aicc.monitoring.channels.base import (
    AwsClientFactory,
    ChannelContext,
    ChannelError,
    SendResult,
)
from aicc.monitoring.channels.models import (
    MASK,
    PAGERDUTY_EVENTS_URL,
    SECRET_FIELDS,
    ChannelConfig,
    ChannelSettings,
    ChannelType,
    PagerDutySettings,
    SesSettings,
    SlackSettings,
    SnsSettings,
    WebhookSettings,
    check_channel_urls,
    masked,
    parse_channel_config,
    restore_masked,
)
from aicc.monitoring.channels.notification import (
    AlertItem,
    Notification,
    dedup_key,
    state_key,
    subject,
)
from aicc.monitoring.channels.send import for_channel, send
from aicc.monitoring.channels.webhook import webhook_payload

__all__ = [
    "MASK",
    "PAGERDUTY_EVENTS_URL",
    "SECRET_FIELDS",
    "AlertItem",
    "AwsClientFactory",
    "ChannelConfig",
    "ChannelContext",
    "ChannelError",
    "ChannelSettings",
    "ChannelType",
    "Notification",
    "PagerDutySettings",
    "SendResult",
    "SesSettings",
    "SlackSettings",
    "SnsSettings",
    "WebhookSettings",
    "check_channel_urls",
    "dedup_key",
    "for_channel",
    "masked",
    "parse_channel_config",
    "restore_masked",
    "send",
    "state_key",
    "subject",
    "webhook_payload",
]
