"""Periodic tasks run once per period in the whole deployment, however many replicas register
them, and a leader that goes away is replaced within one lease."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

from sqlalchemy import select

from aicc.core.db import Database
from aicc.core.jobs import JobContext, JobState, PeriodicTask
from aicc.core.jobs.models import job_table
from tests.core.jobs.support import eventually, running_worker


async def _runs(database: Database, kind: str) -> list[tuple[str, str | None]]:
    async with database.connect() as conn:
        rows = await conn.execute(
            select(job_table.c.state, job_table.c.key).where(job_table.c.kind == kind)
        )
        return [(r.state, r.key) for r in rows]


class TestOncePerDeployment:
    async def test_three_replicas_run_each_period_once(self, database: Database) -> None:
        periods: list[str | None] = []

        async def tick(ctx: JobContext) -> None:
            periods.append(ctx.job.key)

        task = PeriodicTask("test.tick", every=1, run=tick)
        started = time.monotonic()
        async with (
            running_worker(database, periodic=[task], lease=3),
            running_worker(database, periodic=[task], lease=3),
            running_worker(database, periodic=[task], lease=3),
        ):
            await asyncio.sleep(3.6)
        elapsed = time.monotonic() - started
        assert 2 <= len(periods) <= math.ceil(elapsed) + 1, "a window touches ceil(t)+1 periods"
        assert len(periods) == len(set(periods)), "one run per period"
        runs = await _runs(database, "test.tick")
        assert len({key for _, key in runs}) == len(runs)

    async def test_a_new_leader_takes_over_within_one_lease(self, database: Database) -> None:
        ran: list[float] = []

        async def tick(_: JobContext) -> None:
            ran.append(time.monotonic())

        task = PeriodicTask("test.handover", every=1, run=tick)
        lease = 2.0
        async with contextlib.AsyncExitStack() as leading:
            leader = await leading.enter_async_context(
                running_worker(database, periodic=[task], lease=lease)
            )
            await eventually(lambda: bool(leader.scheduler.leading))
            async with running_worker(database, periodic=[task], lease=lease) as standby:
                await eventually(lambda: len(ran) >= 1, timeout=5)
                assert not standby.scheduler.leading
                await leading.aclose()
                gone = time.monotonic()
                await eventually(lambda: bool(standby.scheduler.leading), timeout=lease + 2)
                await eventually(lambda: any(t > gone for t in ran), timeout=lease + 3)
        took_over = min(t for t in ran if t > gone) - gone
        assert took_over < 2.0, "a leader that stops hands over at once"


class TestFailures:
    async def test_a_failed_run_is_dead_until_a_later_run_succeeds(
        self, database: Database
    ) -> None:
        calls = 0

        async def flaky(_: JobContext) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("purge failed")

        task = PeriodicTask("test.flaky", every=1, run=flaky)
        async with running_worker(database, periodic=[task], lease=3):
            await eventually(lambda: _has(database, "test.flaky", JobState.DEAD.value), timeout=5)
            await eventually(
                lambda: _has(database, "test.flaky", JobState.DISCARDED.value), timeout=5
            )
        states = [state for state, _ in await _runs(database, "test.flaky")]
        assert JobState.DEAD.value not in states


async def _has(database: Database, kind: str, state: str) -> bool:
    return any(s == state for s, _ in await _runs(database, kind))


class TestInLeader:
    """Tasks whose state lives in one process run in the leader's own process."""

    async def test_only_the_leaders_process_runs_it_and_no_job_row_is_written(
        self, database: Database
    ) -> None:
        ran_in: list[str] = []

        def task_for(replica: str) -> PeriodicTask:
            async def tick(ctx: JobContext) -> None:
                ran_in.append(replica)
                assert ctx.job.kind == "test.local"

            return PeriodicTask("test.local", every=1, run=tick, in_leader=True)

        async with (
            running_worker(database, periodic=[task_for("a")], lease=10) as first,
            running_worker(database, periodic=[task_for("b")], lease=10) as second,
        ):
            await eventually(lambda: len(ran_in) >= 3, timeout=6)
            leader = "a" if first.scheduler.leading else "b"
            assert (second if leader == "a" else first).scheduler.leading == frozenset()
            assert set(ran_in) == {leader}, "while one leads, only its process runs the task"
        assert await _runs(database, "test.local") == []

    async def test_wake_runs_it_once_more_at_the_moment_asked(self, database: Database) -> None:
        ran: list[float] = []

        async def tick(_: JobContext) -> None:
            ran.append(time.time())

        task = PeriodicTask("test.woken", every=30, run=tick, in_leader=True)
        async with running_worker(database, periodic=[task], lease=3) as worker:
            await eventually(lambda: len(ran) == 1, timeout=5)
            at = time.time() + 0.5
            worker.scheduler.wake("test.woken", at)
            await eventually(lambda: len(ran) == 2, timeout=3)
            await asyncio.sleep(0.5)
        assert ran[1] >= at
        assert ran[1] - at < 0.3, "woken on time, not at the next period or scheduling tick"
        assert len(ran) == 2

    async def test_a_run_still_going_is_not_joined_by_another(self, database: Database) -> None:
        going = 0
        most = 0

        async def slow(_: JobContext) -> None:
            nonlocal going, most
            going += 1
            most = max(most, going)
            await asyncio.sleep(1.6)
            going -= 1

        task = PeriodicTask("test.slow-local", every=1, run=slow, in_leader=True)
        async with running_worker(database, periodic=[task], lease=3):
            await asyncio.sleep(3.5)
        assert most == 1
