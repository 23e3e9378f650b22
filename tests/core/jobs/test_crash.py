"""``kill -9`` of a worker process mid-job loses nothing and doubles nothing: its jobs are
claimed again once their lease lapses and each completes exactly once; the periodic tasks it
led are taken over within one lease."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from aicc.core.db import Database
from aicc.core.jobs import JobState, enqueue_many
from aicc.core.jobs.models import job_table
from tests.core.jobs.support import eventually
from tests.core.jobs.worker_process import crash_runs, crash_ticks, tables

LEASE = 2.0
ROOT = Path(__file__).resolve().parents[3]


class Worker:
    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.core.jobs.worker_process", url, str(LEASE)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", f"worker did not start: {line!r}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def workers(database_url: str) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.kill()


async def _scalar(database: Database, query: object) -> int:
    async with database.connect() as conn:
        return int((await conn.execute(query)).scalar_one())  # type: ignore[call-overload]


async def test_kill_9_mid_job_loses_and_doubles_nothing(
    database: Database, database_url: str, workers: list[Worker]
) -> None:
    async with database.transaction() as conn:
        await conn.run_sync(tables.create_all)
        jobs = await enqueue_many(conn, "test.crash", [{"sleep": 0.3} for _ in range(120)])
    ids = {j.id for j in jobs}

    workers.append(Worker(database_url))
    runs = select(func.count()).select_from(crash_runs)
    await eventually(lambda: _at_least(database, runs, 20), timeout=30)
    workers[0].kill()
    killed = time.monotonic()
    in_flight = await _scalar(
        database,
        select(func.count()).where(
            job_table.c.state == JobState.RUNNING.value, job_table.c.kind == "test.crash"
        ),
    )
    assert in_flight > 0, "some jobs were mid-run when the worker died"

    workers.append(Worker(database_url))
    done = select(func.count()).where(
        job_table.c.state == JobState.COMPLETED.value, job_table.c.kind == "test.crash"
    )
    await eventually(lambda: _at_least(database, done, len(ids)), timeout=60, interval=0.1)
    assert time.monotonic() - killed >= LEASE - 0.5, "taken back only after the lease lapsed"

    async with database.connect() as conn:
        counted = await conn.execute(
            select(crash_runs.c.job_id, func.count()).group_by(crash_runs.c.job_id)
        )
        per_job: dict[int, int] = {row[0]: row[1] for row in counted}
    assert set(per_job) == ids, "every job completed"
    assert set(per_job.values()) == {1}, "no job completed twice"


async def test_a_killed_leader_is_replaced_within_one_lease(
    database: Database, database_url: str, workers: list[Worker]
) -> None:
    async with database.transaction() as conn:
        await conn.run_sync(tables.create_all)
    workers.append(Worker(database_url))
    first_pid = workers[0].proc.pid
    ticks_of_first = select(func.count()).where(crash_ticks.c.pid == first_pid)
    await eventually(lambda: _at_least(database, ticks_of_first, 1), timeout=10)
    workers.append(Worker(database_url))
    workers[0].kill()
    killed = time.monotonic()
    second_pid = workers[1].proc.pid
    ticks_of_second = select(func.count()).where(crash_ticks.c.pid == second_pid)
    await eventually(lambda: _at_least(database, ticks_of_second, 1), timeout=LEASE + 5)
    assert time.monotonic() - killed < LEASE + 2.5
    async with database.connect() as conn:
        keys = [r.k for r in await conn.execute(select(crash_ticks.c.k))]
    assert len(keys) == len(set(keys)), "no period ran twice"


async def _at_least(database: Database, query: object, n: int) -> bool:
    return await _scalar(database, query) >= n
