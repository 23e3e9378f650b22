"""Workers run jobs once they are committed, retry with backoff, give up into dead letters,
and honour timeouts, idempotency and the handler's own transaction."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import generate_latest
from sqlalchemy import Column, Integer, MetaData, Table, func, select, update

from aicc.core.db import Database
from aicc.core.jobs import (
    JobContext,
    JobState,
    PermanentFailure,
    Retry,
    enqueue,
    get_job,
)
from aicc.core.jobs.models import job_table
from tests.core.jobs.support import Recorder, eventually, running_worker


async def _state(database: Database, job_id: int) -> JobState:
    async with database.connect() as conn:
        return (await get_job(conn, job_id)).state


async def _enqueue(
    database: Database, kind: str, payload: dict[str, object] | None = None, **options: object
) -> int:
    async with database.transaction() as conn:
        job = await enqueue(conn, kind, payload or {}, **options)  # type: ignore[arg-type]
    return job.id


class TestRunning:
    async def test_a_committed_job_runs_once_and_completes(self, database: Database) -> None:
        recorder = Recorder()
        async with running_worker(database, [recorder.handler()]) as worker:
            job_id = await _enqueue(database, recorder.kind, {"to": "customer"})
            await eventually(lambda: _state_is(database, job_id, JobState.COMPLETED))
            assert recorder.attempts == [(job_id, 1, {"to": "customer"})]
            text = generate_latest(worker.registry).decode()  # type: ignore[attr-defined]
        assert 'aicc_jobs_processed_total{kind="test.record",outcome="completed"} 1.0' in text
        assert 'aicc_job_duration_seconds_count{kind="test.record"} 1.0' in text

    async def test_an_idle_worker_starts_a_new_job_within_100ms(self, database: Database) -> None:
        recorder = Recorder()
        async with running_worker(database, [recorder.handler()], poll_interval=30):
            await asyncio.sleep(0.3)
            for _ in range(5):
                enqueued = time.monotonic()
                job_id = await _enqueue(database, recorder.kind)
                await eventually(lambda j=job_id: j in recorder.started_at, timeout=5)
                assert recorder.started_at[job_id] - enqueued < 0.1

    async def test_jobs_of_other_kinds_are_left_alone(self, database: Database) -> None:
        recorder = Recorder()
        async with running_worker(database, [recorder.handler()]):
            other = await _enqueue(database, "someone.else")
            mine = await _enqueue(database, recorder.kind)
            await eventually(lambda: _state_is(database, mine, JobState.COMPLETED))
        assert await _state(database, other) is JobState.QUEUED

    async def test_a_scheduled_job_waits_for_its_time(self, database: Database) -> None:
        from datetime import UTC, datetime, timedelta

        recorder = Recorder()
        async with running_worker(database, [recorder.handler()], poll_interval=30):
            at = datetime.now(UTC) + timedelta(seconds=0.5)
            enqueued = time.monotonic()
            job_id = await _enqueue(database, recorder.kind, run_at=at)
            await eventually(lambda: job_id in recorder.started_at, timeout=5)
        waited = recorder.started_at[job_id] - enqueued
        assert 0.45 <= waited < 1.5


class TestRetries:
    async def test_retry_after_is_honoured(self, database: Database) -> None:
        async def throttled(ctx: JobContext) -> Retry | None:
            return Retry("429 from provider", after=0.4) if ctx.attempt == 1 else None

        recorder = Recorder(behaviour=throttled)
        async with running_worker(database, [recorder.handler()]):
            job_id = await _enqueue(database, recorder.kind)
            await eventually(lambda: _state_is(database, job_id, JobState.COMPLETED))
        times = [
            at
            for (ran, _, _), at in zip(recorder.attempts, recorder.attempt_times, strict=True)
            if ran == job_id
        ]
        assert len(times) == 2
        assert times[1] - times[0] >= 0.39

    async def test_errors_back_off_then_go_dead_with_the_last_error(
        self, database: Database
    ) -> None:
        async def broken(ctx: JobContext) -> None:
            raise ValueError(f"provider said no ({ctx.attempt})")

        recorder = Recorder(behaviour=broken)
        handler = recorder.handler(backoff_base=0.01, backoff_max=0.05)
        async with running_worker(database, [handler]) as worker:
            job_id = await _enqueue(database, recorder.kind, max_attempts=3)
            await eventually(lambda: _state_is(database, job_id, JobState.DEAD))
            await worker.refresh_stats()
            text = generate_latest(worker.registry).decode()  # type: ignore[attr-defined]
        async with database.connect() as conn:
            job = await get_job(conn, job_id)
        assert job.attempt == 3 and recorder.ran(job_id) == 3
        assert job.last_error == "gave up after 3 attempt(s): ValueError: provider said no (3)"
        assert 'aicc_jobs_dead{kind="test.record"} 1.0' in text
        assert 'aicc_jobs_processed_total{kind="test.record",outcome="retried"} 2.0' in text
        assert 'aicc_jobs_processed_total{kind="test.record",outcome="dead"} 1.0' in text

    async def test_permanent_failure_is_not_retried(self, database: Database) -> None:
        async def refused(_: JobContext) -> None:
            raise PermanentFailure("400: invalid phone number")

        recorder = Recorder(behaviour=refused)
        async with running_worker(database, [recorder.handler()]):
            job_id = await _enqueue(database, recorder.kind)
            await eventually(lambda: _state_is(database, job_id, JobState.DEAD))
        assert recorder.ran(job_id) == 1
        async with database.connect() as conn:
            assert (await get_job(conn, job_id)).last_error == "400: invalid phone number"


class TestTimeoutsAndIdempotency:
    async def test_a_timed_out_idempotent_job_runs_again(self, database: Database) -> None:
        async def slow_once(ctx: JobContext) -> None:
            if ctx.attempt == 1:
                await asyncio.sleep(5)

        recorder = Recorder(behaviour=slow_once)
        handler = recorder.handler(timeout=0.2, backoff_base=0.01)
        async with running_worker(database, [handler]):
            job_id = await _enqueue(database, recorder.kind)
            await eventually(lambda: _state_is(database, job_id, JobState.COMPLETED))
        assert recorder.ran(job_id) == 2

    async def test_a_timed_out_unsafe_job_goes_dead_for_an_operator(
        self, database: Database
    ) -> None:
        async def slow(_: JobContext) -> None:
            await asyncio.sleep(5)

        recorder = Recorder(behaviour=slow)
        handler = recorder.handler(timeout=0.2, idempotent=False)
        async with running_worker(database, [handler]):
            job_id = await _enqueue(database, recorder.kind)
            await eventually(lambda: _state_is(database, job_id, JobState.DEAD))
        async with database.connect() as conn:
            job = await get_job(conn, job_id)
        assert recorder.ran(job_id) == 1
        assert job.last_error == "timed out after 0.2s; outcome unknown"

    async def test_an_unsafe_job_is_retried_only_when_it_asks(self, database: Database) -> None:
        async def careful(ctx: JobContext) -> Retry | None:
            if ctx.attempt == 1:
                return Retry("connection refused before sending", after=0)
            raise OSError("connection reset while waiting for the answer")

        recorder = Recorder(behaviour=careful)
        async with running_worker(database, [recorder.handler(idempotent=False)]):
            job_id = await _enqueue(database, recorder.kind)
            await eventually(lambda: _state_is(database, job_id, JobState.DEAD))
        async with database.connect() as conn:
            job = await get_job(conn, job_id)
        assert recorder.ran(job_id) == 2
        assert job.last_error is not None and job.last_error.endswith("outcome unknown")


runs = Table("test_job_runs", MetaData(), Column("job_id", Integer, primary_key=True))


class TestHandlerTransaction:
    async def test_writes_and_completion_commit_together(self, database: Database) -> None:
        async with database.transaction() as conn:
            await conn.run_sync(runs.create)

        async def record(ctx: JobContext) -> None:
            async with ctx.transaction() as conn:
                await conn.execute(runs.insert().values(job_id=ctx.job.id))

        recorder = Recorder(behaviour=record)
        async with running_worker(database, [recorder.handler()]):
            job_id = await _enqueue(database, recorder.kind)
            await eventually(lambda: _state_is(database, job_id, JobState.COMPLETED))
        assert await _count(database, runs) == 1

    async def test_a_lost_claim_commits_nothing(self, database: Database) -> None:
        async with database.transaction() as conn:
            await conn.run_sync(runs.create)

        async def stolen(ctx: JobContext) -> None:
            async with database.transaction() as conn:
                await conn.execute(
                    update(job_table)
                    .where(job_table.c.id == ctx.job.id)
                    .values(locked_by="another-worker")
                )
            async with ctx.transaction() as conn:
                await conn.execute(runs.insert().values(job_id=ctx.job.id))

        recorder = Recorder(behaviour=stolen)
        async with running_worker(database, [recorder.handler()]) as worker:
            job_id = await _enqueue(database, recorder.kind)
            await eventually(lambda: recorder.ran(job_id) == 1)
            await eventually(lambda: worker.running == 0)
        assert await _count(database, runs) == 0
        async with database.connect() as conn:
            job = await get_job(conn, job_id)
        assert job.state is JobState.RUNNING and job.locked_by == "another-worker"


async def _count(database: Database, table: Table) -> int:
    async with database.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def _state_is(database: Database, job_id: int, state: JobState) -> bool:
    return await _state(database, job_id) is state
