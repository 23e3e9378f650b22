"""Keeping secrets out of error messages and logs: the strings to scrub and the scrubbing."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from aicc.monitoring.channels.models import (
    MASK,
    ChannelConfig,
    PagerDutySettings,
    SlackSettings,
    WebhookSettings,
)


def secret_strings(config: ChannelConfig) -> list[str]:
    """Every secret value and the path segments and query values of secret URLs: text that
    must not appear in an error message or a log line."""
    found: list[str] = []
    settings = config.settings
    values: list[str] = []
    if isinstance(settings, SlackSettings):
        values = [settings.webhook_url]
    elif isinstance(settings, PagerDutySettings):
        values = [settings.routing_key]
    elif isinstance(settings, WebhookSettings):
        values = [settings.url, *settings.headers.values()]
    for value in values:
        found.append(value)
        if value.startswith(("http://", "https://")):
            parts = urlsplit(value)
            found += [s for s in parts.path.split("/") if len(s) >= 6]
            found += [v for _, v in parse_qsl(parts.query) if len(v) >= 6]
        else:
            found += [w for w in value.split() if len(w) >= 6]
    return sorted(set(found), key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
