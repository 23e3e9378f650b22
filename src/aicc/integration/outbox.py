"""ASYNC delivery through the platform jobs, and the message log's read side: listing,
one message with its result, dead letters, replay and discard."""

from __future__ import annotations

import base64
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aicc.core.errors import AppError, Conflict, NotFound
from aicc.core.group_commit import GroupCommit
from aicc.core.jobs import JobContext, Retry, enqueue
from aicc.integration import messages
from aicc.integration.breaker import BreakerOpen
from aicc.integration.calls import NeedsReauthError
from aicc.integration.connectors.base import ProviderError
from aicc.integration.delivery import DELIVER_KIND, JOB_ATTEMPTS, DeliveryMixin, _error_record
from aicc.integration.limits import LimitReached
from aicc.integration.messages import MessageRow, Status
from aicc.integration.store import fetch, now
from aicc.integration.vault import mask


@dataclass(frozen=True)
class Pending:
    """What one delivery attempt needs of its message."""

    id: str
    integration_id: str
    status: str
    attempts: int
    payload_sealed: bytes | None

    @classmethod
    def first(cls, payload: dict[str, Any]) -> Pending | None:
        """From the job itself, on its first run (nothing to read)."""
        if "sealed" not in payload or "integration_id" not in payload:
            return None
        return cls(
            payload["message_id"],
            payload["integration_id"],
            "queued",
            0,
            base64.b64decode(payload["sealed"]),
        )

    @classmethod
    def of(cls, row: MessageRow) -> Pending:
        return cls(row.id, row.integration_id, row.status, row.attempts, row.payload_sealed)


