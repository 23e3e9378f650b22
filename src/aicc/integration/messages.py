"""The message log: every message sent to an integration, its status and attempts. For
ASYNC messages it is also the delivery state and, with status ``dead``, the dead-letter list.

Statuses: ``queued`` (waiting for its first attempt), ``sending`` (a call is in flight),
``delivered``, ``failed`` (the last attempt failed; another is scheduled), ``dead`` (out of
attempts or refused for good; replay or discard it), ``discarded`` (a dead letter an
operator dropped; its payload is erased).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.integration.models import message as table
from aicc.integration.store import aware, now

Status = Literal["queued", "sending", "delivered", "failed", "dead", "discarded"]
STATUSES: tuple[Status, ...] = ("queued", "sending", "delivered", "failed", "dead", "discarded")


@dataclass(frozen=True)
class MessageRow:
    id: str
    integration_id: str
    method: str
    message_type: str
    status: Status
    attempts: int
    payload_sealed: bytes | None
    payload_view: dict[str, Any]
    result_sealed: bytes | None
    error: dict[str, Any] | None
    latency_ms: float | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> MessageRow:
        m = dict(row._mapping)
        for name in ("created_at", "updated_at", "next_attempt_at", "delivered_at"):
            m[name] = aware(m[name])
        return cls(**m)

    def view(self, result: Any = None, *, with_result: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message_id": self.id,
            "integration_id": self.integration_id,
            "method": self.method,
            "message_type": self.message_type,
            "status": self.status,
            "attempts": self.attempts,
            "payload": self.payload_view,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "next_attempt_at": self.next_attempt_at,
            "delivered_at": self.delivered_at,
        }
        if with_result:
            out["result"] = result
        return out


async def claim(conn: AsyncConnection, values: dict[str, Any]) -> bool:
    """Insert a message unless its id exists; True when this call inserted it."""
    at = now()
    row = {"created_at": at, "updated_at": at, "attempts": 0, **values}
    postgres = conn.dialect.name == "postgresql"
    statement = (postgresql.insert(table) if postgres else sqlite.insert(table)).values(row)
    result = await conn.execute(statement.on_conflict_do_nothing(index_elements=["id"]))
    return bool(result.rowcount)


async def claim_many(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert many messages in one statement, skipping ids that exist."""
    at = now()
    filled = [{"created_at": at, "updated_at": at, "attempts": 0, **row} for row in rows]
    postgres = conn.dialect.name == "postgresql"
    statement = postgresql.insert(table) if postgres else sqlite.insert(table)
    await conn.execute(statement.on_conflict_do_nothing(index_elements=["id"]), filled)


async def claim_returning(conn: AsyncConnection, rows: list[dict[str, Any]]) -> set[str]:
    """Insert many messages, skipping ids that exist; the ids this call inserted."""
    at = now()
    filled = [{"created_at": at, "updated_at": at, "attempts": 0, **row} for row in rows]
    postgres = conn.dialect.name == "postgresql"
    statement = (
        postgresql.insert(table) if postgres else sqlite.insert(table)
    ).on_conflict_do_nothing(index_elements=["id"])
    result = await conn.execute(statement.returning(table.c.id), filled)
    return {row[0] for row in result}


async def get(conn: AsyncConnection, message_id: str) -> MessageRow | None:
    row = (await conn.execute(select(table).where(table.c.id == message_id))).first()
    return MessageRow.from_row(row) if row is not None else None


async def mark(conn: AsyncConnection, message_id: str, **values: Any) -> None:
    await conn.execute(
        update(table).where(table.c.id == message_id).values(updated_at=now(), **values)
    )


async def mark_delivered(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Record many deliveries (``mid``, ``attempts``, ``latency``, ``at``, ``result``) at once."""
    statement = (
        update(table)
        .where(table.c.id == bindparam("mid"))
        .values(
            status="delivered",
            attempts=bindparam("attempts"),
            latency_ms=bindparam("latency"),
            delivered_at=bindparam("at"),
            updated_at=bindparam("at"),
            result_sealed=bindparam("result"),
            error=None,
            next_attempt_at=None,
        )
    )
    await conn.execute(statement, rows)


async def listing(
    conn: AsyncConnection,
    integration_id: str,
    *,
    statuses: tuple[Status, ...] | None = None,
    limit: int = 50,
    before: datetime | None = None,
) -> list[MessageRow]:
    """Newest first; ``before`` continues a page from the last ``created_at`` seen."""
    conditions = [table.c.integration_id == integration_id]
    if statuses:
        conditions.append(table.c.status.in_(statuses))
    if before is not None:
        conditions.append(table.c.created_at < before)
    query = select(table).where(and_(*conditions)).order_by(table.c.created_at.desc()).limit(limit)
    return [MessageRow.from_row(r) for r in await conn.execute(query)]


async def dead_counts(conn: AsyncConnection) -> dict[str, int]:
    query = (
        select(table.c.integration_id, func.count())
        .where(table.c.status == "dead")
        .group_by(table.c.integration_id)
    )
    return {row[0]: int(row[1]) for row in await conn.execute(query)}
