"""Alembic migrations run programmatically, the same history on SQLite and PostgreSQL.

Every service applies pending migrations when it starts (``AICC_AUTO_MIGRATE``, on by
default). Replicas starting together queue on one lock: the first migrates, the others then
find nothing to do. A database whose schema is newer than the code is never written to.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from aicc.core.db import Database
from aicc.core.errors import ConfigError

MIGRATION_LOCK = "aicc:migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("aicc") / "migrations"))
    config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def known_revision(revision: str) -> bool:
    """Whether this code's migration history contains ``revision``."""
    try:
        return _scripts().get_revision(revision) is not None
    except Exception:
        return False


def newer_schema_error(current: str, head: str | None) -> ConfigError:
    return ConfigError(
        f"the database schema is at revision {current!r}, which this code does not know "
        f"(its newest is {head!r}): the database was migrated by a newer release; run that "
        "release here, this one must not write into a schema it does not know"
    )


def _upgrade(connection: Connection, revision: str) -> None:
    current = _current(connection)
    if current is not None and not known_revision(current):
        raise newer_schema_error(current, head_revision())
    command.upgrade(alembic_config(connection), revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(database: Database, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` while holding the migration lock."""
    async with database.locked_transaction(MIGRATION_LOCK) as conn:
        await conn.run_sync(_upgrade, revision)


async def current_revision(database: Database) -> str | None:
    async with database.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    return _scripts().get_current_head()


async def status(database: Database) -> dict[str, Any]:
    current = await current_revision(database)
    head = head_revision()
    known = current is None or known_revision(current)
    return {"current": current, "head": head, "up_to_date": current == head, "known": known}


async def ensure_schema(database: Database, *, auto_migrate: bool) -> None:
    """Migrate (``auto_migrate``) or check that the schema is exactly what the code expects."""
    if auto_migrate:
        await upgrade(database)
        return
    state = await status(database)
    if not state["known"]:
        raise newer_schema_error(state["current"], state["head"])
    if not state["up_to_date"]:
        raise ConfigError(
            f"database schema is at {state['current']!r}, code expects {state['head']!r}: "
            "run `aicc db upgrade` (or leave AICC_AUTO_MIGRATE on)"
        )