class OutboxMixin(DeliveryMixin):
    _deliveries: GroupCommit[dict[str, Any]] | None = None

    @property
    def deliveries(self) -> GroupCommit[dict[str, Any]]:
        """Delivered messages, recorded many per transaction; each delivery waits for its
        commit, then the worker completes its job (a crash in between re-runs the job, which
        finds the message delivered and calls nobody)."""
        return self.require_started(self._deliveries)

    async def on_start(self) -> None:
        await super().on_start()
        self._deliveries = GroupCommit(
            self.resources.database,
            messages.mark_delivered,
            name="integration-deliveries",
            gather=0,
        )
        self._deliveries.start()

    async def on_stop(self) -> None:
        if self._deliveries is not None:
            await self._deliveries.stop()
            self._deliveries = None
        await super().on_stop()

    async def deliver_job(self, ctx: JobContext) -> Retry | None:
        """One delivery attempt of an ASYNC message."""
        message_id = ctx.payload["message_id"]
        database = self.resources.database
        message = Pending.first(ctx.payload) if ctx.attempt == 1 else None
        if message is None:
            async with database.connect() as conn:
                stored = await messages.get(conn, message_id)
            message = Pending.of(stored) if stored is not None else None
        if message is None or message.status in ("delivered", "dead", "discarded"):
            return None
        try:
            target, row = await self.target(message.integration_id)
        except NotFound:
            return None
        if row.status == "disabled":
            return Retry("integration disabled", after=60.0)
        if row.status == "needs_reauth":
            await self._dead(ctx, message, {"code": "needs_reauth", "message": row.status_reason})
            return None
        paused = await self.caller.limits.paused_for(row.id)
        if paused > 0:
            return Retry("provider asked to wait", after=paused)
        key = target.key
        payload = self.vault.open(key, message.payload_sealed or b"", f"payload:{message_id}")
        method = self.method_of(target, payload)
        args = method.arguments(payload)
        attempt = message.attempts + 1
        timeout = row.options.timeout_seconds or self.settings.integration.sync_timeout
        started = time.perf_counter()
        try:
            data = await self.caller.attempt(
                target, method, args, message_id, time.monotonic() + timeout
            )
        except (BreakerOpen, LimitReached) as held:
            return Retry(str(held), after=max(0.05, held.retry_after))
        except NeedsReauthError as refused:
            await self.mark_needs_reauth(row.id, refused.error.message)
            await self._dead(ctx, message, _error_record(refused.error), attempts=attempt)
            return None
        except AppError as refused:
            error = {"code": refused.error_code, "message": refused.message}
            await self._dead(ctx, message, error, attempts=attempt)
            return None
        except ProviderError as error:
            limit = row.options.max_attempts or self.settings.integration.max_attempts
            if not error.retryable or attempt >= limit:
                await self._dead(ctx, message, _error_record(error), attempts=attempt)
                return None
            wait = max(error.retry_after or 0.0, self._backoff(attempt))
            async with database.transaction() as conn:
                await messages.mark(
                    conn,
                    message_id,
                    status="failed",
                    attempts=attempt,
                    error=_error_record(error),
                    next_attempt_at=now() + timedelta(seconds=wait),
                )
            return Retry(error.message, after=wait)
        latency = round((time.perf_counter() - started) * 1000, 2)
        await self.deliveries.submit(
            {
                "mid": message_id,
                "attempts": attempt,
                "latency": latency,
                "at": now(),
                "result": self.vault.seal(key, data, f"result:{message_id}"),
            }
        )
        return None

    def _backoff(self, attempt: int) -> float:
        """Exponential with full jitter, never under a tenth of the base."""
        settings = self.settings.integration
        ceiling = min(settings.backoff_max, settings.backoff_base * 2 ** (attempt - 1))
        jitter: float = random.uniform(0, ceiling)  # noqa: S311 (jitter, not a secret)
        return max(settings.backoff_base / 10, jitter)

    async def _dead(
        self,
        ctx: JobContext,
        message: Pending,
        error: dict[str, Any],
        *,
        attempts: int | None = None,
    ) -> None:
        async with ctx.transaction() as conn:
            await messages.mark(
                conn,
                message.id,
                status="dead",
                error=error,
                next_attempt_at=None,
                attempts=attempts if attempts is not None else message.attempts,
            )
        self.logger.warning(
            "integration message is dead",
            extra={
                "metadata": {
                    "message_id": message.id,
                    "integration_id": message.integration_id,
                    "code": error.get("code"),
                }
            },
        )

    async def list_messages(
        self,
        integration_id: str,
        *,
        statuses: tuple[Status, ...] | None = None,
        limit: int = 50,
        before: datetime | None = None,
    ) -> list[dict[str, Any]]:
        await self.message_log.flush()
        async with self.resources.database.connect() as conn:
            await fetch(conn, integration_id)
            rows = await messages.listing(
                conn, integration_id, statuses=statuses, limit=limit, before=before
            )
        return [row.view() for row in rows]

    async def dead_letters(self, integration_id: str, **kwargs: Any) -> list[dict[str, Any]]:
        return await self.list_messages(integration_id, statuses=("dead",), **kwargs)

    async def get_message(self, integration_id: str, message_id: str) -> dict[str, Any]:
        """One message, with the provider's answer (masked like the payload)."""
        await self.message_log.flush()
        async with self.resources.database.connect() as conn:
            integration = await fetch(conn, integration_id)
            row = await messages.get(conn, message_id)
        if row is None or row.integration_id != integration_id:
            raise NotFound(f"no message {message_id!r}", code="message_not_found")
        result = None
        if row.result_sealed is not None:
            key = await self.vault.key(integration_id)
            result = mask(
                self.vault.open(key, row.result_sealed, f"result:{row.id}"),
                self.mask_fields(integration),
            )
        return row.view(result, with_result=True)

    async def replay_dead_letter(self, integration_id: str, message_id: str) -> dict[str, Any]:
        """Queue a dead message again with a fresh set of attempts (same id, so providers
        that deduplicate still see one message)."""
        async with self.resources.database.transaction() as conn:
            row = await self._dead_letter(conn, integration_id, message_id)
            await messages.mark(
                conn,
                message_id,
                status="queued",
                attempts=0,
                next_attempt_at=None,
                message_type="async",
            )
            await enqueue(conn, DELIVER_KIND, {"message_id": message_id}, max_attempts=JOB_ATTEMPTS)
        self.logger.info(
            "dead letter replayed",
            extra={"metadata": {"message_id": row.id, "integration_id": integration_id}},
        )
        return {"message_id": message_id, "integration_id": integration_id, "status": "queued"}

    async def discard_dead_letter(self, integration_id: str, message_id: str) -> None:
        """Drop a dead message for good: its payload is erased, a tombstone stays."""
        async with self.resources.database.transaction() as conn:
            await self._dead_letter(conn, integration_id, message_id)
            await messages.mark(conn, message_id, status="discarded", payload_sealed=None)

    async def _dead_letter(self, conn: Any, integration_id: str, message_id: str) -> MessageRow:
        await fetch(conn, integration_id)
        row = await messages.get(conn, message_id)
        if row is None or row.integration_id != integration_id:
            raise NotFound(f"no message {message_id!r}", code="message_not_found")
        if row.status != "dead":
            raise Conflict(
                f"message {message_id!r} is {row.status}, not dead", code="not_a_dead_letter"
            )
        return row
