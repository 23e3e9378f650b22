"""Toss Payments (https://docs.tosspayments.com): confirm, cancel and look up card payments.

Auth: ``Authorization: Basic base64(secret_key + ":")`` (the trailing colon is the empty
password). Every confirm and cancel carries ``Idempotency-Key: ctx.idempotency_key``, which is
stable across every attempt of one message, so a retry after a lost answer gets Toss's stored
first answer instead of a second charge or refund.

Every method answers one shape (see :func:`payment`): normalised top-level fields plus the
Payment object untouched under ``provider_data``.

Webhooks: payment webhooks (``PAYMENT_STATUS_CHANGED``) are unsigned, so nothing in the body is
trusted; the payment is fetched back and the event is built from Toss's own answer.
``DEPOSIT_CALLBACK`` carries the payment's ``secret``, checked against the fetched payment.
Payout and seller webhooks are signed (``tosspayments-webhook-signature: v1:<b64>,<b64>``,
HMAC-SHA256 of ``"{body}:{transmission_time}"`` with ``auth_config.webhook_secret``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx2
import orjson

from aicc.core.errors import ValidationFailed
from aicc.integration.connectors.args import CheckedMethod, invalid
from aicc.integration.connectors.base import (
    CallContext,
    Connector,
    IntegrationType,
    Method,
    Outcome,
    Param,
    ProviderError,
    WebhookEvent,
    WebhookRejected,
    WebhookRequest,
    methods,
)
from aicc.integration.connectors.http import json_body, retry_after, send

RETRYABLE_CODES = frozenset(
    {"PROVIDER_ERROR", "FAILED_INTERNAL_SYSTEM_PROCESSING", "IDEMPOTENT_REQUEST_PROCESSING"}
)
"""Toss's "temporary, try again" codes (PROVIDER_ERROR comes with HTTP 400);
IDEMPOTENT_REQUEST_PROCESSING: the first request with this key is still running."""
REAUTH_CODES = frozenset({"UNAUTHORIZED_KEY", "INVALID_API_KEY"})
SIGNED_EVENTS = frozenset({"PAYOUT_STATUS_CHANGED", "SELLER_CHANGED"})
HEALTH_PROBE_KEY = "aicc_health_probe_not_a_payment"


class TossConnector(Connector):
    provider = "toss"
    aliases = ("tosspayments", "toss_payments")
    type = IntegrationType.PAYMENT
    hosts = ("tosspayments.com",)
    keywords = ("toss", "tosspayments")
    auth_types = ("basic",)
    required_config: ClassVar[dict[str, tuple[str, ...]]] = {"basic": ("secret_key",)}
    secret_keys = frozenset({"secret_key", "webhook_secret"})
    health_method = "GET /v1/payments/{a key that cannot exist}"
    methods = methods(
        CheckedMethod(
            "confirm_payment",
            (
                Param("payment_key", description="paymentKey from the payment window"),
                Param("order_id", description="the merchant's orderId"),
                Param("amount", "integer", description="amount in KRW; must match the order"),
            ),
            description="Approve an authenticated payment (POST /v1/payments/confirm)",
            check=lambda args: _positive(args, "amount"),
        ),
        CheckedMethod(
            "cancel_payment",
            (
                Param("payment_key"),
                Param("cancel_reason"),
                Param("cancel_amount", "integer", required=False, description="partial cancel"),
            ),
            description="Cancel all of a payment, or part of it with cancel_amount",
            check=lambda args: _positive(args, "cancel_amount"),
        ),
        Method(
            "get_payment",
            (Param("payment_key"),),
            safe=True,
            description="A payment's current state (GET /v1/payments/{paymentKey})",
        ),
    )

    async def call(self, ctx: CallContext, method: str, args: dict[str, Any]) -> Any:
        if method == "confirm_payment":
            return await self._confirm(ctx, args)
        if method == "cancel_payment":
            return await self._cancel(ctx, args)
        if method == "get_payment":
            return payment(await self._get(ctx, args["payment_key"]))
        raise ValidationFailed(f"toss has no method {method!r}", code="unknown_method")

    async def health(self, ctx: CallContext) -> dict[str, Any]:
        """GET a payment that cannot exist: NOT_FOUND_PAYMENT proves Toss accepted the key
        (UNAUTHORIZED_KEY would be a reauth error); nothing is created or changed."""
        try:
            await self._get(ctx, HEALTH_PROBE_KEY)
        except ProviderError as error:
            if error.code != "NOT_FOUND_PAYMENT":
                raise
        return {"ok": True, "detail": "the secret key was accepted"}

    async def _confirm(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        body = {
            "paymentKey": args["payment_key"],
            "orderId": args["order_id"],
            "amount": args["amount"],
        }
        try:
            found = await self._post(ctx, "/v1/payments/confirm", body)
        except ProviderError as error:
            if error.code != "ALREADY_PROCESSED_PAYMENT":
                raise
            # Confirmed before (an earlier attempt whose answer was lost, or another path):
            # success only when Toss says it is DONE for this order and this amount.
            found = await self._get(ctx, args["payment_key"])
            if not (
                found.get("status") == "DONE"
                and found.get("orderId") == args["order_id"]
                and found.get("totalAmount") == args["amount"]
            ):
                raise
            return payment(found, already_processed=True)
        return payment(found, already_processed=False)

    async def _cancel(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"cancelReason": args["cancel_reason"]}
        if "cancel_amount" in args:
            body["cancelAmount"] = args["cancel_amount"]
        path = f"/v1/payments/{_segment(args['payment_key'])}/cancel"
        try:
            return payment(await self._post(ctx, path, body))
        except ProviderError as error:
            # A full cancel of a payment Toss already shows as fully canceled has reached
            # the state asked for; a partial one cannot be told apart from a second refund.
            if error.code != "ALREADY_CANCELED_PAYMENT" or "cancel_amount" in args:
                raise
            found = await self._get(ctx, args["payment_key"])
            if found.get("status") != "CANCELED":
                raise
            return payment(found, already_canceled=True)

    async def _get(self, ctx: CallContext, payment_key: str) -> dict[str, Any]:
        url = _url(ctx, f"/v1/payments/{_segment(payment_key)}")
        response = await send(ctx, "GET", url, headers=_auth(ctx), classify=classify)
        return _payment_body(response)

    async def _post(self, ctx: CallContext, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {
            **_auth(ctx),
            "Content-Type": "application/json",
            "Idempotency-Key": ctx.idempotency_key,
        }
        response = await send(
            ctx,
            "POST",
            _url(ctx, path),
            headers=headers,
            content=orjson.dumps(body),
            classify=classify,
        )
        return _payment_body(response)

    async def verify_webhook(self, ctx: CallContext, request: WebhookRequest) -> list[WebhookEvent]:
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            raise WebhookRejected("the body is not JSON") from None
        if not isinstance(body, dict):
            raise WebhookRejected("the body is not a JSON object")
        event_type = str(body.get("eventType") or "")
        signature = request.headers.get("tosspayments-webhook-signature")
        if signature is not None or event_type in SIGNED_EVENTS:
            return [self._signed_event(ctx, request, body, event_type, signature)]
        if event_type == "DEPOSIT_CALLBACK" or ("secret" in body and "data" not in body):
            return [await self._deposit_event(ctx, body)]
        return [await self._payment_event(ctx, body, event_type or "PAYMENT_STATUS_CHANGED")]

    async def _payment_event(
        self, ctx: CallContext, body: dict[str, Any], event_type: str
    ) -> WebhookEvent:
        data = body.get("data")
        key = data.get("paymentKey") if isinstance(data, dict) else None
        if not isinstance(key, str) or not key:
            raise WebhookRejected("the event names no paymentKey")
        found = await self._fetch_for_webhook(ctx, key)
        assert isinstance(data, dict)
        for field in ("orderId", "totalAmount"):
            if field in data and data[field] != found.get(field):
                raise WebhookRejected(f"the event's {field} disagrees with Toss")
        return _event(event_type, found)

    async def _deposit_event(self, ctx: CallContext, body: dict[str, Any]) -> WebhookEvent:
        order_id, secret = body.get("orderId"), body.get("secret")
        if not isinstance(order_id, str) or not isinstance(secret, str) or not secret:
            raise WebhookRejected("the deposit callback lacks orderId or secret")
        url = _url(ctx, f"/v1/payments/orders/{_segment(order_id)}")
        try:
            response = await send(ctx, "GET", url, headers=_auth(ctx), classify=classify)
        except ProviderError as error:
            raise WebhookRejected(f"Toss does not know order {order_id}: {error.code}") from None
        found = _payment_body(response)
        if not hmac.compare_digest(str(found.get("secret") or ""), secret):
            raise WebhookRejected("the deposit callback's secret does not match the payment")
        return _event("DEPOSIT_CALLBACK", found)

    async def _fetch_for_webhook(self, ctx: CallContext, key: str) -> dict[str, Any]:
        try:
            return await self._get(ctx, key)
        except ProviderError as error:
            if error.code == "NOT_FOUND_PAYMENT" or error.outcome == "terminal":
                raise WebhookRejected(f"Toss does not know payment {key}") from None
            raise  # Toss is down or the key is refused: not the sender's fault

    def _signed_event(
        self,
        ctx: CallContext,
        request: WebhookRequest,
        body: dict[str, Any],
        event_type: str,
        signature: str | None,
    ) -> WebhookEvent:
        secret = ctx.integration.setting("webhook_secret")
        sent_at = request.headers.get("tosspayments-webhook-transmission-time")
        if not signature or not sent_at or not isinstance(secret, str) or not secret:
            raise WebhookRejected("a signed Toss event needs its signature and a webhook_secret")
        if not signature_matches(secret, request.body, sent_at, signature):
            raise WebhookRejected("the webhook signature does not match")
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        assert isinstance(data, dict)
        ident = data.get("payoutKey") or data.get("sellerId") or data.get("id")
        if not ident:
            ident = hashlib.sha256(request.body).hexdigest()[:32]
        event_id = f"{event_type}:{ident}:{data.get('status', '')}"
        return WebhookEvent(event_id=event_id, event_type=event_type, data=body)


def signature_matches(secret: str, body: bytes, sent_at: str, header: str) -> bool:
    """``header`` is ``v1:<b64>,<b64>``; any one signature matching is enough (Toss lists
    more than one while it rotates keys)."""
    scheme, _, values = header.partition(":")
    if scheme.strip() != "v1":
        return False
    digest = hmac.new(secret.encode(), body + b":" + sent_at.encode(), hashlib.sha256).digest()
    for value in values.split(","):
        try:
            candidate = base64.b64decode(value.strip(), validate=True)
        except ValueError:
            continue
        if hmac.compare_digest(candidate, digest):
            return True
    return False


def payment(found: dict[str, Any], **flags: bool) -> dict[str, Any]:
    """The answer of every Toss method: the fields a caller needs, then Toss's Payment."""
    cancels = found.get("cancels") or []
    canceled = sum(c.get("cancelAmount") or 0 for c in cancels if isinstance(c, dict))
    return {
        "payment_key": found.get("paymentKey"),
        "order_id": found.get("orderId"),
        "status": found.get("status"),
        "amount": found.get("totalAmount"),
        "balance_amount": found.get("balanceAmount"),
        "canceled_amount": canceled,
        "currency": found.get("currency"),
        "method": found.get("method"),
        "approved_at": found.get("approvedAt"),
        "last_transaction_key": found.get("lastTransactionKey"),
        **flags,
        "provider_data": found,
    }


