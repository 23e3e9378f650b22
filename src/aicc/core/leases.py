"""Named leases in the database, so that one replica at a time runs a background job.

A lease is held until ``expires_at``; its owner renews it while working. Anyone may take a
lease whose time has passed. Cache locks do the same job faster; this one survives a cache
flush and needs nothing beyond the database every service already has.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, String, Table, and_, delete, or_, update
from sqlalchemy.dialects import postgresql, sqlite

from aicc.core.db import Database, metadata

lease_table = Table(
    "core_lease",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
)


async def acquire_lease(database: Database, name: str, owner: str, ttl: float) -> bool:
    """Take or renew ``name`` for ``owner`` for ``ttl`` seconds; False if someone else holds it."""
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=ttl)
    dialect = postgresql if database.dialect == "postgresql" else sqlite
    async with database.transaction() as conn:
        inserted = await conn.execute(
            dialect.insert(lease_table)
            .values(name=name, owner=owner, expires_at=expires, acquired_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        if inserted.rowcount == 1:
            return True
        renewed = await conn.execute(
            update(lease_table)
            .where(
                and_(
                    lease_table.c.name == name,
                    or_(lease_table.c.owner == owner, lease_table.c.expires_at < now),
                )
            )
            .values(owner=owner, expires_at=expires, acquired_at=now)
        )
        return renewed.rowcount == 1


async def release_lease(database: Database, name: str, owner: str) -> bool:
    async with database.transaction() as conn:
        result = await conn.execute(
            delete(lease_table).where(lease_table.c.name == name, lease_table.c.owner == owner)
        )
        return result.rowcount == 1
