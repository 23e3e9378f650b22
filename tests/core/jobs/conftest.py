from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aicc.core.db import Database
from aicc.core.migrate import upgrade


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated database (SQLite file, then a fresh PostgreSQL database)."""
    db = Database(database_url)
    await upgrade(db)
    yield db
    await db.close()
