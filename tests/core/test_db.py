"""The database layer and migrations, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import inspect, text

from aicc.core.db import Database, async_url
from aicc.core.errors import ConfigError
from aicc.core.leases import acquire_lease, release_lease
from aicc.core.migrate import current_revision, head_revision, status, upgrade


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.close()


class TestAsyncUrl:
    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
            ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
            ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
            ("sqlite:///var/aicc.db", "sqlite+aiosqlite:///var/aicc.db"),
        ],
    )
    def test_spec_urls_map_to_async_drivers(self, given: str, expected: str) -> None:
        assert async_url(given) == expected

    @pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", ""])
    def test_unsupported_urls_are_config_errors(self, url: str) -> None:
        with pytest.raises(ConfigError, match="DATABASE_URL"):
            async_url(url)


class TestMigrations:
    async def test_fresh_database_upgrades_to_head(self, database: Database) -> None:
        assert await current_revision(database) is None
        await upgrade(database)
        state = await status(database)
        assert state == {
            "current": head_revision(),
            "head": head_revision(),
            "up_to_date": True,
            "known": True,
        }
        async with database.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert "core_lease" in tables

    async def test_upgrade_is_idempotent(self, database: Database) -> None:
        await upgrade(database)
        await upgrade(database)
        assert (await status(database))["up_to_date"]

    async def test_downgrade_to_base_and_back(self, database: Database) -> None:
        await upgrade(database)
        await _downgrade_to_base(database)
        async with database.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert "core_lease" not in tables
        await upgrade(database)
        assert (await status(database))["up_to_date"]


async def _downgrade_to_base(database: Database) -> None:
    from alembic import command

    from aicc.core.migrate import alembic_config

    async with database.transaction() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "base"))


class TestLeases:
    async def test_one_owner_at_a_time(self, database: Database) -> None:
        await upgrade(database)
        assert await acquire_lease(database, "purge", "replica-a", ttl=30)
        assert not await acquire_lease(database, "purge", "replica-b", ttl=30)
        assert await acquire_lease(database, "purge", "replica-a", ttl=30), "owner renews"
        assert await acquire_lease(database, "other-job", "replica-b", ttl=30)

    async def test_expired_lease_is_taken_over(self, database: Database) -> None:
        await upgrade(database)
        assert await acquire_lease(database, "evaluator", "replica-a", ttl=0.05)
        await asyncio.sleep(0.1)
        assert await acquire_lease(database, "evaluator", "replica-b", ttl=30)
        assert not await release_lease(database, "evaluator", "replica-a"), "stale owner"
        assert await release_lease(database, "evaluator", "replica-b")
        assert await acquire_lease(database, "evaluator", "replica-a", ttl=30)

    async def test_concurrent_acquires_have_one_winner(self, database: Database) -> None:
        await upgrade(database)
        owners = [f"replica-{i}" for i in range(8)]
        results = await asyncio.gather(
            *(acquire_lease(database, "poller", owner, ttl=30) for owner in owners)
        )
        assert sum(results) == 1


class TestDatabaseMetrics:
    async def test_queries_are_timed_and_connections_counted(self, database: Database) -> None:
        def observed() -> float:
            for metric in database.metrics.query_duration.collect():
                for sample in metric.samples:
                    if sample.name.endswith("_count"):
                        return sample.value
            return 0.0

        before = observed()
        async with database.connect() as conn:
            await conn.execute(text("SELECT 1"))
            assert database.metrics.connections_active._value.get() >= 1
            await conn.execute(text("SELECT 2"))
        assert observed() >= before + 2
        assert database.metrics.connections_active._value.get() == 0

    async def test_ping_fails_when_unreachable(self) -> None:
        db = Database("postgresql://nobody@127.0.0.1:1/none")
        try:
            with pytest.raises(OSError):
                await db.ping()
        finally:
            await db.close()
