"""KG Inicis INIAPI (https://manual.inicis.com/iniapi/): refunds and transaction inquiry.

Refunds use INIAPI v1, ``POST {endpoint}/api/v1/refund`` as
``application/x-www-form-urlencoded`` (INIAPI v1 refuses JSON), signed with
``hashData = sha512_hex(INIAPIKey + type + paymethod + timestamp + clientIp + mid + tid)``;
``PartialRefund`` appends ``price + confirmPrice`` (``confirmPrice`` is what stays approved
after this refund). The key is the INIAPI key, not the INIpay sign key.

Inquiry uses INIAPI v2, ``POST {endpoint}/v2/pg/inquiry`` as JSON with ``type=inquiry``,
``data={"tid"}`` or ``{"oid"}`` and ``hashData = sha512_hex(INIAPIKey + mid + type +
timestamp + compact_json(data))`` (v1 documents no inquiry).

``timestamp`` is ``YYYYMMDDhhmmss`` in Korean time. ``clientIp`` is the address Inicis has on
file for the merchant's server: set ``client_ip`` to the egress address registered in the
merchant admin; the default ``127.0.0.1`` only suits a stand-in.

Idempotency: Inicis takes no idempotency key. A full refund happens at most once per tid (the
second answers ``기 취소 거래``); when a refund meets that answer the transaction is looked up
and, when Inicis shows it canceled, the refund is reported as done (``already_refunded``).
A partial refund is protected by ``confirmPrice``: a repeat no longer matches the remaining
amount and is refused, so it cannot refund twice; it is reported as the error Inicis gave.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import httpx2

from aicc.core.errors import ValidationFailed
from aicc.integration.connectors.args import CheckedMethod, invalid
from aicc.integration.connectors.base import (
    CallContext,
    Connector,
    IntegrationType,
    Method,
    Param,
    ProviderError,
    methods,
)
from aicc.integration.connectors.http import json_body, send

KST = timezone(timedelta(hours=9))
SUCCESS = frozenset({"00", "0000", "SUCCESS"})
ALREADY_REFUNDED = frozenset({"512626", "500626"})
"""detailResultCode of "기 취소 거래" (v1 and v2)."""
HASH_MISMATCH = "ERR205"
HEALTH_PROBE_TID = "AICCHEALTHPROBE0000000000000000000000000"


class InicisConnector(Connector):
    provider = "inicis"
    aliases = ("kg_inicis", "iniapi")
    type = IntegrationType.PAYMENT
    hosts = ("inicis.com",)
    keywords = ("inicis", "iniapi")
    auth_types = ("api_key",)
    required_config: ClassVar[dict[str, tuple[str, ...]]] = {"api_key": ("api_key", "mid")}
    secret_keys = frozenset({"api_key"})
    health_method = "POST /v2/pg/inquiry {a tid that cannot exist}"
    methods = methods(
        Method(
            "refund",
            (
                Param("tid", description="the approval TID"),
                Param("paymethod", required=False, description="Card (default), Acct, HPP…"),
                Param("msg", required=False, description="cancel reason"),
            ),
            description="Cancel a whole approval (INIAPI v1 type=Refund)",
        ),
        CheckedMethod(
            "partial_refund",
            (
                Param("tid"),
                Param("price", "integer", description="amount to refund now"),
                Param("confirm_price", "integer", description="amount left approved after it"),
                Param("paymethod", required=False),
                Param("msg", required=False),
            ),
            description="Refund part of an approval (INIAPI v1 type=PartialRefund)",
            check=lambda args: _amounts(args),
        ),
        Method(
            "get_transaction",
            (
                Param("tid", required=False),
                Param("oid", required=False, description="the merchant's order id"),
            ),
            safe=True,
            one_of=(("tid", "oid"),),
            description="A transaction's status (INIAPI v2 /v2/pg/inquiry)",
        ),
    )

    async def call(self, ctx: CallContext, method: str, args: dict[str, Any]) -> Any:
        if method == "refund":
            return await self._refund(ctx, args)
        if method == "partial_refund":
            return await self._partial_refund(ctx, args)
        if method == "get_transaction":
            return transaction(await self._inquiry(ctx, args))
        raise ValidationFailed(f"inicis has no method {method!r}", code="unknown_method")

    async def health(self, ctx: CallContext) -> dict[str, Any]:
        """Inquire a TID that cannot exist: any answer but a hash mismatch means Inicis
        accepted the key and mid (read-only; nothing is refunded)."""
        try:
            await self._inquiry(ctx, {"tid": HEALTH_PROBE_TID})
        except ProviderError as error:
            answered = isinstance(error.details, dict) and "resultCode" in error.details
            if error.code == HASH_MISMATCH:
                error.outcome = "reauth"
            if not answered or error.code == HASH_MISMATCH:
                raise
        return {"ok": True, "detail": "the INIAPI key was accepted"}

    async def _refund(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        form = _form(ctx, "Refund", args)
        try:
            body = await self._post_form(ctx, form, _hash(ctx, form))
        except ProviderError as error:
            if not _already_refunded(error):
                raise
            try:
                found = await self._inquiry(ctx, {"tid": args["tid"]})
            except ProviderError:
                raise error from None
            if found.get("transactionStatus") != "CANCEL":
                raise
            return {**_refunded(args["tid"], found), "already_refunded": True}
        return {**_refunded(args["tid"], body), "already_refunded": False}

    async def _partial_refund(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        form = _form(ctx, "PartialRefund", args)
        form["price"] = str(args["price"])
        form["confirmPrice"] = str(args["confirm_price"])
        digest = _hash(ctx, form, form["price"], form["confirmPrice"])
        body = await self._post_form(ctx, form, digest)
        return {
            **_refunded(args["tid"], body),
            "partial_tid": body.get("tid"),
            "refunded_amount": _int(body.get("prtcPrice")),
            "remaining_amount": _int(body.get("prtcRemains")),
        }

    async def _post_form(self, ctx: CallContext, form: dict[str, str], digest: str) -> Any:
        url = _url(ctx, "/api/v1/refund")
        response = await send(ctx, "POST", url, data={**form, "hashData": digest})
        return _result(response)

    async def _inquiry(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        mid, key = _credentials(ctx)
        data = {"tid": args["tid"]} if args.get("tid") else {"oid": args["oid"]}
        timestamp, client_ip = _timestamp(), _client_ip(ctx)
        digest = sha512_hex(key + mid + "inquiry" + timestamp + compact_json(data))
        request = {
            "mid": mid,
            "type": "inquiry",
            "timestamp": timestamp,
            "clientIp": client_ip,
            "data": data,
            "hashData": digest,
        }
        response = await send(
            ctx,
            "POST",
            _url(ctx, "/v2/pg/inquiry"),
            content=compact_json(request).encode(),
            headers={"Content-Type": "application/json;charset=utf-8"},
        )
        return _result(response)


def sha512_hex(text: str) -> str:
    return hashlib.sha512(text.encode()).hexdigest()


def compact_json(value: Any) -> str:
    """JSON as PHP's ``json_encode(…, JSON_UNESCAPED_UNICODE)`` and JavaScript's
    ``JSON.stringify`` write it: no spaces, non-ASCII kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def transaction(found: dict[str, Any]) -> dict[str, Any]:
    return {
        "tid": found.get("tid"),
        "oid": found.get("oid"),
        "status": found.get("transactionStatus"),
        "amount": _int(found.get("price")),
        "paymethod": found.get("paymethod"),
        "result_code": found.get("resultCode"),
        "result_message": found.get("resultMsg"),
        "provider_data": found,
    }


