"""Enqueueing in the caller's transaction, idempotency keys, and the dead-letter operations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

from aicc.core.db import Database
from aicc.core.errors import Conflict, NotFound, ValidationFailed
from aicc.core.jobs import (
    JobState,
    discard_job,
    enqueue,
    enqueue_many,
    get_job,
    list_jobs,
    replay_job,
)
from aicc.core.jobs.models import job_table

business = Table(
    "test_business_row", MetaData(), Column("id", Integer, primary_key=True), Column("v", String)
)


async def _count_jobs(database: Database) -> int:
    async with database.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(job_table))).scalar_one())


class TestTransactionalEnqueue:
    async def test_job_commits_with_the_row_that_caused_it(self, database: Database) -> None:
        async with database.transaction() as conn:
            await conn.run_sync(business.create)
            await conn.execute(business.insert().values(id=1, v="message"))
            job = await enqueue(conn, "test.deliver", {"row": 1})
        async with database.connect() as conn:
            found = await get_job(conn, job.id)
        assert found.state is JobState.QUEUED
        assert found.payload == {"row": 1}
        assert found.attempt == 0 and found.max_attempts == 10

    async def test_job_rolls_back_with_the_row(self, database: Database) -> None:
        async with database.transaction() as conn:
            await conn.run_sync(business.create)
        with pytest.raises(RuntimeError):
            async with database.transaction() as conn:
                await conn.execute(business.insert().values(id=2, v="message"))
                await enqueue(conn, "test.deliver", {"row": 2})
                raise RuntimeError("the request failed after enqueueing")
        assert await _count_jobs(database) == 0
        async with database.connect() as conn:
            rows = (await conn.execute(select(business))).all()
        assert rows == []


class TestKeys:
    async def test_same_key_returns_the_first_job(self, database: Database) -> None:
        async with database.transaction() as conn:
            first = await enqueue(conn, "test.deliver", {"n": 1}, key="message-42")
        async with database.transaction() as conn:
            second = await enqueue(conn, "test.deliver", {"n": 2}, key="message-42")
        assert second.id == first.id
        assert second.payload == {"n": 1}
        assert await _count_jobs(database) == 1

    async def test_same_key_inside_one_transaction(self, database: Database) -> None:
        async with database.transaction() as conn:
            first = await enqueue(conn, "test.deliver", {"n": 1}, key="k")
            second = await enqueue(conn, "test.deliver", {"n": 2}, key="k")
        assert first.id == second.id

    async def test_keys_are_per_kind(self, database: Database) -> None:
        async with database.transaction() as conn:
            a = await enqueue(conn, "test.a", {}, key="same")
            b = await enqueue(conn, "test.b", {}, key="same")
        assert a.id != b.id

    async def test_jobs_without_keys_never_collide(self, database: Database) -> None:
        async with database.transaction() as conn:
            jobs = await enqueue_many(conn, "test.bulk", [{"i": i} for i in range(250)])
        assert len({j.id for j in jobs}) == 250
        assert await _count_jobs(database) == 250


class TestScheduling:
    async def test_run_at_is_kept(self, database: Database) -> None:
        later = datetime.now(UTC) + timedelta(hours=1)
        async with database.transaction() as conn:
            job = await enqueue(conn, "test.later", {}, run_at=later)
        assert abs((job.run_at - later).total_seconds()) < 0.001

    @pytest.mark.parametrize(
        ("kind", "key", "attempts"),
        [("", None, 1), ("k" * 121, None, 1), ("ok", "", 1), ("ok", "k" * 201, 1), ("ok", None, 0)],
    )
    async def test_bad_arguments_are_refused(
        self, database: Database, kind: str, key: str | None, attempts: int
    ) -> None:
        async with database.transaction() as conn:
            with pytest.raises(ValidationFailed) as refused:
                await enqueue(conn, kind, {}, key=key, max_attempts=attempts)
        assert refused.value.error_code == "invalid_job"


async def _dead_job(database: Database, kind: str = "test.dlq") -> int:
    async with database.transaction() as conn:
        job = await enqueue(conn, kind, {"to": "x"})
        await conn.execute(
            job_table.update()
            .where(job_table.c.id == job.id)
            .values(state="dead", attempt=10, last_error="boom", finished_at=datetime.now(UTC))
        )
    return job.id


class TestDeadLetters:
    async def test_list_filters_by_state_and_kind(self, database: Database) -> None:
        dead = await _dead_job(database)
        async with database.transaction() as conn:
            await enqueue(conn, "test.dlq", {})
            await enqueue(conn, "test.other", {})
        async with database.connect() as conn:
            jobs, total = await list_jobs(conn, kinds=["test.dlq"], states=[JobState.DEAD])
            everything, all_total = await list_jobs(conn, limit=2)
        assert [j.id for j in jobs] == [dead] and total == 1
        assert jobs[0].last_error == "boom"
        assert all_total == 3 and len(everything) == 2
        assert everything[0].id > everything[1].id

    async def test_replay_starts_over(self, database: Database) -> None:
        dead = await _dead_job(database)
        async with database.transaction() as conn:
            replayed = await replay_job(conn, dead)
        assert replayed.state is JobState.QUEUED
        assert replayed.attempt == 0
        assert replayed.last_error == "boom", "the last error stays visible until a new one"
        async with database.transaction() as conn:
            with pytest.raises(Conflict) as again:
                await replay_job(conn, dead)
        assert again.value.error_code == "job_not_replayable"

    async def test_discard_keeps_the_row(self, database: Database) -> None:
        dead = await _dead_job(database)
        async with database.transaction() as conn:
            discarded = await discard_job(conn, dead)
            assert discarded.state is JobState.DISCARDED
            assert (await get_job(conn, dead)).state is JobState.DISCARDED

    async def test_other_kinds_are_invisible(self, database: Database) -> None:
        dead = await _dead_job(database, kind="other.wing")
        async with database.transaction() as conn:
            with pytest.raises(NotFound):
                await get_job(conn, dead, kinds=["test.dlq"])
            with pytest.raises(NotFound):
                await replay_job(conn, dead, kinds=["test.dlq"])
