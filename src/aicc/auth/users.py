"""Queries on users and their roles (SQLAlchemy Core; every function takes a connection)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.auth import models
from aicc.core.permissions import Role

u = models.user
r = models.user_role

PUBLIC_COLUMNS = (
    u.c.id,
    u.c.username,
    u.c.email,
    u.c.first_name,
    u.c.last_name,
    u.c.is_active,
    u.c.created_at,
    u.c.updated_at,
    u.c.last_login_at,
    u.c.password_change_required,
)


def username_key(username: str) -> str:
    return username.strip().casefold()


def email_key(email: str) -> str:
    return email.strip().casefold()


def _aware(values: dict[str, Any]) -> dict[str, Any]:
    """SQLite hands back naive datetimes; every timestamp here is UTC."""
    return {
        k: v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v
        for k, v in values.items()
    }


async def by_username_with_roles(
    conn: AsyncConnection, username: str
) -> tuple[Row[Any] | None, list[str]]:
    """The user and its roles in one round trip (the login path)."""
    role_list = (
        select(func.aggregate_strings(r.c.role, ","))
        .where(r.c.user_id == u.c.id)
        .scalar_subquery()
        .label("role_list")
    )
    row = (
        await conn.execute(select(u, role_list).where(u.c.username_key == username_key(username)))
    ).first()
    if row is None:
        return None, []
    return row, sorted(row.role_list.split(",")) if row.role_list else []


async def by_id(conn: AsyncConnection, user_id: str) -> Row[Any] | None:
    return (await conn.execute(select(u).where(u.c.id == user_id))).first()


async def roles_of(conn: AsyncConnection, user_id: str) -> list[str]:
    result = await conn.execute(select(r.c.role).where(r.c.user_id == user_id))
    return sorted(result.scalars(), key=lambda role: role)


async def exists(conn: AsyncConnection, *, username: str, email: str) -> bool:
    return await username_exists(conn, username) or await email_exists(conn, email)


async def username_exists(conn: AsyncConnection, username: str) -> bool:
    result = await conn.execute(select(u.c.id).where(u.c.username_key == username_key(username)))
    return result.first() is not None


async def email_exists(conn: AsyncConnection, email: str, *, except_id: str | None = None) -> bool:
    query = select(u.c.id).where(u.c.email_key == email_key(email))
    if except_id is not None:
        query = query.where(u.c.id != except_id)
    return (await conn.execute(query)).first() is not None


async def create(
    conn: AsyncConnection,
    *,
    username: str,
    email: str,
    password_hash: str | None,
    roles: Iterable[Role],
    first_name: str = "",
    last_name: str = "",
    password_change_required: bool = False,
) -> str:
    user_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    await conn.execute(
        insert(u).values(
            id=user_id,
            username=username.strip(),
            username_key=username_key(username),
            email=email.strip(),
            email_key=email_key(email),
            first_name=first_name,
            last_name=last_name,
            password_hash=password_hash,
            is_active=True,
            totp_last_step=0,
            created_at=now,
            updated_at=now,
            password_changed_at=now if password_hash else None,
            password_change_required=password_change_required,
        )
    )
    await set_roles(conn, user_id, roles)
    return user_id


async def set_roles(conn: AsyncConnection, user_id: str, roles: Iterable[Role]) -> None:
    await conn.execute(delete(r).where(r.c.user_id == user_id))
    unique = sorted({Role(role).value for role in roles})
    if unique:
        await conn.execute(insert(r), [{"user_id": user_id, "role": role} for role in unique])


async def update_fields(conn: AsyncConnection, user_id: str, **values: Any) -> None:
    if "email" in values:
        values["email_key"] = email_key(values["email"])
    values["updated_at"] = datetime.now(UTC)
    await conn.execute(update(u).where(u.c.id == user_id).values(**values))


async def delete_user(conn: AsyncConnection, user_id: str) -> None:
    await conn.execute(delete(r).where(r.c.user_id == user_id))
    await conn.execute(
        delete(models.recovery_code).where(models.recovery_code.c.user_id == user_id)
    )
    await conn.execute(delete(models.identity).where(models.identity.c.user_id == user_id))
    sessions = select(models.session.c.id).where(models.session.c.user_id == user_id)
    await conn.execute(
        delete(models.refresh_token).where(models.refresh_token.c.session_id.in_(sessions))
    )
    await conn.execute(delete(models.session).where(models.session.c.user_id == user_id))
    await conn.execute(delete(u).where(u.c.id == user_id))


async def count_active_with_role(conn: AsyncConnection, role: Role) -> int:
    result = await conn.execute(
        select(func.count())
        .select_from(u.join(r, r.c.user_id == u.c.id))
        .where(and_(r.c.role == role.value, u.c.is_active.is_(True)))
    )
    return int(result.scalar_one())


async def count_all(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(u))).scalar_one())


async def search(
    conn: AsyncConnection,
    *,
    query: str | None,
    role: Role | None,
    is_active: bool | None,
    limit: int,
    offset: int,
    ids: list[str] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    conditions: list[ColumnElement[bool]] = []
    if ids is not None:
        conditions.append(u.c.id.in_(ids))
    if query:
        pattern = f"%{query.strip().casefold()}%"
        conditions.append(
            or_(
                u.c.username_key.like(pattern),
                u.c.email_key.like(pattern),
                func.lower(u.c.first_name).like(pattern),
                func.lower(u.c.last_name).like(pattern),
            )
        )
    if role is not None:
        conditions.append(u.c.id.in_(select(r.c.user_id).where(r.c.role == role.value)))
    if is_active is not None:
        conditions.append(u.c.is_active.is_(is_active))
    where = and_(*conditions) if conditions else and_(True)
    total = (await conn.execute(select(func.count()).select_from(u).where(where))).scalar_one()
    rows = await conn.execute(
        select(*PUBLIC_COLUMNS, u.c.totp_secret.is_not(None).label("mfa_enabled"))
        .where(where)
        .order_by(u.c.username_key)
        .limit(limit)
        .offset(offset)
    )
    items = [_aware(dict(row)) for row in rows.mappings()]
    if items:
        ids = [item["id"] for item in items]
        role_rows = await conn.execute(select(r).where(r.c.user_id.in_(ids)))
        by_user: dict[str, list[str]] = {}
        for row in role_rows:
            by_user.setdefault(row.user_id, []).append(row.role)
        for item in items:
            item["roles"] = sorted(by_user.get(item["id"], []))
    return items, int(total)


async def profile(conn: AsyncConnection, user_id: str) -> dict[str, Any] | None:
    row = (
        (
            await conn.execute(
                select(*PUBLIC_COLUMNS, u.c.totp_secret.is_not(None).label("mfa_enabled")).where(
                    u.c.id == user_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    result = _aware(dict(row))
    result["roles"] = await roles_of(conn, user_id)
    return result
