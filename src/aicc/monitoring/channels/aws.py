"""Amazon SNS (a topic's e-mail and SMS subscribers) and Amazon SES v2 (e-mail), through the
service's AWS client factory.

The clients already retry throttling and transient errors (botocore's adaptive mode,
``AICC_AWS_MAX_ATTEMPTS``); what still fails becomes a :class:`ChannelError`: throttling,
5xx and network trouble retryable, anything else (a missing topic, an unverified sender,
refused permissions) terminal.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
    TokenRetrievalError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from botocore.parsers import ResponseParserError

from aicc.monitoring.channels.base import ChannelContext, ChannelError
from aicc.monitoring.channels.models import SesSettings, SnsSettings, email_address
from aicc.monitoring.channels.notification import (
    Notification,
    dedup_key,
    state_key,
    subject,
)
from aicc.monitoring.channels.render import html_body, short_text, text_body, truncate

SNS_SUBJECT_LIMIT = 99
"""SNS: "must be less than 100 characters", ASCII, no line breaks or control characters."""
SNS_MESSAGE_BYTES = 250_000
"""Under SNS's 256 KiB per message, for the JSON envelope and the SMS variant."""
SMS_CHARS = 140
SES_SUBJECT_CHARS = 400
CHARSET = "UTF-8"
_THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "Throttled",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "KMSThrottlingException",
    }
)
_TRANSIENT = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalErrorException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def ascii_subject(text: str) -> str:
    """``text`` as SNS takes a subject: ASCII (accents dropped, other letters as ``?``), one
    line, under 100 characters."""
    flat = unicodedata.normalize("NFKD", text)
    flat = "".join(c for c in flat if not unicodedata.combining(c))
    flat = "".join(
        c if c.isascii() and c.isprintable() else ("?" if c.isprintable() else " ") for c in flat
    )
    flat = re.sub(r"\?+", "?", " ".join(flat.split()))
    if len(flat) > SNS_SUBJECT_LIMIT:
        flat = flat[: SNS_SUBJECT_LIMIT - 3] + "..."
    return flat or "Alert"


def _fit(text: str, limit: int) -> str:
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 40].decode(errors="ignore") + "\n... (message truncated)\n"


def sns_publish_request(settings: SnsSettings, notification: Notification) -> dict[str, Any]:
    """The ``Publish`` arguments: the full text for e-mail (``default``), one line for SMS."""
    message = {
        "default": _fit(text_body(notification), SNS_MESSAGE_BYTES),
        "sms": short_text(notification, SMS_CHARS),
    }
    attributes = {
        "status": {"DataType": "String", "StringValue": notification.status},
        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
    }
    if severity := notification.common_labels.get("severity"):
        attributes["severity"] = {"DataType": "String", "StringValue": severity}
    request: dict[str, Any] = {
        "TopicArn": settings.topic_arn,
        "Subject": ascii_subject(subject(notification)),
        "Message": orjson.dumps(message).decode(),
        "MessageStructure": "json",
        "MessageAttributes": attributes,
    }
    if settings.topic_arn.endswith(".fifo"):
        request["MessageGroupId"] = dedup_key(notification)
        request["MessageDeduplicationId"] = state_key(notification)
    return request


def ses_email_request(settings: SesSettings, notification: Notification) -> dict[str, Any]:
    """The SES v2 ``SendEmail`` arguments: UTF-8 subject, text and HTML bodies."""
    sender = email_address(settings.from_)
    assert sender is not None
    recipients = [a for a in (email_address(t) for t in settings.to) if a is not None]
    title = truncate(" ".join(subject(notification).split()), SES_SUBJECT_CHARS)
    return {
        "FromEmailAddress": sender,
        "Destination": {"ToAddresses": recipients},
        "Content": {
            "Simple": {
                "Subject": {"Data": title, "Charset": CHARSET},
                "Body": {
                    "Text": {"Data": text_body(notification), "Charset": CHARSET},
                    "Html": {"Data": html_body(notification), "Charset": CHARSET},
                },
            }
        },
    }


def aws_failure(exc: ClientError, what: str) -> ChannelError:
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    code = str(error.get("Code") or "UnknownError")
    message = str(error.get("Message") or code)
    status = meta.get("HTTPStatusCode")
    status = status if isinstance(status, int) else None
    retry = (
        code in _THROTTLED
        or code in _TRANSIENT
        or "rate exceeded" in message.lower()
        or (status is not None and (status == 429 or status >= 500))
    )
    return ChannelError(f"{what} failed: {code}: {message}", retryable=retry, status=status)


async def _call(
    ctx: ChannelContext,
    service: str,
    region: str | None,
    what: str,
    operation: Callable[[Any], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    try:
        client = await ctx.aws_client(service, region)
        return await operation(client)
    except ClientError as exc:
        raise aws_failure(exc, what) from None
    except (
        NoCredentialsError,
        PartialCredentialsError,
        CredentialRetrievalError,
        TokenRetrievalError,
    ) as exc:
        raise ChannelError(
            f"{what}: AWS credentials are missing or unusable ({type(exc).__name__})",
            retryable=True,
        ) from None
    except (ReadTimeoutError, BotoConnectionError, HTTPClientError, ResponseParserError) as exc:
        raise ChannelError(
            f"{what}: AWS unreachable ({type(exc).__name__})", retryable=True
        ) from None
    except BotoCoreError as exc:
        raise ChannelError(f"{what}: {exc}") from None


async def send_sns(
    ctx: ChannelContext, settings: SnsSettings, notification: Notification
) -> dict[str, Any]:
    request = sns_publish_request(settings, notification)
    answer = await _call(
        ctx, "sns", settings.topic_region, "SNS Publish", lambda c: c.publish(**request)
    )
    return {"message_id": answer["MessageId"]}


async def send_ses(
    ctx: ChannelContext, settings: SesSettings, notification: Notification
) -> dict[str, Any]:
    request = ses_email_request(settings, notification)
    answer = await _call(
        ctx, "sesv2", settings.region, "SES SendEmail", lambda c: c.send_email(**request)
    )
    return {"message_id": answer["MessageId"]}
