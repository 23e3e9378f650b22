"""Amazon SNS: SMS to a phone number and messages to a topic, through the process's one AWS
client factory (``ctx.aws_client("sns")``).

Credentials come from botocore's default chain (environment, shared files, SSO, container or
instance role), never from ``auth_config``; ``auth_config.region`` picks the region. The
client already retries throttling and transient errors (adaptive mode,
``AICC_AWS_MAX_ATTEMPTS``); what still fails is mapped by :func:`aws_error`, which SES shares.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

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
from botocore.parsers import ResponseParserError

from aicc.integration.connectors.args import CheckedMethod, invalid
from aicc.integration.connectors.base import (
    CallContext,
    Connector,
    IntegrationType,
    Outcome,
    Param,
    ProviderError,
    methods,
)

_REGIONS = """
af-south-1 ap-east-1 ap-east-2 ap-northeast-1 ap-northeast-2 ap-northeast-3 ap-south-1
ap-south-2 ap-southeast-1 ap-southeast-2 ap-southeast-3 ap-southeast-4 ap-southeast-5
ap-southeast-6 ap-southeast-7 ca-central-1 ca-west-1 eu-central-1 eu-central-2 eu-north-1
eu-south-1 eu-south-2 eu-west-1 eu-west-2 eu-west-3 il-central-1 me-central-1 me-south-1
mx-central-1 sa-east-1 us-east-1 us-east-2 us-west-1 us-west-2 us-gov-east-1 us-gov-west-1
""".split()  # noqa: SIM905


def aws_hosts(prefix: str) -> tuple[str, ...]:
    """The regional endpoint hosts of a service (``sns.ap-northeast-2.amazonaws.com``) in the
    regions known when this was written; elsewhere set ``provider`` explicitly."""
    return (
        f"{prefix}.amazonaws.com",
        *(f"{prefix}.{region}.amazonaws.com" for region in _REGIONS),
        f"{prefix}.cn-north-1.amazonaws.com.cn",
        f"{prefix}.cn-northwest-1.amazonaws.com.cn",
    )


THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "Throttled",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "KMSThrottling",
        "KMSThrottlingException",
    }
)
RETRY_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServiceError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClient",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
        "AuthFailure",
    }
)
DAILY_QUOTA_WAIT = 3600.0
"""SES "Daily message quota exceeded": the quota is a rolling 24 h, so wait an hour."""


def aws_error(exc: ClientError, service: str) -> ProviderError:
    """What an AWS error response means for the delivery core."""
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    code = str(error.get("Code") or "UnknownError")
    message = str(error.get("Message") or code)
    status = meta.get("HTTPStatusCode")
    retry_after: float | None = None
    outcome: Outcome
    lowered = message.lower()
    if "daily message quota exceeded" in lowered:
        outcome, retry_after = "throttled", DAILY_QUOTA_WAIT
    elif code in THROTTLE_CODES or "rate exceeded" in lowered or status == 429:
        outcome = "throttled"
    elif code in RETRY_CODES or (isinstance(status, int) and status >= 500):
        outcome = "retryable"
    elif code in CREDENTIAL_CODES:
        outcome = "reauth"
    else:
        outcome = "terminal"
    return ProviderError(
        f"AWS {service}: {message}",
        code=code,
        outcome=outcome,
        status=status if isinstance(status, int) else None,
        retry_after=retry_after,
        details={"request_id": meta.get("RequestId"), "service": service},
    )


async def call_aws(
    ctx: CallContext, service: str, operation: Callable[[Any], Awaitable[Mapping[str, Any]]]
) -> Mapping[str, Any]:
    """Run one operation on the integration's client within the attempt's deadline; every
    failure becomes a :class:`ProviderError`."""
    timeout = max(0.05, ctx.timeout)
    try:
        async with asyncio.timeout(timeout):
            client = await ctx.aws_client(service)
            return await operation(client)
    except ClientError as exc:
        raise aws_error(exc, service) from None
    except (
        NoCredentialsError,
        PartialCredentialsError,
        CredentialRetrievalError,
        TokenRetrievalError,
    ) as exc:
        raise ProviderError(
            f"AWS credentials are missing or unusable: {exc}",
            code="aws_credentials",
            outcome="reauth",
        ) from None
    except (TimeoutError, ReadTimeoutError):
        raise ProviderError(
            f"AWS {service} did not answer within {timeout:.1f}s",
            code="timeout",
            outcome="retryable",
        ) from None
    except HTTPClientError as exc:
        raise ProviderError(
            f"could not reach AWS {service}: {type(exc).__name__}",
            code="network_error",
            outcome="retryable",
        ) from None
    except ResponseParserError:
        raise ProviderError(
            f"AWS {service} answered with something that is not an AWS response",
            code="invalid_response",
            outcome="retryable",
        ) from None
    except BotoCoreError as exc:
        raise ProviderError(
            f"AWS {service}: {exc}", code=type(exc).__name__, outcome="terminal"
        ) from None


class AwsConnector(Connector):
    """What SNS and SES share: the ``aws`` auth type and its settings."""

    auth_types = ("aws",)

    def check_config(self, auth_type: str, auth_config: Mapping[str, Any]) -> list[str]:
        problems = super().check_config(auth_type, auth_config)
        for key in ("access_key_id", "secret_access_key", "session_token"):
            if key in auth_config:
                problems.append(
                    f"auth_config.{key} is not supported: AWS credentials come from the "
                    "environment, the shared config files or the instance/task role"
                )
        region = auth_config.get("region")
        if region is not None and not (
            isinstance(region, str) and re.fullmatch(r"[a-z]{2,5}(-[a-z]+)+-\d+", region)
        ):
            problems.append("auth_config.region must be an AWS region such as ap-northeast-2")
        return problems


E164 = re.compile(r"\+[1-9]\d{1,14}")
SENDER_ID = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9]{1,11}")


class AwsSnsConnector(AwsConnector):
    provider = "aws_sns"
    aliases = ("sns",)
    type = IntegrationType.NOTIFICATION
    hosts = aws_hosts("sns")
    health_method = "get_sms_attributes"
    methods = methods(
        CheckedMethod(
            "send_sms",
            (
                Param("phone_number", description="E.164, such as +821012345678"),
                Param("message"),
                Param("sms_type", required=False, choices=("Transactional", "Promotional")),
                Param("sender_id", required=False, description="1-11 letters or digits"),
            ),
            description="Send an SMS (Transactional unless sms_type says otherwise)",
            check=lambda args: _sms(args),
        ),
        CheckedMethod(
            "publish",
            (
                Param("topic_arn"),
                Param("message"),
                Param("subject", required=False),
                Param("message_group_id", required=False, description="FIFO topics only"),
            ),
            description="Publish to a topic",
            check=lambda args: _publish(args, ""),
        ),
    )

    async def call(self, ctx: CallContext, method: str, args: dict[str, Any]) -> Any:
        if method == "send_sms":
            request = _sms(args)
        elif method == "publish":
            request = _publish(args, ctx.idempotency_key)
        else:
            raise ProviderError(
                f"unknown method {method}", code="unknown_method", outcome="terminal"
            )
        answer = await call_aws(ctx, "sns", lambda client: client.publish(**request))
        return {"message_id": answer["MessageId"]}

    async def health(self, ctx: CallContext) -> dict[str, Any]:
        """``GetSMSAttributes`` (IAM ``sns:GetSMSAttributes``): signed, free, sends nothing."""
        answer = await call_aws(
            ctx, "sns", lambda client: client.get_sms_attributes(attributes=["DefaultSMSType"])
        )
        return {
            "ok": True,
            "detail": "SNS answered GetSMSAttributes",
            "sms_attributes": dict(answer.get("attributes", {})),
        }


def _sms(args: Mapping[str, Any]) -> dict[str, Any]:
    phone = args["phone_number"]
    if not E164.fullmatch(phone):
        raise invalid("phone_number", "must be in E.164 format, such as +821012345678")
    attributes = {
        "AWS.SNS.SMS.SMSType": {
            "DataType": "String",
            "StringValue": args.get("sms_type", "Transactional"),
        }
    }
    sender = args.get("sender_id")
    if sender is not None:
        if not SENDER_ID.fullmatch(sender):
            raise invalid("sender_id", "must be 1-11 letters or digits with at least one letter")
        attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": sender}
    return {"PhoneNumber": phone, "Message": args["message"], "MessageAttributes": attributes}


def _publish(args: Mapping[str, Any], idempotency_key: str) -> dict[str, Any]:
    arn = args["topic_arn"]
    if not re.fullmatch(r"arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w-]+(\.fifo)?", arn):
        raise invalid("topic_arn", "must be an SNS topic ARN")
    request: dict[str, Any] = {"TopicArn": arn, "Message": args["message"]}
    subject = args.get("subject")
    if subject is not None:
        if len(subject) > 100 or "\n" in subject or "\r" in subject:
            raise invalid("subject", "must be one line of at most 100 characters")
        request["Subject"] = subject
    group = args.get("message_group_id")
    if arn.endswith(".fifo"):
        if group is None:
            raise invalid("message_group_id", "is required for a FIFO topic")
        request["MessageGroupId"] = group
        # Every attempt of one message carries the same id, so SNS drops repeats (5 min).
        request["MessageDeduplicationId"] = hashlib.sha256(idempotency_key.encode()).hexdigest()
    elif group is not None:
        raise invalid("message_group_id", "applies to FIFO topics only")
    return request
