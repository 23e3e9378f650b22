"""Channel configuration: ``{"name", "type", "settings", "send_resolved"}``, settings checked
per type, secrets masked for display.

:func:`parse_channel_config` is the entry point for untrusted input (a 422 naming each bad
field); :meth:`ChannelConfig.to_dict` is the plain form to persist (with secrets: seal it).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from aicc.core.config import Settings
from aicc.core.errors import ValidationFailed
from aicc.core.outgoing import HostResolver, check_user_url

ChannelType = Literal["slack", "pagerduty", "sns", "ses", "webhook"]
PagerDutySeverity = Literal["critical", "error", "warning", "info"]
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
MASK = "***"
MAX_SES_RECIPIENTS = 50
"""SES refuses a message with more than 50 recipients."""

CHANNEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
_REGION = re.compile(r"[a-z]{2,5}(-[a-z]+)+-\d+")
_TOPIC_ARN = re.compile(r"arn:aws[\w-]*:sns:([a-z]{2,5}(?:-[a-z]+)+-\d+):\d{12}:[\w-]{1,256}")
_SLACK_CHANNEL = re.compile(r"[#@]?[\w.-]{1,80}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "te", "upgrade"}
)
_ROUTING_KEY = re.compile(r"\S{1,255}")


def _url(value: str) -> str:
    """An absolute http(s) URL; the message never repeats the value (it may hold a token)."""
    if len(value) > 2048 or any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError("must be an http or https URL of at most 2048 characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018
    except ValueError:
        raise ValueError("must be an http or https URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https URL")
    return value


def _aws_region(value: str | None) -> str | None:
    if value is not None and not _REGION.fullmatch(value):
        raise ValueError("must be an AWS region such as ap-northeast-2")
    return value


def email_address(text: str) -> str | None:
    """``text`` as one address SES takes (a display name RFC 2047-encoded, the domain in
    IDNA), or None when it is not one e-mail address."""
    if "\r" in text or "\n" in text:
        return None
    name, addr = email.utils.parseaddr(text)
    local, at, domain = addr.rpartition("@")
    if not at or not local or "." not in domain or not local.isascii() or " " in addr:
        return None
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if not name:
        return f"{local}@{domain}"
    return email.utils.formataddr((name, f"{local}@{domain}"), charset="utf-8")


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlackSettings(_Settings):
    """An incoming webhook; ``channel`` and ``username`` only matter to legacy webhooks (a
    Slack app's webhook posts to its own channel)."""

    webhook_url: str = Field(repr=False)
    channel: str | None = None
    username: str | None = Field(None, min_length=1, max_length=80)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        return _url(value)

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not _SLACK_CHANNEL.fullmatch(value):
            raise ValueError("must be a channel such as #alerts, a user such as @kim, or an id")
        return value


class PagerDutySettings(_Settings):
    """Events API v2. ``severity`` maps an alert's ``severity`` label (any case) to
    PagerDuty's severity; unmapped labels use the same name when PagerDuty has it, else
    ``error`` (Alertmanager's default)."""

    url: str = PAGERDUTY_EVENTS_URL
    routing_key: str = Field(repr=False)
    severity: dict[str, PagerDutySeverity] | None = None

    @field_validator("url")
    @classmethod
    def _events_url(cls, value: str) -> str:
        return _url(value)

    @field_validator("routing_key")
    @classmethod
    def _routing_key(cls, value: str, info: ValidationInfo) -> str:
        if not _ROUTING_KEY.fullmatch(value):
            raise ValueError("must be 1 to 255 characters without spaces")
        if info.data.get("url") == PAGERDUTY_EVENTS_URL and len(value) != 32:
            raise ValueError("must be the 32-character integration key of a PagerDuty service")
        return value

    @field_validator("severity")
    @classmethod
    def _severity(
        cls, value: dict[str, PagerDutySeverity] | None
    ) -> dict[str, PagerDutySeverity] | None:
        return None if value is None else {k.lower(): v for k, v in value.items()}


class SnsSettings(_Settings):
    """A topic; its e-mail and SMS subscribers receive the alert. ``region`` defaults to the
    topic's own (from its ARN)."""

    topic_arn: str
    region: str | None = None

    @field_validator("topic_arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        if not _TOPIC_ARN.fullmatch(value.removesuffix(".fifo")):
            raise ValueError("must be an SNS topic ARN such as arn:aws:sns:REGION:ACCOUNT:NAME")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return _aws_region(value)

    @property
    def topic_region(self) -> str:
        if self.region:
            return self.region
        match = _TOPIC_ARN.fullmatch(self.topic_arn.removesuffix(".fifo"))
        assert match is not None
        return match.group(1)


class SesSettings(_Settings):
    """SES v2 from a verified identity; ``region`` defaults to ``AWS_REGION``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1, max_length=MAX_SES_RECIPIENTS)
    region: str | None = None

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return _aws_region(value)

    @field_validator("from_")
    @classmethod
    def _from(cls, value: str) -> str:
        if email_address(value) is None:
            raise ValueError("must be an e-mail address such as alerts@example.com")
        return value

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        bad = [i for i, item in enumerate(value) if email_address(item) is None]
        if bad:
            raise ValueError(f"entries {bad} are not e-mail addresses")
        return value


class WebhookSettings(_Settings):
    """Alertmanager's webhook JSON to ``url``; ``headers`` (for example ``Authorization``)
    go with every request; ``max_alerts`` > 0 truncates the alert list."""

    url: str = Field(repr=False)
    headers: dict[str, str] = Field(default_factory=dict, repr=False, max_length=20)
    max_alerts: int = Field(0, ge=0)

    @field_validator("url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        return _url(value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError("header names must be HTTP tokens")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"the {name} header is set by the sender")
            if len(text) > 8192 or any(ord(c) < 32 and c != "\t" for c in text):
                raise ValueError(f"the {name} header value must be one line")
        return value


ChannelSettings: TypeAlias = (
    SlackSettings | PagerDutySettings | SnsSettings | SesSettings | WebhookSettings
)
SETTINGS_MODELS: dict[str, type[_Settings]] = {
    "slack": SlackSettings,
    "pagerduty": PagerDutySettings,
    "sns": SnsSettings,
    "ses": SesSettings,
    "webhook": WebhookSettings,
}
SECRET_FIELDS: dict[str, frozenset[str]] = {
    "slack": frozenset({"webhook_url"}),
    "pagerduty": frozenset({"routing_key"}),
    "sns": frozenset(),
    "ses": frozenset(),
    "webhook": frozenset({"url", "headers"}),
}
"""Per type, the settings that are secret (for ``headers``: every value)."""


class ChannelConfig(BaseModel):
    """A notification channel. ``settings`` is checked against ``type``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=CHANNEL_NAME_PATTERN)
    type: ChannelType
    settings: ChannelSettings
    send_resolved: bool = True

    @field_validator("settings", mode="wrap")
    @classmethod
    def _settings(
        cls, value: Any, _handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        model = SETTINGS_MODELS.get(info.data.get("type", ""))
        if model is None:
            return value
        if isinstance(value, model):
            return value
        if isinstance(value, BaseModel):
            value = value.model_dump(by_alias=True)
        return model.model_validate(value)

    def to_dict(self) -> dict[str, Any]:
        """The plain JSON form, secrets included (``ses`` settings use the key ``from``)."""
        return self.model_dump(mode="json", by_alias=True)


def parse_channel_config(data: Any) -> ChannelConfig:
    """Check an untrusted channel body; a 422 ``ValidationFailed`` names each bad field
    (``settings.webhook_url``) and never repeats a submitted value."""
    try:
        return ChannelConfig.model_validate(data)
    except ValidationError as exc:
        details = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        fields = ", ".join(dict.fromkeys(".".join(str(p) for p in d["loc"]) for d in details))
        raise ValidationFailed(f"Invalid channel: {fields}", details=details) from None


async def check_channel_urls(
    config: ChannelConfig, settings: Settings, *, resolver: HostResolver | None = None
) -> None:
    """Refuse (422 ``url_not_allowed``) a URL the request-forgery guard would block, when the
    channel is submitted rather than at its first alert."""
    for name in ("webhook_url", "url"):
        url = getattr(config.settings, name, None)
        if isinstance(url, str):
            await check_user_url(url, settings, resolver=resolver, field=f"settings.{name}")


def mask_url(url: str) -> str:
    """Scheme, host and the first path segment; of the next one its first character only
    (``https://hooks.slack.com/services/T…/***``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    segments = [s for s in parts.path.split("/") if s]
    shown = f"{parts.scheme}://{host}"
    if len(segments) >= 3:
        shown += f"/{segments[0]}/{segments[1][:1]}…"
    elif len(segments) == 2:
        shown += f"/{segments[0]}"
    return shown + "/" + MASK


def mask_token(token: str) -> str:
    """``***`` and the last four characters of a long token (enough to tell keys apart)."""
    return MASK + token[-4:] if len(token) >= 20 else MASK


def masked(config: ChannelConfig) -> dict[str, Any]:
    """The channel as responses show it: each secret is marked as set, never shown whole."""
    shown = config.to_dict()
    settings = shown["settings"]
    if isinstance(config.settings, SlackSettings):
        settings["webhook_url"] = mask_url(config.settings.webhook_url)
    elif isinstance(config.settings, PagerDutySettings):
        settings["routing_key"] = mask_token(config.settings.routing_key)
    elif isinstance(config.settings, WebhookSettings):
        settings["url"] = mask_url(config.settings.url)
        settings["headers"] = dict.fromkeys(config.settings.headers, MASK)
    return shown


def restore_masked(data: Mapping[str, Any], current: ChannelConfig) -> dict[str, Any]:
    """A submitted body in which each secret still shown masked (as :func:`masked` gave it,
    or ``***``) is replaced by ``current``'s value: a client can send back what it read and
    change only what it means to."""
    body = dict(data)
    settings = body.get("settings")
    if body.get("type", current.type) != current.type or not isinstance(settings, Mapping):
        return body
    settings = dict(settings)
    old_shown = masked(current)["settings"]
    old = current.to_dict()["settings"]
    for name in SECRET_FIELDS[current.type]:
        if name not in settings or name not in old:
            continue
        if name == "headers" and isinstance(settings[name], Mapping):
            settings[name] = {
                k: (old[name][k] if v == MASK and k in old[name] else v)
                for k, v in settings[name].items()
            }
        elif settings[name] in (MASK, old_shown[name]):
            settings[name] = old[name]
    body["settings"] = settings
    return body
