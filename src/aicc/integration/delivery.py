"""Sending messages: SYNC calls answered in the response, ASYNC messages queued with their
delivery job in one transaction, and the message log behind both."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.errors import AppError, Conflict, TooManyRequests, ValidationFailed
from aicc.core.group_commit import GroupCommit
from aicc.core.jobs import enqueue_many
from aicc.core.tokens import Principal
from aicc.integration import messages
from aicc.integration.base import validated
from aicc.integration.breaker import BreakerOpen
from aicc.integration.calls import NeedsReauthError, Target
from aicc.integration.connectors.base import Method, ProviderError
from aicc.integration.errors import CircuitOpen, NeedsReauth, ProviderFailed
from aicc.integration.limits import LimitReached
from aicc.integration.messages import MessageRow
from aicc.integration.registration import RegistrationMixin
from aicc.integration.schemas import IntegrationMessage, MessageType
from aicc.integration.store import IntegrationRow, now
from aicc.integration.vault import mask

DELIVER_KIND = "integration.deliver"
JOB_ATTEMPTS = 1000
"""The delivery job may be rescheduled many times (breaker open, rate limit, provider
pause) without calling the provider; the message's own ``attempts`` count provider calls."""
SYNC_RETRY_PAUSE = 0.2


class DeliveryMixin(RegistrationMixin):
    async def send_message(
        self, message: IntegrationMessage | dict[str, Any], *, caller: Principal | None = None
    ) -> dict[str, Any]:
        """Send a message: SYNC returns the provider's answer (``status``, ``data``,
        ``attempts``, ``latency_ms``); ASYNC returns at once with ``status: queued``.

        A message id sent before returns the first result (or the message's current state)
        without calling the provider again.
        """
        await self.ensure_started()
        msg = (
            message
            if isinstance(message, IntegrationMessage)
            else validated(IntegrationMessage, message)
        )
        target, row = await self.target(msg.integration_id)
        method = self.method_of(target, msg.payload)
        args = method.arguments(msg.payload)
        if msg.message_type is MessageType.ASYNC:
            return await self._enqueue(target, row, method, msg, caller)
        return await self._send_sync(target, row, method, args, msg, caller)

    async def on_start(self) -> None:
        await super().on_start()
        self._outbox = GroupCommit(
            self.resources.database, write_outbox, name="integration-outbox", gather=0
        )
        self._outbox.start()

    @staticmethod
    def method_of(target: Target, payload: dict[str, Any]) -> Method:
        name = payload.get("method")
        known = target.connector.methods
        if not isinstance(name, str) or name not in known:
            raise ValidationFailed(
                f"unknown method {name!r} for {target.integration.provider}"
                if name is not None
                else "payload.method is required",
                code="unknown_method",
                details={"methods": sorted(known)},
            )
        return known[name]

    def mask_fields(self, row: IntegrationRow) -> frozenset[str]:
        fields = [*self.settings.integration.mask_fields, *row.options.mask_fields]
        return frozenset(f.lower() for f in fields)

    def _record(
        self,
        row: IntegrationRow,
        method: Method,
        msg: IntegrationMessage,
        key: bytes,
        caller: Principal | None,
        **values: Any,
    ) -> dict[str, Any]:
        return {
            "id": msg.message_id,
            "integration_id": row.id,
            "method": method.name,
            "message_type": msg.message_type.value,
            "payload_sealed": self.vault.seal(key, msg.payload, f"payload:{msg.message_id}"),
            "payload_view": mask(msg.payload, self.mask_fields(row)),
            "created_by": caller.user_id if caller else None,
            "created_at": now(),
            **values,
        }

    async def _enqueue(
        self,
        target: Target,
        row: IntegrationRow,
        method: Method,
        msg: IntegrationMessage,
        caller: Principal | None,
    ) -> dict[str, Any]:
        self.check_usable(row)
        values = self._record(row, method, msg, target.key, caller, status="queued")
        queued = Queued(values)
        await self.outbox.submit(queued)
        if not queued.inserted:
            async with self.resources.database.connect() as conn:
                existing = await messages.get(conn, msg.message_id)
            assert existing is not None
            return self._again(existing, row)
        return {
            "message_id": msg.message_id,
            "integration_id": row.id,
            "status": "queued",
            "duplicate": False,
        }

    def _again(self, existing: MessageRow, row: IntegrationRow) -> dict[str, Any]:
        if existing.integration_id != row.id:
            raise Conflict(
                "this message id was used for another integration", code="message_id_reused"
            )
        return {
            "message_id": existing.id,
            "integration_id": existing.integration_id,
            "status": existing.status,
            "attempts": existing.attempts,
            "duplicate": True,
        }

    async def _send_sync(
        self,
        target: Target,
        row: IntegrationRow,
        method: Method,
        args: dict[str, Any],
        msg: IntegrationMessage,
        caller: Principal | None,
    ) -> dict[str, Any]:
        self.check_usable(row)
        key = target.key
        database = self.resources.database
        if not msg.id_generated:
            values = self._record(row, method, msg, key, caller, status="sending")
            async with database.transaction() as conn:
                if not await messages.claim(conn, values):
                    existing = await messages.get(conn, msg.message_id)
                    assert existing is not None
                    return await self._replayed_result(existing, row, key)
        timeout = (
            msg.timeout or row.options.timeout_seconds or self.settings.integration.sync_timeout
        )
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        attempts = 0
        while True:
            attempts += 1
            try:
                data = await self.caller.attempt(target, method, args, msg.message_id, deadline)
                break
            except ProviderError as error:
                if self._retry_sync(method, error, attempts, deadline):
                    await asyncio.sleep(random.uniform(0.5, 1.0) * SYNC_RETRY_PAUSE)  # noqa: S311
                    continue
                failure = ProviderFailed.from_error(
                    error, provider=row.provider, message_id=msg.message_id
                )
                await self._finish_sync(
                    row,
                    method,
                    msg,
                    key,
                    caller,
                    attempts,
                    started,
                    error=_error_record(error),
                )
                raise failure from None
            except NeedsReauthError as refused:
                await self.mark_needs_reauth(row.id, refused.error.message)
                await self._finish_sync(
                    row,
                    method,
                    msg,
                    key,
                    caller,
                    attempts,
                    started,
                    error=_error_record(refused.error),
                )
                raise NeedsReauth(
                    f"{row.provider} refused the credentials: {refused.error.message}",
                    details={"integration_id": row.id, "provider_code": refused.error.code},
                ) from None
            except BreakerOpen as open_:
                await self._finish_sync(
                    row,
                    method,
                    msg,
                    key,
                    caller,
                    attempts - 1,
                    started,
                    error={"code": "circuit_open"},
                )
                raise CircuitOpen(
                    f"calls to {row.id!r} are paused after repeated failures",
                    headers={"Retry-After": str(max(1, round(open_.retry_after)))},
                ) from None
            except AppError as refused:
                await self._finish_sync(
                    row,
                    method,
                    msg,
                    key,
                    caller,
                    attempts,
                    started,
                    error={"code": refused.error_code, "message": refused.message},
                )
                raise
            except LimitReached as limited:
                attempts -= 1
                if deadline - time.monotonic() > limited.retry_after:
                    await asyncio.sleep(limited.retry_after)
                    continue
                raise TooManyRequests(
                    f"{row.id!r} is at its {limited.reason}",
                    code="integration_rate_limited",
                    headers={"Retry-After": str(max(1, round(limited.retry_after)))},
                ) from None
        latency = await self._finish_sync(
            row, method, msg, key, caller, attempts, started, data=data
        )
        return {
            "message_id": msg.message_id,
            "integration_id": row.id,
            "status": "delivered",
            "data": data,
            "attempts": attempts,
            "latency_ms": latency,
        }

    @staticmethod
    def _retry_sync(method: Method, error: ProviderError, attempts: int, deadline: float) -> bool:
        """At most one retry, only of a read, only for a transient failure, only in time."""
        return (
            attempts == 1
            and method.safe
            and error.outcome == "retryable"
            and deadline - time.monotonic() > 2 * SYNC_RETRY_PAUSE
        )

    async def _finish_sync(
        self,
        row: IntegrationRow,
        method: Method,
        msg: IntegrationMessage,
        key: bytes,
        caller: Principal | None,
        attempts: int,
        started: float,
        *,
        data: Any = None,
        error: dict[str, Any] | None = None,
    ) -> float:
        latency = round((time.perf_counter() - started) * 1000, 2)
        at = now()
        values: dict[str, Any] = {
            "status": "dead" if error else "delivered",
            "attempts": attempts,
            "latency_ms": latency,
            "error": error,
            "delivered_at": None if error else at,
        }
        values["result_sealed"] = (
            self.vault.seal(key, data, f"result:{msg.message_id}") if error is None else None
        )
        if msg.id_generated:
            record = self._record(row, method, msg, key, caller, **values)
            await self.message_log.submit(record, wait=False)
        else:
            async with self.resources.database.transaction() as conn:
                await messages.mark(conn, msg.message_id, **values)
        return latency

    async def _replayed_result(
        self, existing: MessageRow, row: IntegrationRow, key: bytes
    ) -> dict[str, Any]:
        """What a repeated SYNC message id gets: the first answer, its error, or its state."""
        if existing.integration_id != row.id:
            raise Conflict(
                "this message id was used for another integration", code="message_id_reused"
            )
        if existing.status == "delivered" and existing.result_sealed is not None:
            data = self.vault.open(key, existing.result_sealed, f"result:{existing.id}")
            return {
                "message_id": existing.id,
                "integration_id": row.id,
                "status": "delivered",
                "data": data,
                "attempts": existing.attempts,
                "latency_ms": existing.latency_ms,
                "duplicate": True,
            }
        if existing.status == "dead" and existing.error and existing.message_type == "sync":
            error = existing.error
            raise ProviderFailed(
                f"{row.provider}: {error.get('message', 'failed')}",
                details={
                    "provider": row.provider,
                    "provider_code": error.get("code"),
                    "provider_message": error.get("message"),
                    "provider_status": error.get("provider_status"),
                    "outcome": error.get("outcome"),
                    "message_id": existing.id,
                    "duplicate": True,
                },
            )
        return self._again(existing, row)


@dataclass
class Queued:
    """An ASYNC message on its way into the outbox; ``inserted`` is False when its id was
    already taken."""

    values: dict[str, Any]
    inserted: bool = False


async def write_outbox(conn: AsyncConnection, batch: list[Queued]) -> None:
    """Messages and their delivery jobs, many per transaction (committed together)."""
    inserted = await messages.claim_returning(conn, [q.values for q in batch])
    for queued in batch:
        queued.inserted = queued.values["id"] in inserted
    fresh = [q.values for q in batch if q.inserted]
    if fresh:
        await enqueue_many(
            conn, DELIVER_KIND, [job_payload(v) for v in fresh], max_attempts=JOB_ATTEMPTS
        )


def job_payload(values: dict[str, Any]) -> dict[str, Any]:
    """What the delivery job carries: enough for its first attempt to need no read."""
    return {
        "message_id": values["id"],
        "integration_id": values["integration_id"],
        "sealed": base64.b64encode(values["payload_sealed"]).decode(),
    }


def _error_record(error: ProviderError) -> dict[str, Any]:
    return {
        "code": error.code,
        "message": error.message,
        "outcome": error.outcome,
        "provider_status": error.status,
        "retry_after": error.retry_after,
    }
