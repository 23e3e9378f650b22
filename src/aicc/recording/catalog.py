"""Reading and writing recording rows, the audit trail, and the metadata a client sees."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Select, and_, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.errors import Conflict, NotFound, ValidationFailed
from aicc.core.keys import data_key_table
from aicc.core.permissions import ROLE_RANK, Role, highest_rank
from aicc.core.tokens import Principal
from aicc.recording import models

t = models.item
LIVE = ("recording", "paused")
"""States in which a voice recording still takes audio."""


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def object_ref(recording_id: str) -> str:
    """What the recording's data key and sealed object are bound to (no personal data)."""
    return f"recording:{recording_id}"


def object_key(recording_id: str) -> str:
    """Where the sealed recording lives in the object store (no personal data)."""
    return f"recordings/{recording_id[:2]}/{recording_id}"


async def insert_item(conn: AsyncConnection, **values: Any) -> None:
    at = now()
    row: dict[str, Any] = {
        "received_bytes": 0,
        "message_count": 0,
        "recovered": False,
        "started_at": at,
        "last_audio_at": at,
        **values,
    }
    await conn.execute(insert(t).values(**row))


_KEK_ID = (
    select(data_key_table.c.kek_id)
    .where(data_key_table.c.object_ref == literal("recording:") + t.c.id)
    .scalar_subquery()
    .label("kek_id")
)
"""The key-encryption key that wraps the recording's data key now (rotations change it)."""


def rows_query() -> Select[Any]:
    return select(t, _KEK_ID)


async def load(conn: AsyncConnection, recording_id: str, *, lock: bool = False) -> dict[str, Any]:
    """The recording's row; 404 when there is none. ``lock`` holds it for this transaction."""
    query = rows_query().where(t.c.id == recording_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    found = (await conn.execute(query)).mappings().first()
    if found is None:
        raise NotFound("No such recording", code="recording_not_found")
    return dict(found)


async def change(conn: AsyncConnection, recording_id: str, **values: Any) -> None:
    await conn.execute(update(t).where(t.c.id == recording_id).values(**values))


async def record_event(
    conn: AsyncConnection,
    recording_id: str,
    event: str,
    *,
    actor_id: str | None = None,
    ip_address: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        insert(models.audit).values(
            recording_id=recording_id,
            at=now(),
            event=event,
            actor_id=actor_id,
            ip_address=ip_address,
            details=details,
        )
    )


async def events(
    conn: AsyncConnection, recording_id: str, *, limit: int, before: int | None
) -> list[dict[str, Any]]:
    a = models.audit
    query = select(a).where(a.c.recording_id == recording_id).order_by(a.c.id.desc())
    if before is not None:
        query = query.where(a.c.id < before)
    rows = (await conn.execute(query.limit(limit))).mappings().all()
    return [
        {
            "id": r["id"],
            "at": aware(r["at"]),
            "event": r["event"],
            "actor_id": r["actor_id"],
            "ip_address": r["ip_address"],
            "details": r["details"] or {},
        }
        for r in rows
    ]


def sees_everything(principal: Principal | None) -> bool:
    """A caller whose highest role is AGENT sees only their own recordings; every other role
    sees all of them (the Python API, with no caller, too)."""
    return principal is None or highest_rank(principal.roles) != ROLE_RANK[Role.AGENT]


def owns(principal: Principal | None, row: dict[str, Any]) -> bool:
    if sees_everything(principal):
        return True
    assert principal is not None
    return row["agent_id"] in _names(principal)


def _names(principal: Principal) -> set[str]:
    names = {principal.user_id}
    if principal.username:
        names.add(principal.username)
    return names


async def visible(
    conn: AsyncConnection, recording_id: str, principal: Principal | None, *, lock: bool = False
) -> dict[str, Any]:
    """The row, when the caller may see it (someone else's recording is a 404 to an AGENT)."""
    row = await load(conn, recording_id, lock=lock)
    if not owns(principal, row):
        raise NotFound("No such recording", code="recording_not_found")
    return row


def metadata_of(row: dict[str, Any]) -> dict[str, Any]:
    """What a client sees of a recording: never keys, object locations or owners."""
    out: dict[str, Any] = {
        "recording_id": row["id"],
        "type": row["type"],
        "status": row["status"],
        "session_id": row["session_id"],
        "agent_id": row["agent_id"],
        "customer_id": row["customer_id"],
        "source": row["source"],
        "started_at": aware(row["started_at"]),
        "stopped_at": aware(row["stopped_at"]),
        "completed_at": aware(row["completed_at"]),
        "size_bytes": row["size_bytes"],
        "sha256": row["sha256"],
        "key_id": row["kek_id"],
        "recovered": row["recovered"],
        "ended_by": row["ended_by"],
        "expires_at": aware(row["expires_at"]),
        "legal_hold": row["hold_at"] is not None,
    }
    if row["type"] == "voice":
        out.update(
            format=row["format"],
            codec=row["codec"],
            sample_rate=row["sample_rate"],
            channels=row["channels"],
            channel_map=row["channel_map"],
            encoding=row["encoding"],
            bitrate=row["bitrate"],
            duration_seconds=row["duration_seconds"],
            received_bytes=row["received_bytes"],
        )
    else:
        out.update(message_count=row["message_count"], compression=row["compression"])
    if row["hold_at"] is not None:
        out["hold"] = {
            "reason": row["hold_reason"],
            "by": row["hold_by"],
            "at": aware(row["hold_at"]),
        }
    if row["deleted_at"] is not None:
        out["deleted"] = {
            "at": aware(row["deleted_at"]),
            "by": row["deleted_by"],
            "reason": row["delete_reason"],
        }
    if row["error"]:
        out["error"] = row["error"]
    return out


def encode_cursor(started_at: datetime, recording_id: str) -> str:
    raw = orjson.dumps([started_at.isoformat(), recording_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started, recording_id = orjson.loads(raw)
        return datetime.fromisoformat(started), str(recording_id)
    except (ValueError, TypeError):
        raise ValidationFailed(
            "The cursor is not one this service gave", code="bad_cursor"
        ) from None


async def search(
    conn: AsyncConnection,
    principal: Principal | None,
    *,
    filters: dict[str, Any],
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, ``limit`` at a time; the cursor continues after the last one returned."""
    conditions: list[Any] = [getattr(t.c, name) == value for name, value in filters.items()]
    if since is not None:
        conditions.append(t.c.started_at >= since)
    if until is not None:
        conditions.append(t.c.started_at < until)
    if not sees_everything(principal):
        assert principal is not None
        conditions.append(t.c.agent_id.in_(sorted(_names(principal))))
    if cursor is not None:
        started, after_id = decode_cursor(cursor)
        # The first bound lets an index on started_at seek to the cursor instead of
        # walking every newer row; the second picks among rows that share the instant.
        conditions.append(t.c.started_at <= started)
        conditions.append(
            or_(t.c.started_at < started, and_(t.c.started_at == started, t.c.id < after_id))
        )
    query = rows_query().order_by(t.c.started_at.desc(), t.c.id.desc()).limit(limit + 1)
    if conditions:
        query = query.where(and_(*conditions))
    rows = [dict(r) for r in (await conn.execute(query)).mappings().all()]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        started_at = aware(last["started_at"])
        assert started_at is not None
        next_cursor = encode_cursor(started_at, last["id"])
    return [metadata_of(r) for r in rows], next_cursor


def require_state(row: dict[str, Any], allowed: Sequence[str], action: str) -> None:
    if row["status"] not in allowed:
        raise Conflict(
            f"Cannot {action} a recording that is {row['status']}", code="recording_state"
        )
