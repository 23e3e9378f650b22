"""The migrations build exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from aicc.auth import models as auth_tables
from aicc.core import leases as core_tables
from aicc.core.db import Database, metadata
from aicc.core.jobs import models as job_tables
from aicc.core.keys import models as key_tables
from aicc.core.migrate import upgrade
from aicc.integration import models as integration_tables
from aicc.monitoring import alert_models as monitoring_alert_tables
from aicc.monitoring import models as monitoring_tables
from aicc.recording import models as recording_tables

DECLARING_MODULES = (
    auth_tables,
    core_tables,
    integration_tables,
    job_tables,
    key_tables,
    monitoring_alert_tables,
    monitoring_tables,
    recording_tables,
)
"""Importing them puts their tables on ``metadata``."""


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
