"""The migrations build exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import aicc.auth.models  # noqa: F401  (registers the auth tables)
import aicc.core.leases  # noqa: F401  (registers the core tables)
from aicc.core.db import Database, metadata
from aicc.core.migrate import upgrade


async def test_models_and_migrations_agree(database_url: str) -> None:
    database = Database(database_url)
    try:
        await upgrade(database)
        async with database.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await database.close()
    assert differences == []
