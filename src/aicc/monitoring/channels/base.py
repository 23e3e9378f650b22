"""What every sender shares: its context, its result, its one error, and the HTTP call with
the error classification PagerDuty, Slack and webhooks have in common."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from aicc.core.aws import AwsClients
from aicc.core.outgoing import BlockedDestination, describe
from aicc.monitoring.channels.redaction import redact

AwsClientFactory = Callable[[str, str | None], Awaitable[Any]]
"""``(service, region)`` to an aiobotocore client; region None means ``AWS_REGION``."""
USER_AGENT = "AICC-Monitoring/0.1"
_BODY_EXCERPT = 200


@dataclass(frozen=True)
class ChannelContext:
    """What a sender needs from the service. ``http`` must be the guarded client for
    user-supplied URLs (``build_user_url_client``): channel URLs are user input."""

    http: httpx2.AsyncClient
    aws_client: AwsClientFactory

    @classmethod
    def using(cls, http: httpx2.AsyncClient, aws: AwsClients) -> ChannelContext:
        async def client(service: str, region: str | None) -> Any:
            return await aws.client(service, region=region)

        return cls(http=http, aws_client=client)


@dataclass(frozen=True)
class SendResult:
    """A notification the provider accepted, or one not sent (``sent`` false, ``detail``
    saying why: a resolved-only notification to a channel with ``send_resolved`` off)."""

    channel: str
    type: str
    sent: bool
    alerts: int
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "type": self.type,
            "sent": self.sent,
            "alerts": self.alerts,
            "detail": dict(self.detail),
        }


class ChannelError(Exception):
    """A send that failed. ``retryable``: trying again later may succeed (throttling, a
    provider's 5xx, the network); otherwise it never will (a 400, a refused URL).
    ``retry_after``: seconds the provider asked to wait. The message never holds a secret."""

    def __init__(
        self,
        message: str,
        retryable: bool = False,
        retry_after: float | None = None,
        *,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP-date), else None."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retryable_status(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500


async def post_json(
    ctx: ChannelContext,
    provider: str,
    url: str,
    body: bytes,
    secrets: list[str],
    headers: Mapping[str, str] | None = None,
) -> httpx2.Response:
    """POST ``body`` as JSON; a failure to get any answer becomes a :class:`ChannelError`
    that names ``provider`` but never ``url``."""
    sent_headers = httpx2.Headers({"content-type": "application/json", "user-agent": USER_AGENT})
    sent_headers.update(headers or {})
    try:
        return await ctx.http.post(url, content=body, headers=sent_headers)
    except BlockedDestination as exc:
        raise ChannelError(f"{provider}: destination refused: {describe(exc.reason)}") from None
    except (httpx2.UnsupportedProtocol, httpx2.InvalidURL):
        raise ChannelError(f"{provider}: the URL cannot be requested") from None
    except httpx2.TimeoutException:
        raise ChannelError(f"{provider}: no answer in time", retryable=True) from None
    except httpx2.TransportError as exc:
        raise ChannelError(
            f"{provider}: could not be reached ({type(exc).__name__})", retryable=True
        ) from None
    except httpx2.HTTPError as exc:
        message = redact(str(exc), secrets)
        raise ChannelError(
            f"{provider}: request failed ({type(exc).__name__}: {message})"
        ) from None


def http_failure(
    provider: str, response: httpx2.Response, secrets: list[str], detail: str | None = None
) -> ChannelError:
    """The error for a non-success answer: retryable for 408, 425, 429 and 5xx (with the
    provider's ``Retry-After``), terminal otherwise (the request itself is wrong)."""
    if detail is None:
        detail = response.text
    detail = " ".join(redact(detail, secrets).split())[:_BODY_EXCERPT]
    message = f"{provider} answered {response.status_code}"
    if detail:
        message += f": {detail}"
    retry = retryable_status(response.status_code)
    return ChannelError(
        message,
        retryable=retry,
        retry_after=retry_after(response.headers) if retry else None,
        status=response.status_code,
    )