def classify(response: httpx2.Response) -> ProviderError:
    """Toss's ``{code, message}`` errors: temporary codes and 5xx retry, 429 waits, refused
    keys need a person, any other 4xx is final."""
    body = json_body(response)
    code = str(body.get("code")) if isinstance(body, dict) and body.get("code") else None
    message = body.get("message") if isinstance(body, dict) else None
    status = response.status_code
    outcome: Outcome
    if status == 429:
        outcome = "throttled"
    elif code in RETRYABLE_CODES or status >= 500 or status == 408:
        outcome = "retryable"
    elif code in REAUTH_CODES or status == 401:
        outcome = "reauth"
    else:
        outcome = "terminal"
    return ProviderError(
        str(message or code or f"HTTP {status}"),
        code=code or f"http_{status}",
        outcome=outcome,
        status=status,
        retry_after=retry_after(response),
        details=body,
    )


def _event(event_type: str, found: dict[str, Any]) -> WebhookEvent:
    key = found.get("paymentKey")
    version = found.get("lastTransactionKey") or found.get("approvedAt") or found.get("requestedAt")
    return WebhookEvent(
        event_id=f"{key}:{found.get('status')}:{version}",
        event_type=event_type,
        data=payment(found),
    )


def _payment_body(response: httpx2.Response) -> dict[str, Any]:
    body = json_body(response)
    if not isinstance(body, dict):
        raise ProviderError(
            "Toss answered without a Payment object",
            code="invalid_response",
            outcome="retryable",
            status=response.status_code,
        )
    return body


def _positive(args: Mapping[str, Any], name: str) -> None:
    if name in args and args[name] < 1:
        raise invalid(name, "must be a positive amount in KRW")


def _auth(ctx: CallContext) -> dict[str, str]:
    key = str(ctx.integration.setting("secret_key") or "")
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def _url(ctx: CallContext, path: str) -> str:
    return ctx.integration.endpoint_url.rstrip("/") + path


def _segment(value: str) -> str:
    return quote(value, safe="")
