"""The audit log of security events: who did what to whom, from where, and how it ended.

Never holds a secret: callers pass identifiers and outcomes, not passwords or tokens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.auth import models
from aicc.core.db import Database

logger = logging.getLogger("aicc.auth.audit")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, and from where (the request's client address and user agent)."""

    user_id: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None


async def record(
    conn: AsyncConnection,
    event: str,
    *,
    outcome: str = "success",
    actor: Actor | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    actor = actor or Actor()
    await conn.execute(
        insert(models.audit_event).values(
            at=datetime.now(UTC),
            event=event,
            outcome=outcome,
            actor_id=actor.user_id,
            target_id=target_id,
            ip_address=actor.ip_address,
            user_agent=(actor.user_agent or "")[:512] or None,
            details=details or {},
        )
    )
    logger.info(
        "audit",
        extra={
            "metadata": {
                "event": event,
                "outcome": outcome,
                "actor_id": actor.user_id,
                "target_id": target_id,
            }
        },
    )


async def search(
    database: Database,
    *,
    event: str | None = None,
    outcome: str | None = None,
    actor_id: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Newest first; returns one page and the total that matched (``before``, an event id,
    is a cursor: the page starts after it, and the total counts from there too)."""
    table = models.audit_event
    conditions = []
    if event:
        conditions.append(table.c.event == event)
    if outcome:
        conditions.append(table.c.outcome == outcome)
    if actor_id:
        conditions.append(table.c.actor_id == actor_id)
    if target_id:
        conditions.append(table.c.target_id == target_id)
    if since:
        conditions.append(table.c.at >= _utc(since))
    if until:
        conditions.append(table.c.at < _utc(until))
    if before:
        conditions.append(table.c.id < before)
    where = and_(*conditions) if conditions else None
    query = select(table).order_by(table.c.id.desc()).limit(limit).offset(offset)
    count = select(func.count()).select_from(table)
    if where is not None:
        query = query.where(where)
        count = count.where(where)
    async with database.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
        total = (await conn.execute(count)).scalar_one()
    return [_aware(dict(row)) for row in rows], int(total)


def _utc(value: datetime) -> datetime:
    """In UTC, as stored: SQLite compares the wall-clock text and ignores the offset."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _aware(values: dict[str, Any]) -> dict[str, Any]:
    at = values["at"]
    values["at"] = at if at.tzinfo else at.replace(tzinfo=UTC)
    return values
