"""Inbound webhooks: a provider's verification handshake, signature checks on the raw body,
and verified events stored once each (sealed), listed per integration."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from aicc.core.errors import NotFound, Unauthorized
from aicc.integration.connectors.base import (
    ProviderError,
    WebhookEvent,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
)
from aicc.integration.models import event as table
from aicc.integration.outbox import OutboxMixin
from aicc.integration.store import aware, fetch, now

WEBHOOK_DEADLINE = 10.0


class WebhookMixin(OutboxMixin):
    async def webhook_handshake(self, integration_id: str, request: WebhookRequest) -> WebhookReply:
        target, _ = await self.target(integration_id)
        ctx = self.caller.context(
            target, f"webhook-{uuid.uuid4().hex}", time.monotonic() + WEBHOOK_DEADLINE
        )
        try:
            reply = await target.connector.webhook_handshake(ctx, request)
        except WebhookRejected as refused:
            raise Unauthorized(
                str(refused) or "webhook not verified", code="webhook_unverified"
            ) from None
        if reply is None:
            raise NotFound(
                f"{target.integration.provider} has no webhook handshake",
                code="no_webhook_handshake",
            )
        return reply

    async def receive_webhook(self, integration_id: str, request: WebhookRequest) -> dict[str, Any]:
        """Verify a provider's POST and store its events once each; unverified requests are
        refused (401) and stored nowhere."""
        target, _ = await self.target(integration_id)
        ctx = self.caller.context(
            target, f"webhook-{uuid.uuid4().hex}", time.monotonic() + WEBHOOK_DEADLINE
        )
        try:
            events = await target.connector.verify_webhook(ctx, request)
        except WebhookRejected as refused:
            self.logger.warning(
                "webhook refused",
                extra={"metadata": {"integration_id": integration_id, "reason": str(refused)}},
            )
            raise Unauthorized(
                str(refused) or "webhook not verified", code="webhook_unverified"
            ) from None
        except ProviderError as error:
            raise Unauthorized(
                f"the event could not be confirmed with the provider: {error.message}",
                code="webhook_unverified",
            ) from None
        stored = await self._store_events(integration_id, events)
        return {"received": len(events), "stored": stored}

    async def _store_events(self, integration_id: str, events: list[WebhookEvent]) -> int:
        if not events:
            return 0
        key = await self.vault.key(integration_id)
        at = now()
        stored = 0
        async with self.resources.database.transaction() as conn:
            postgres = conn.dialect.name == "postgresql"
            insert = postgresql.insert(table) if postgres else sqlite.insert(table)
            for item in events:
                event_id = item.event_id[:300]
                result = await conn.execute(
                    insert.values(
                        integration_id=integration_id,
                        event_id=event_id,
                        event_type=item.event_type[:100],
                        data_sealed=self.vault.seal(
                            key, item.data, f"event:{integration_id}:{event_id}"
                        ),
                        received_at=at,
                    ).on_conflict_do_nothing(index_elements=["integration_id", "event_id"])
                )
                stored += result.rowcount or 0
        return stored

    async def list_events(
        self, integration_id: str, *, limit: int = 50, before: int | None = None
    ) -> list[dict[str, Any]]:
        """Verified events, newest first; ``before`` continues from the last ``id`` seen."""
        async with self.resources.database.connect() as conn:
            await fetch(conn, integration_id)
            query = select(table).where(table.c.integration_id == integration_id)
            if before is not None:
                query = query.where(table.c.id < before)
            rows = (await conn.execute(query.order_by(table.c.id.desc()).limit(limit))).all()
        key = await self.vault.key(integration_id)
        return [
            {
                "id": r.id,
                "event_id": r.event_id,
                "event_type": r.event_type,
                "received_at": aware(r.received_at),
                "data": self.vault.open(key, r.data_sealed, f"event:{integration_id}:{r.event_id}"),
            }
            for r in rows
        ]