def _refunded(tid: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "tid": tid,
        "result_code": body.get("resultCode"),
        "result_message": body.get("resultMsg"),
        "cancel_date": body.get("cancelDate") or body.get("prtcDate"),
        "cancel_time": body.get("cancelTime") or body.get("prtcTime"),
        "provider_data": body,
    }


def _form(ctx: CallContext, type_: str, args: dict[str, Any]) -> dict[str, str]:
    mid, _ = _credentials(ctx)
    return {
        "type": type_,
        "paymethod": str(args.get("paymethod") or "Card"),
        "timestamp": _timestamp(),
        "clientIp": _client_ip(ctx),
        "mid": mid,
        "tid": args["tid"],
        "msg": str(args.get("msg") or "Refund requested"),
    }


def _hash(ctx: CallContext, form: dict[str, str], *extra: str) -> str:
    _, key = _credentials(ctx)
    fields = (form["type"], form["paymethod"], form["timestamp"], form["clientIp"])
    return sha512_hex(key + "".join(fields) + form["mid"] + form["tid"] + "".join(extra))


def _result(response: httpx2.Response) -> dict[str, Any]:
    """An INIAPI answer: HTTP 200 with ``resultCode``; ``00`` is success, anything else is
    final (Inicis documents no temporary result codes; HTTP 5xx and network errors retry)."""
    body = json_body(response)
    if not isinstance(body, dict) or "resultCode" not in body:
        raise ProviderError(
            "Inicis answered without a resultCode",
            code="invalid_response",
            outcome="retryable",
            status=response.status_code,
        )
    code = str(body["resultCode"])
    if code in SUCCESS:
        return body
    message = str(body.get("resultMsg") or code)
    detail = body.get("detailResultCode")
    if detail and str(detail) not in ("0000", code):
        message += f" (detailResultCode {detail})"
    raise ProviderError(
        message, code=code, outcome="terminal", status=response.status_code, details=body
    )


def _already_refunded(error: ProviderError) -> bool:
    body = error.details if isinstance(error.details, dict) else {}
    if str(body.get("detailResultCode") or "") in ALREADY_REFUNDED:
        return True
    return "기취소" in str(body.get("resultMsg") or "").replace(" ", "")


def _amounts(args: Mapping[str, Any]) -> None:
    if args["price"] < 1:
        raise invalid("price", "must be a positive amount")
    if args["confirm_price"] < 0:
        raise invalid("confirm_price", "must not be negative")


def _credentials(ctx: CallContext) -> tuple[str, str]:
    return str(ctx.integration.setting("mid") or ""), str(ctx.integration.setting("api_key") or "")


def _client_ip(ctx: CallContext) -> str:
    return str(ctx.integration.setting("client_ip") or "127.0.0.1")


def _timestamp() -> str:
    return datetime.now(UTC).astimezone(KST).strftime("%Y%m%d%H%M%S")


def _url(ctx: CallContext, path: str) -> str:
    return ctx.integration.endpoint_url.rstrip("/") + path


def _int(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
