"""Alembic migrations run programmatically, the same history on SQLite and PostgreSQL."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from aicc.core.db import Database

_PG_MIGRATION_LOCK = 0x41494343  # "AICC": replicas starting together migrate one at a time


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("aicc") / "migrations"))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
    command.upgrade(alembic_config(connection), revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(database: Database, revision: str = "head") -> None:
    async with database.transaction() as conn:
        await conn.run_sync(_upgrade, revision)


async def current_revision(database: Database) -> str | None:
    async with database.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def status(database: Database) -> dict[str, Any]:
    current = await current_revision(database)
    head = head_revision()
    return {"current": current, "head": head, "up_to_date": current == head}
