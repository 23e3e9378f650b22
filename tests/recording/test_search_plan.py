"""A later page of the recording search seeks to its cursor through the ``started_at`` index
instead of walking every newer recording (a list of 100,000 recordings pages in constant
time), on SQLite and on PostgreSQL; and its pages are the right ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, text

from aicc.core.db import Database, metadata
from aicc.core.keys.models import data_key_table
from aicc.recording import catalog, models

ROWS = 3000


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'search.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    async with db.transaction() as conn:
        await conn.run_sync(lambda sync: metadata.create_all(sync, [models.item, data_key_table]))
        base = datetime(2026, 1, 1, tzinfo=UTC)
        await conn.execute(
            insert(models.item),
            [
                {
                    "id": f"{n:032x}",
                    "type": "voice",
                    "source": "import",
                    "status": "completed",
                    "session_id": f"s-{n}",
                    "agent_id": f"agent-{n % 7}",
                    "customer_id": f"c-{n % 50}",
                    "received_bytes": 0,
                    "spool_seq": 0,
                    "message_count": 0,
                    "recovered": False,
                    # Pairs share an instant: the cursor must tell them apart by id.
                    "started_at": base + timedelta(seconds=n // 2),
                    "last_audio_at": base,
                }
                for n in range(ROWS)
            ],
        )
        await conn.execute(text("ANALYZE"))
    yield db
    await db.close()


async def test_a_later_page_seeks_to_its_cursor(database: Database) -> None:
    seen: list[str] = []
    cursor = None
    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "ORDER BY recording_item.started_at DESC" in statement:
            statements.append((statement, parameters))

    event.listen(database.engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with database.connect() as conn:
            for _ in range(3):
                items, cursor = await catalog.search(
                    conn, None, filters={}, since=None, until=None, cursor=cursor, limit=501
                )
                seen += [item["recording_id"] for item in items]
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", capture)
    assert seen == [f"{n:032x}" for n in reversed(range(ROWS))][: len(seen)]
    assert len(seen) == 3 * 501 and cursor is not None

    statement, parameters = statements[-1]
    async with database.connect() as conn:
        if database.dialect == "sqlite":
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plan = " | ".join(str(row[-1]) for row in rows)
            assert "SEARCH recording_item USING INDEX ix_recording_item_started (started_at<?)" in (
                plan
            ), plan
        else:
            # Whether the planner prefers the index at this size is its business; that the
            # index can seek to the cursor is what this checks.
            await conn.execute(text("SET enable_seqscan = off"))
            rows = await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            plan = " | ".join(str(row[0]) for row in rows)
            assert "ix_recording_item_started" in plan, plan
            assert "Index Cond: (started_at <=" in plan, plan
