"""Reading and writing integration rows (SQLAlchemy Core)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.errors import NotFound
from aicc.integration.connectors.base import IntegrationType
from aicc.integration.models import event as event_table
from aicc.integration.models import integration as table
from aicc.integration.models import message as message_table
from aicc.integration.schemas import IntegrationOptions

COLUMNS = [c for c in table.c if c.name != "token_sealed"]


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class IntegrationRow:
    id: str
    name: str
    type: IntegrationType
    provider: str
    endpoint_url: str
    auth_type: str
    auth_sealed: bytes
    auth_keys: list[str]
    options: IntegrationOptions
    status: str
    status_reason: str | None
    version: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> IntegrationRow:
        m = row._mapping
        return cls(
            id=m["id"],
            name=m["name"],
            type=IntegrationType(m["type"]),
            provider=m["provider"],
            endpoint_url=m["endpoint_url"],
            auth_type=m["auth_type"],
            auth_sealed=m["auth_sealed"],
            auth_keys=list(m["auth_keys"]),
            options=IntegrationOptions.model_validate(m["options"]),
            status=m["status"],
            status_reason=m["status_reason"],
            version=m["version"],
            created_by=m["created_by"],
            created_at=aware(m["created_at"]) or now(),
            updated_at=aware(m["updated_at"]) or now(),
        )


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    at = now()
    await conn.execute(
        table.insert().values(status="active", version=1, created_at=at, updated_at=at, **values)
    )


async def fetch(conn: AsyncConnection, integration_id: str) -> IntegrationRow:
    row = (await conn.execute(select(*COLUMNS).where(table.c.id == integration_id))).first()
    if row is None:
        raise NotFound(f"no integration {integration_id!r}", code="integration_not_found")
    return IntegrationRow.from_row(row)


async def exists(conn: AsyncConnection, integration_id: str) -> bool:
    found = await conn.execute(select(table.c.id).where(table.c.id == integration_id))
    return found.first() is not None


async def listing(conn: AsyncConnection) -> list[IntegrationRow]:
    rows = await conn.execute(select(*COLUMNS).order_by(table.c.id))
    return [IntegrationRow.from_row(r) for r in rows]


async def change(conn: AsyncConnection, integration_id: str, **values: Any) -> None:
    """Update columns and bump the version (other replicas reload on a version change)."""
    await conn.execute(
        update(table)
        .where(table.c.id == integration_id)
        .values(version=table.c.version + 1, updated_at=now(), **values)
    )


async def remove(conn: AsyncConnection, integration_id: str) -> None:
    await conn.execute(
        delete(message_table).where(message_table.c.integration_id == integration_id)
    )
    await conn.execute(delete(event_table).where(event_table.c.integration_id == integration_id))
    await conn.execute(delete(table).where(table.c.id == integration_id))
