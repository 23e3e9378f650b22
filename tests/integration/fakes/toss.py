"""A Toss Payments stand-in: Basic auth with the trailing colon, the Payment state machine
READY → DONE → PARTIAL_CANCELED/CANCELED with amount checks, ``Idempotency-Key`` replay, and
webhook bodies (unsigned payment events, signed payout events).

Idempotency follows Toss's documentation: a key is scoped by secret key, HTTP method and path,
and a repeat gets the first answer back without a second state change. Toss says nothing about
the same key with a different body; this stand-in is stricter than a replay and answers
``422 INVALID_REQUEST`` so a connector that reuses keys across operations is caught. Only 2xx
answers are stored (a temporary error is not replayed forever); a repeat while the first is
still running gets ``409 IDEMPOTENT_REQUEST_PROCESSING``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from fastapi import Request, Response

from tests.integration.fakes.common import FakeProvider

KST = timezone(timedelta(hours=9))
TEST_SECRET_KEY = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R"
MESSAGES = {
    "UNAUTHORIZED_KEY": "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.",
    "INCORRECT_BASIC_AUTH_FORMAT": "잘못된 요청입니다. ':' 를 포함해 인코딩해주세요.",
    "NOT_FOUND_PAYMENT": "존재하지 않는 결제 정보 입니다.",
    "ALREADY_PROCESSED_PAYMENT": "이미 처리된 결제 입니다.",
    "ALREADY_CANCELED_PAYMENT": "이미 취소된 결제 입니다.",
    "NOT_CANCELABLE_PAYMENT": "취소 할 수 없는 결제 입니다.",
    "NOT_CANCELABLE_AMOUNT": "취소 할 수 없는 금액 입니다.",
    "INVALID_REQUEST": "잘못된 요청입니다.",
    "IDEMPOTENT_REQUEST_PROCESSING": "이전 멱등 요청이 처리중입니다.",
}


def now() -> str:
    return datetime.now(UTC).astimezone(KST).isoformat(timespec="seconds")


def error(status: int, code: str, message: str | None = None) -> Response:
    body = {"code": code, "message": message or MESSAGES.get(code, code)}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def answer(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class FakeToss(FakeProvider):
    def __init__(self, secret_keys: tuple[str, ...] = (TEST_SECRET_KEY,)) -> None:
        super().__init__("Toss Payments stand-in")
        self.secret_keys = set(secret_keys)
        self.payments: dict[str, dict[str, Any]] = {}
        self.stored: dict[tuple[str, str, str, str], tuple[bytes, int, bytes]] = {}
        self.running_keys: set[tuple[str, str, str, str]] = set()
        self.replays = 0
        self.state_changes = 0
        self.lose_answers = 0
        """Writes that still take effect but answer 500 (the answer is lost on the way)."""
        self._ids = itertools.count(1)
        self._routes()

    # ---- helpers for tests

    def create_payment(self, amount: int, *, order_id: str | None = None) -> dict[str, Any]:
        """A payment the customer authenticated in the payment window (status READY)."""
        key = "tgen_" + secrets.token_hex(12)
        number = next(self._ids)
        payment = {
            "mId": "tosspayments",
            "version": "2022-11-16",
            "paymentKey": key,
            "orderId": order_id or f"order-{number}-{secrets.token_hex(4)}",
            "orderName": "상담 결제",
            "type": "NORMAL",
            "status": "READY",
            "method": "카드",
            "currency": "KRW",
            "country": "KR",
            "totalAmount": amount,
            "balanceAmount": amount,
            "suppliedAmount": round(amount / 1.1),
            "vat": amount - round(amount / 1.1),
            "requestedAt": now(),
            "approvedAt": None,
            "lastTransactionKey": None,
            "isPartialCancelable": True,
            "cancels": None,
            "secret": "ps_" + secrets.token_hex(10),
            "failure": None,
        }
        self.payments[key] = payment
        return payment

    def confirmed_payment(self, amount: int) -> dict[str, Any]:
        payment = self.create_payment(amount)
        self._approve(payment)
        return payment

    def webhook_body(self, payment_key: str, **overrides: Any) -> bytes:
        """A PAYMENT_STATUS_CHANGED body as Toss sends it (the Payment under ``data``)."""
        data = dict(self.payments.get(payment_key) or {"paymentKey": payment_key})
        data.update(overrides)
        return orjson.dumps(
            {"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": now(), "data": data}
        )

    @staticmethod
    def signed_headers(secret: str, body: bytes, sent_at: str) -> dict[str, str]:
        """Headers of a signed payout/seller webhook (two signatures, as during rotation)."""
        digest = hmac.new(secret.encode(), body + b":" + sent_at.encode(), hashlib.sha256)
        good = base64.b64encode(digest.digest()).decode()
        other = base64.b64encode(secrets.token_bytes(32)).decode()
        return {
            "tosspayments-webhook-signature": f"v1:{other},{good}",
            "tosspayments-webhook-transmission-time": sent_at,
        }

    # ---- the API

    def _routes(self) -> None:
        app = self.app

        @app.get("/v1/payments/orders/{order_id}")
        async def by_order(order_id: str, request: Request) -> Response:
            refused = self._refused(request)
            if refused is not None:
                return refused
            for payment in self.payments.values():
                if payment["orderId"] == order_id:
                    return answer(payment)
            return error(404, "NOT_FOUND_PAYMENT")

        @app.get("/v1/payments/{payment_key}")
        async def get_payment(payment_key: str, request: Request) -> Response:
            refused = self._refused(request)
            if refused is not None:
                return refused
            payment = self.payments.get(payment_key)
            return answer(payment) if payment else error(404, "NOT_FOUND_PAYMENT")

        @app.post("/v1/payments/confirm")
        async def confirm(request: Request) -> Response:
            return await self._idempotent(request, self._confirm)

        @app.post("/v1/payments/{payment_key}/cancel")
        async def cancel(payment_key: str, request: Request) -> Response:
            async def run(body: dict[str, Any]) -> Response:
                return self._cancel(payment_key, body)

            return await self._idempotent(request, run)

    def _refused(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return error(401, "UNAUTHORIZED_KEY")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except ValueError:
            return error(401, "UNAUTHORIZED_KEY")
        if not decoded.endswith(":"):
            return error(400, "INCORRECT_BASIC_AUTH_FORMAT")
        if decoded[:-1] not in self.secret_keys:
            return error(401, "UNAUTHORIZED_KEY")
        return None

    async def _idempotent(self, request: Request, run: Any) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return error(400, "INVALID_REQUEST")
        if not isinstance(body, dict):
            return error(400, "INVALID_REQUEST")
        key = request.headers.get("idempotency-key")
        if key is None:
            response: Response = await run(body)
            return response
        if not key or len(key) > 300:
            return error(400, "INVALID_REQUEST", "Idempotency-Key must be 1 to 300 characters")
        scope = (request.headers["authorization"], request.method, request.url.path, key)
        if scope in self.running_keys:
            return error(409, "IDEMPOTENT_REQUEST_PROCESSING")
        if scope in self.stored:
            first_body, status, content = self.stored[scope]
            if first_body != raw:
                return error(422, "INVALID_REQUEST", "이 멱등키는 다른 요청에 사용되었습니다.")
            self.replays += 1
            return Response(content, status_code=status, media_type="application/json")
        self.running_keys.add(scope)
        try:
            response = await run(body)
        finally:
            self.running_keys.discard(scope)
        if 200 <= response.status_code < 300:
            self.stored[scope] = (raw, response.status_code, bytes(response.body))
            if self.lose_answers:
                self.lose_answers -= 1
                return error(
                    500,
                    "FAILED_INTERNAL_SYSTEM_PROCESSING",
                    "내부 시스템 처리 작업이 실패했습니다.",
                )
        return response

    async def _confirm(self, body: dict[str, Any]) -> Response:
        key, order_id, amount = body.get("paymentKey"), body.get("orderId"), body.get("amount")
        if not isinstance(key, str) or not isinstance(order_id, str) or type(amount) is not int:
            return error(400, "INVALID_REQUEST")
        payment = self.payments.get(key)
        if payment is None:
            return error(404, "NOT_FOUND_PAYMENT")
        if payment["status"] != "READY":
            return error(400, "ALREADY_PROCESSED_PAYMENT")
        if payment["orderId"] != order_id:
            return error(400, "INVALID_REQUEST", "주문번호가 결제 정보와 일치하지 않습니다.")
        if payment["totalAmount"] != amount:
            return error(400, "INVALID_REQUEST", "결제 금액이 결제 정보와 일치하지 않습니다.")
        self._approve(payment)
        return answer(payment)

    def _approve(self, payment: dict[str, Any]) -> None:
        payment.update(
            status="DONE", approvedAt=now(), lastTransactionKey=secrets.token_hex(16).upper()
        )
        self.state_changes += 1

    def _cancel(self, payment_key: str, body: dict[str, Any]) -> Response:
        payment = self.payments.get(payment_key)
        if payment is None:
            return error(404, "NOT_FOUND_PAYMENT")
        reason, amount = body.get("cancelReason"), body.get("cancelAmount")
        if not isinstance(reason, str) or not reason.strip():
            return error(400, "INVALID_REQUEST", "cancelReason is required")
        if payment["status"] == "CANCELED":
            return error(400, "ALREADY_CANCELED_PAYMENT")
        if payment["status"] not in ("DONE", "PARTIAL_CANCELED"):
            return error(403, "NOT_CANCELABLE_PAYMENT")
        balance = payment["balanceAmount"]
        if amount is None:
            amount = balance
        if type(amount) is not int or not 0 < amount <= balance:
            return error(403, "NOT_CANCELABLE_AMOUNT")
        transaction = secrets.token_hex(16).upper()
        cancels = payment["cancels"] or []
        cancels.append(
            {
                "transactionKey": transaction,
                "cancelReason": reason,
                "cancelAmount": amount,
                "canceledAt": now(),
                "cancelStatus": "DONE",
            }
        )
        payment.update(
            cancels=cancels,
            balanceAmount=balance - amount,
            status="CANCELED" if amount == balance else "PARTIAL_CANCELED",
            lastTransactionKey=transaction,
        )
        self.state_changes += 1
        return answer(payment)
