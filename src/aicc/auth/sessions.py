"""Login sessions and their single-use refresh tokens.

A session is one login: it has an idle timeout (no refresh for too long) and an absolute
lifetime. Each refresh token is opaque (256 random bits), stored only as a SHA-256 hash and
usable once: refreshing marks it used and issues the next one of the same session. A used
token presented again means it leaked, so the whole session is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.auth import models

s = models.session
t = models.refresh_token


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RefreshLookup:
    """What a presented refresh token refers to."""

    token_used: bool
    session: Row[Any]


async def create(
    conn: AsyncConnection,
    *,
    user_id: str,
    ip_address: str | None,
    user_agent: str | None,
    amr: str,
    lifetime: int,
) -> str:
    session_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    await conn.execute(
        insert(s).values(
            id=session_id,
            user_id=user_id,
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(seconds=lifetime),
            ip_address=ip_address,
            user_agent=(user_agent or "")[:512] or None,
            amr=amr,
        )
    )
    return session_id


async def issue_refresh_token(conn: AsyncConnection, session_id: str) -> str:
    token = secrets.token_urlsafe(32)
    await conn.execute(
        insert(t).values(
            token_hash=hash_token(token), session_id=session_id, created_at=datetime.now(UTC)
        )
    )
    return token


async def lookup_refresh_token(conn: AsyncConnection, token: str) -> RefreshLookup | None:
    row = (
        await conn.execute(
            select(t.c.used_at, s)
            .select_from(t.join(s, s.c.id == t.c.session_id))
            .where(t.c.token_hash == hash_token(token))
        )
    ).first()
    if row is None:
        return None
    return RefreshLookup(token_used=row.used_at is not None, session=row)


async def consume_refresh_token(conn: AsyncConnection, token: str) -> bool:
    """Mark the token used; False if someone else used it first (at most one wins)."""
    result = await conn.execute(
        update(t)
        .where(t.c.token_hash == hash_token(token), t.c.used_at.is_(None))
        .values(used_at=datetime.now(UTC))
    )
    return result.rowcount == 1


def expiry_problem(session: Row[Any], *, idle_timeout: int) -> str | None:
    """Why the session can no longer be refreshed, as an error code, or None."""
    now = datetime.now(UTC)
    if session.revoked_at is not None:
        return "session_revoked"
    if aware(session.expires_at) <= now:
        return "session_expired"
    if aware(session.last_used_at) + timedelta(seconds=idle_timeout) <= now:
        return "session_expired"
    return None


async def touch(conn: AsyncConnection, session_id: str) -> None:
    await conn.execute(update(s).where(s.c.id == session_id).values(last_used_at=datetime.now(UTC)))


async def revoke(conn: AsyncConnection, session_ids: list[str], reason: str) -> list[str]:
    """Revoke the sessions still active among ``session_ids``; returns those revoked now."""
    if not session_ids:
        return []
    active = (
        (
            await conn.execute(
                select(s.c.id).where(s.c.id.in_(session_ids), s.c.revoked_at.is_(None))
            )
        )
        .scalars()
        .all()
    )
    if active:
        await conn.execute(
            update(s)
            .where(s.c.id.in_(active))
            .values(revoked_at=datetime.now(UTC), revoked_reason=reason)
        )
    return list(active)


async def active_ids_of_user(
    conn: AsyncConnection, user_id: str, *, except_id: str | None = None
) -> list[str]:
    query = select(s.c.id).where(s.c.user_id == user_id, s.c.revoked_at.is_(None))
    if except_id is not None:
        query = query.where(s.c.id != except_id)
    return list((await conn.execute(query)).scalars())


async def by_id(conn: AsyncConnection, session_id: str) -> Row[Any] | None:
    return (await conn.execute(select(s).where(s.c.id == session_id))).first()


async def list_for_user(
    conn: AsyncConnection, user_id: str, *, idle_timeout: int
) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(s)
        .where(s.c.user_id == user_id, s.c.revoked_at.is_(None))
        .order_by(s.c.created_at.desc())
    )
    return [
        {
            "id": row.id,
            "ip_address": row.ip_address,
            "user_agent": row.user_agent,
            "created_at": aware(row.created_at),
            "last_used_at": aware(row.last_used_at),
            "expires_at": aware(row.expires_at),
        }
        for row in rows
        if expiry_problem(row, idle_timeout=idle_timeout) is None
    ]
