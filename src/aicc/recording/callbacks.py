"""Signed status callbacks (``AICC_RECORDING_CALLBACK_URL``), delivered as jobs with retries.

The body is the recording's metadata as JSON, ``{"event": "recording.completed",
"recording": {...}}``. ``X-AICC-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` signs
``"<t>.<body>"`` with ``AICC_RECORDING_CALLBACK_SECRET``, as Stripe-style receivers expect:
check the signature and that ``t`` is recent. ``X-AICC-Event-Id`` is the same on every retry.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx2
import orjson
from fastapi.encoders import jsonable_encoder

from aicc.core.jobs import JobContext, PermanentFailure, Retry
from aicc.core.outgoing import BlockedDestination
from aicc.recording import catalog
from aicc.recording.finalize import FinalizeMixin


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class CallbackMixin(FinalizeMixin):
    async def callback_job(self, ctx: JobContext) -> Retry | None:
        settings = self.settings.recording
        if not settings.callback_url or settings.callback_secret is None:
            return None
        async with self.resources.database.connect() as conn:
            row = await catalog.load(conn, ctx.payload["recording_id"])
        body = orjson.dumps(
            {"event": ctx.payload["event"], "recording": jsonable_encoder(catalog.metadata_of(row))}
        )
        secret = settings.callback_secret.get_secret_value().encode()
        headers = {
            "Content-Type": "application/json",
            "X-AICC-Event-Id": ctx.idempotency_key,
            "X-AICC-Signature": signature(secret, int(time.time()), body),
        }
        try:
            response = await self.user_http.post(
                settings.callback_url, content=body, headers=headers
            )
        except BlockedDestination as exc:
            raise PermanentFailure(f"callback URL refused: {exc.reason}") from None
        except httpx2.TransportError as exc:
            return Retry(f"callback not delivered: {type(exc).__name__}")
        if response.status_code < 300:
            return None
        if response.status_code == 429 or response.status_code >= 500:
            return Retry(f"callback answered {response.status_code}", after=_retry_after(response))
        raise PermanentFailure(f"callback answered {response.status_code}")


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return min(3600.0, max(0.0, float(value))) if value else None
    except ValueError:
        return None
