"""Amazon SES (API v2): e-mail with a text and/or HTML body, UTF-8 throughout, through
``ctx.aws_client("sesv2")``. Credentials and errors as for SNS (:mod:`.aws_sns`)."""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from typing import Any

from aicc.integration.connectors.args import CheckedMethod, invalid
from aicc.integration.connectors.aws_sns import AwsConnector, aws_hosts, call_aws
from aicc.integration.connectors.base import (
    CallContext,
    Integration,
    IntegrationType,
    Param,
    ProviderError,
    methods,
)

MAX_RECIPIENTS = 50
"""SES refuses a message with more than 50 recipients (To, Cc and Bcc together)."""
CHARSET = "UTF-8"


class Addresses(Param):
    """One address or a list of them (``"고객 <a@example.com>"`` or ``["a@x.kr", ...]``)."""

    def check(self, value: Any) -> str | None:
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(item, str) and item.strip() for item in items):
            return "must be an address or a non-empty list of addresses"
        for item in items:
            if _address(item) is None:
                return f"{item!r} is not an e-mail address"
        return None


def _address(text: str) -> str | None:
    """The address as SES wants it (a non-ASCII display name RFC 2047-encoded, the domain in
    IDNA), or None when ``text`` is not one address."""
    if "\r" in text or "\n" in text:
        return None
    name, addr = email.utils.parseaddr(text)
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or "." not in domain or not local.isascii():
        return None
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if not name:
        return f"{local}@{domain}"
    return email.utils.formataddr((name, f"{local}@{domain}"), charset="utf-8")


def _addresses(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [a for a in (_address(item) for item in items) if a is not None]


class AwsSesConnector(AwsConnector):
    provider = "aws_ses"
    aliases = ("ses",)
    type = IntegrationType.NOTIFICATION
    hosts = aws_hosts("email")
    health_method = "get_account"
    methods = methods(
        CheckedMethod(
            "send_email",
            (
                Addresses("to", "array", description="an address or a list of addresses"),
                Param("subject"),
                Param("text", required=False, description="plain-text body"),
                Param("html", required=False, description="HTML body"),
                Param(
                    "from",
                    required=False,
                    description="sender; defaults to auth_config/options from_address",
                ),
                Addresses("cc", "array", required=False),
                Addresses("bcc", "array", required=False),
                Addresses("reply_to", "array", required=False),
            ),
            one_of=(("text", "html"),),
            description="Send an e-mail (UTF-8 subject and bodies)",
            check=lambda args: _check(args),
        ),
    )

    def check_config(self, auth_type: str, auth_config: Mapping[str, Any]) -> list[str]:
        problems = super().check_config(auth_type, auth_config)
        sender = auth_config.get("from_address")
        if sender is not None and not (isinstance(sender, str) and _address(sender)):
            problems.append("auth_config.from_address must be an e-mail address")
        return problems

    async def call(self, ctx: CallContext, method: str, args: dict[str, Any]) -> Any:
        if method != "send_email":
            raise ProviderError(
                f"unknown method {method}", code="unknown_method", outcome="terminal"
            )
        request = _email(ctx.integration, args)
        answer = await call_aws(ctx, "sesv2", lambda client: client.send_email(**request))
        return {"message_id": answer["MessageId"]}

    async def health(self, ctx: CallContext) -> dict[str, Any]:
        """``GetAccount`` (IAM ``ses:GetAccount``): sending status and quota, sends nothing."""
        answer = await call_aws(ctx, "sesv2", lambda client: client.get_account())
        quota = answer.get("SendQuota", {})
        return {
            "ok": True,
            "detail": "SES answered GetAccount",
            "sending_enabled": answer.get("SendingEnabled"),
            "production_access": answer.get("ProductionAccessEnabled"),
            "max_24_hour_send": quota.get("Max24HourSend"),
            "max_send_rate": quota.get("MaxSendRate"),
            "sent_last_24_hours": quota.get("SentLast24Hours"),
        }


def _check(args: Mapping[str, Any]) -> None:
    sender = args.get("from")
    if sender is not None and _address(sender) is None:
        raise invalid("from", "must be an e-mail address")
    count = sum(len(_addresses(args.get(k))) for k in ("to", "cc", "bcc"))
    if count > MAX_RECIPIENTS:
        raise invalid("to", f"at most {MAX_RECIPIENTS} recipients (to, cc and bcc together)")


def _email(integration: Integration, args: Mapping[str, Any]) -> dict[str, Any]:
    _check(args)
    configured = integration.setting("from_address")
    sender = _address(args.get("from") or configured or "")
    if sender is None:
        raise ProviderError(
            "payload.from is required: this integration has no auth_config.from_address",
            code="invalid_arguments",
            outcome="terminal",
        )
    destination: dict[str, list[str]] = {"ToAddresses": _addresses(args["to"])}
    if cc := _addresses(args.get("cc")):
        destination["CcAddresses"] = cc
    if bcc := _addresses(args.get("bcc")):
        destination["BccAddresses"] = bcc
    body: dict[str, Any] = {}
    if "text" in args:
        body["Text"] = {"Data": args["text"], "Charset": CHARSET}
    if "html" in args:
        body["Html"] = {"Data": args["html"], "Charset": CHARSET}
    request: dict[str, Any] = {
        "FromEmailAddress": sender,
        "Destination": destination,
        "Content": {
            "Simple": {"Subject": {"Data": args["subject"], "Charset": CHARSET}, "Body": body}
        },
    }
    if reply_to := _addresses(args.get("reply_to")):
        request["ReplyToAddresses"] = reply_to
    if configuration_set := integration.setting("configuration_set"):
        request["ConfigurationSetName"] = configuration_set
    return request
