"""Claims and their leases: graceful stop gives jobs back at once, a vanished worker's jobs
return when its lease lapses, a lost claim stops its attempt, and concurrency caps hold
across workers."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from aicc.core.db import Database
from aicc.core.jobs import JobContext, JobState, enqueue, get_job
from aicc.core.jobs.models import job_table
from tests.core.jobs.support import Recorder, eventually, running_worker


async def _enqueue(database: Database, kind: str, **options: object) -> int:
    async with database.transaction() as conn:
        job = await enqueue(conn, kind, {}, **options)  # type: ignore[arg-type]
    return job.id


async def _job(database: Database, job_id: int) -> object:
    async with database.connect() as conn:
        return await get_job(conn, job_id)


async def _state(database: Database, job_id: int) -> JobState:
    async with database.connect() as conn:
        return (await get_job(conn, job_id)).state


def _sleeper(seconds: float) -> Recorder:
    async def sleep(_: JobContext) -> None:
        await asyncio.sleep(seconds)

    return Recorder(behaviour=sleep)


class TestGracefulStop:
    async def test_running_jobs_finish_within_the_timeout(self, database: Database) -> None:
        recorder = _sleeper(0.3)
        async with running_worker(database, [recorder.handler()], stop_timeout=5) as worker:
            job_id = await _enqueue(database, recorder.kind)
            await eventually(lambda: worker.running == 1)
            stopping = time.monotonic()
        assert time.monotonic() - stopping < 2
        assert await _state(database, job_id) is JobState.COMPLETED

    async def test_unfinished_jobs_are_given_back_for_another_worker_at_once(
        self, database: Database
    ) -> None:
        slow = _sleeper(30)
        async with running_worker(database, [slow.handler()], stop_timeout=0.2) as worker:
            job_id = await _enqueue(database, slow.kind)
            await eventually(lambda: worker.running == 1)
        async with database.connect() as conn:
            job = await get_job(conn, job_id)
        assert job.state is JobState.QUEUED
        assert job.attempt == 0, "an attempt interrupted by a shutdown does not count"

        quick = Recorder(kind=slow.kind)
        async with running_worker(database, [quick.handler()], poll_interval=30):
            await eventually(lambda: quick.ran(job_id) == 1, timeout=1.0)
        assert await _state(database, job_id) is JobState.COMPLETED

    async def test_an_interrupted_unsafe_job_waits_for_an_operator(
        self, database: Database
    ) -> None:
        slow = _sleeper(30)
        handler = slow.handler(idempotent=False)
        async with running_worker(database, [handler], stop_timeout=0.2) as worker:
            job_id = await _enqueue(database, slow.kind)
            await eventually(lambda: worker.running == 1)
        async with database.connect() as conn:
            job = await get_job(conn, job_id)
        assert job.state is JobState.DEAD
        assert job.last_error == "interrupted by a shutdown; outcome unknown"


async def _abandon(database: Database, job_id: int, *, attempt: int = 1) -> None:
    """Make the job look claimed by a worker that died a minute ago."""
    async with database.transaction() as conn:
        await conn.execute(
            update(job_table)
            .where(job_table.c.id == job_id)
            .values(
                state="running",
                attempt=attempt,
                locked_by="dead-worker",
                locked_until=datetime.now(UTC) - timedelta(seconds=60),
            )
        )


class TestVanishedWorkers:
    async def test_a_lapsed_claim_is_taken_back_and_run(self, database: Database) -> None:
        recorder = Recorder()
        job_id = await _enqueue(database, recorder.kind)
        await _abandon(database, job_id)
        async with running_worker(database, [recorder.handler()], lease=3):
            await eventually(lambda: recorder.ran(job_id) == 1, timeout=5)
            await eventually(lambda: _is(database, job_id, JobState.COMPLETED))
        assert recorder.attempts[0][1] == 2, "the lost attempt counted"

    async def test_a_job_that_keeps_killing_its_worker_ends_dead(self, database: Database) -> None:
        recorder = Recorder()
        job_id = await _enqueue(database, recorder.kind, max_attempts=3)
        await _abandon(database, job_id, attempt=3)
        async with running_worker(database, [recorder.handler()], lease=3):
            await eventually(lambda: _is(database, job_id, JobState.DEAD), timeout=5)
        assert recorder.ran(job_id) == 0

    async def test_a_lapsed_unsafe_job_is_not_run_again(self, database: Database) -> None:
        recorder = Recorder()
        job_id = await _enqueue(database, recorder.kind)
        await _abandon(database, job_id)
        async with running_worker(database, [recorder.handler(idempotent=False)], lease=3):
            await eventually(lambda: _is(database, job_id, JobState.DEAD), timeout=5)
        assert recorder.ran(job_id) == 0

    async def test_a_live_claim_is_renewed_past_its_lease(self, database: Database) -> None:
        recorder = _sleeper(2.5)
        async with running_worker(database, [recorder.handler(timeout=10)], lease=1) as worker:
            job_id = await _enqueue(database, recorder.kind)
            await eventually(lambda: _is(database, job_id, JobState.COMPLETED), timeout=10)
            assert worker.running == 0
        assert recorder.ran(job_id) == 1

    async def test_a_worker_that_lost_its_claim_stops_the_attempt(self, database: Database) -> None:
        cancelled = asyncio.Event()

        async def hang(_: JobContext) -> None:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        recorder = Recorder(behaviour=hang)
        async with running_worker(database, [recorder.handler(timeout=60)], lease=1.5) as worker:
            job_id = await _enqueue(database, recorder.kind)
            await eventually(lambda: worker.running == 1)
            async with database.transaction() as conn:
                await conn.execute(
                    update(job_table).where(job_table.c.id == job_id).values(locked_by="thief")
                )
            await asyncio.wait_for(cancelled.wait(), 5)
            await eventually(lambda: worker.running == 0)


class TestConcurrencyCap:
    async def test_the_cap_holds_across_workers(self, database: Database) -> None:
        active = 0
        peak = 0

        async def measured(_: JobContext) -> None:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.1)
            active -= 1

        first = Recorder(kind="test.capped", behaviour=measured)
        second = Recorder(kind="test.capped", behaviour=measured)
        async with (
            running_worker(database, [first.handler(concurrency=2)], poll_interval=0.2),
            running_worker(database, [second.handler(concurrency=2)], poll_interval=0.2),
        ):
            ids = [await _enqueue(database, "test.capped") for _ in range(12)]
            await eventually(
                lambda: _all(database, ids, JobState.COMPLETED), timeout=20, interval=0.05
            )
        assert peak == 2
        assert len(first.attempts) + len(second.attempts) == 12


async def _is(database: Database, job_id: int, state: JobState) -> bool:
    return await _state(database, job_id) is state


async def _all(database: Database, ids: list[int], state: JobState) -> bool:
    return all([await _is(database, i, state) for i in ids])
