"""The worker's side of the table: claim due jobs under a lease, renew it, finish them, and
take back jobs whose worker vanished.

Every write after the claim is fenced by ``locked_by``: a worker that lost its claim (its
lease lapsed and another worker took the job) changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, and_, case, func, select, type_coerce, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.db import Database
from aicc.core.jobs.models import job_table as t
from aicc.core.jobs.queue import JOB_COLUMNS, NOTIFY_CHANNEL, aware, job_from_row, now
from aicc.core.jobs.types import Job, JobState

_ERROR_LIMIT = 4000


def _clip(error: str) -> str:
    return error if len(error) <= _ERROR_LIMIT else error[: _ERROR_LIMIT - 1] + "…"


async def claim(
    database: Database,
    worker: str,
    kinds: Sequence[str],
    limit: int,
    lease: float,
    *,
    cap: int | None = None,
) -> list[Job]:
    """Claim up to ``limit`` due jobs of ``kinds``, oldest due first.

    With ``cap`` (one kind only), no more than ``cap`` jobs of that kind run at once in the
    deployment: claimers of a capped kind take turns on a lock while they count.
    """
    if limit <= 0 or not kinds:
        return []
    if cap is not None:
        async with database.locked_transaction(f"jobs:cap:{kinds[0]}") as conn:
            at = now()
            running = await conn.execute(
                select(func.count()).where(
                    t.c.state == JobState.RUNNING.value,
                    t.c.kind == kinds[0],
                    t.c.locked_until >= at,
                )
            )
            limit = min(limit, cap - int(running.scalar_one()))
            return await _claim(conn, worker, kinds, limit, lease, at) if limit > 0 else []
    if database.dialect == "sqlite":
        async with database.locked_transaction("jobs:claim") as conn:
            return await _claim(conn, worker, kinds, limit, lease, now())
    async with database.transaction() as conn:
        return await _claim(conn, worker, kinds, limit, lease, now())


async def _claim(
    conn: AsyncConnection,
    worker: str,
    kinds: Sequence[str],
    limit: int,
    lease: float,
    at: datetime,
) -> list[Job]:
    due = (
        select(t.c.id)
        .where(t.c.state == JobState.QUEUED.value, t.c.kind.in_(kinds), t.c.run_at <= at)
        .order_by(t.c.run_at, t.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        picked = due.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        chosen: Any = select(picked.c.id)
    else:
        chosen = due
    result = await conn.execute(
        update(t)
        .where(t.c.id.in_(chosen), t.c.state == JobState.QUEUED.value)
        .values(
            state=JobState.RUNNING.value,
            attempt=t.c.attempt + 1,
            locked_by=worker,
            locked_until=at + timedelta(seconds=lease),
        )
        .returning(*JOB_COLUMNS)
    )
    jobs = [job_from_row(r) for r in result]
    jobs.sort(key=lambda j: (j.run_at, j.id))
    return jobs


async def complete(database: Database, worker: str, ids: Sequence[int]) -> int:
    """Mark finished jobs completed; returns how many were still ours."""
    async with database.transaction() as conn:
        return await complete_in(conn, worker, ids)


async def complete_in(conn: AsyncConnection, worker: str, ids: Sequence[int]) -> int:
    result = await conn.execute(
        update(t)
        .where(t.c.id.in_(ids), t.c.locked_by == worker, t.c.state == JobState.RUNNING.value)
        .values(
            state=JobState.COMPLETED.value, finished_at=now(), locked_by=None, locked_until=None
        )
    )
    return int(result.rowcount)


async def retry_later(
    database: Database, worker: str, job_id: int, delay: float, error: str
) -> bool:
    return await _settle(
        database,
        worker,
        job_id,
        state=JobState.QUEUED.value,
        run_at=now() + timedelta(seconds=delay),
        last_error=_clip(error),
    )


async def bury(database: Database, worker: str, job_id: int, error: str) -> bool:
    return await _settle(
        database,
        worker,
        job_id,
        state=JobState.DEAD.value,
        finished_at=now(),
        last_error=_clip(error),
    )


async def _settle(database: Database, worker: str, job_id: int, **values: Any) -> bool:
    """Record an attempt's outcome and drop the claim, if the claim is still ours."""
    async with database.transaction() as conn:
        result = await conn.execute(
            update(t)
            .where(t.c.id == job_id, t.c.locked_by == worker, t.c.state == JobState.RUNNING.value)
            .values(locked_by=None, locked_until=None, **values)
        )
        return int(result.rowcount) == 1


async def renew(database: Database, worker: str, ids: Sequence[int], lease: float) -> set[int]:
    """Extend the lease of our running jobs; returns the ids that are still ours."""
    if not ids:
        return set()
    async with database.transaction() as conn:
        result = await conn.execute(
            update(t)
            .where(t.c.id.in_(ids), t.c.locked_by == worker, t.c.state == JobState.RUNNING.value)
            .values(locked_until=now() + timedelta(seconds=lease))
            .returning(t.c.id)
        )
        return {int(r.id) for r in result}


async def release(
    database: Database, worker: str, requeue: Sequence[int], bury_ids: Sequence[int], reason: str
) -> None:
    """Give back claims at shutdown: requeued to run at once elsewhere (the interrupted attempt
    does not count), or dead when the outcome is unknown and the handler is not idempotent."""
    async with database.transaction() as conn:
        mine = and_(t.c.locked_by == worker, t.c.state == JobState.RUNNING.value)
        if requeue:
            await conn.execute(
                update(t)
                .where(t.c.id.in_(requeue), mine)
                .values(
                    state=JobState.QUEUED.value,
                    run_at=now(),
                    attempt=t.c.attempt - 1,
                    locked_by=None,
                    locked_until=None,
                )
            )
            if conn.dialect.name == "postgresql":
                kinds = select(t.c.kind).where(t.c.id.in_(requeue)).distinct()
                for (kind,) in (await conn.execute(kinds)).all():
                    await conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, kind)))
        if bury_ids:
            await conn.execute(
                update(t)
                .where(t.c.id.in_(bury_ids), mine)
                .values(
                    state=JobState.DEAD.value,
                    finished_at=now(),
                    locked_by=None,
                    locked_until=None,
                    last_error=reason,
                )
            )


async def rescue(database: Database, idempotent: Sequence[str], unsafe: Sequence[str]) -> int:
    """Take back jobs whose lease lapsed (their worker died or hung).

    Idempotent kinds run again (the lost attempt counts, so a job that kills its worker every
    time ends dead); other kinds go dead, their outcome unknown.
    """
    at = now()
    lapsed = and_(t.c.state == JobState.RUNNING.value, t.c.locked_until < at)
    lost = "its worker stopped renewing the claim (crashed or hung); outcome unknown"
    changed = 0
    async with database.transaction() as conn:
        if idempotent:
            again = await conn.execute(
                update(t)
                .where(lapsed, t.c.kind.in_(idempotent), t.c.attempt < t.c.max_attempts)
                .values(
                    state=JobState.QUEUED.value,
                    run_at=at,
                    locked_by=None,
                    locked_until=None,
                    last_error=lost,
                )
            )
            changed += int(again.rowcount)
        dead_kinds = [*idempotent, *unsafe]
        if dead_kinds:
            exhausted = t.c.attempt >= t.c.max_attempts
            condition = (
                t.c.kind.in_(unsafe) | (t.c.kind.in_(idempotent) & exhausted)
                if idempotent and unsafe
                else (t.c.kind.in_(unsafe) if unsafe else t.c.kind.in_(idempotent) & exhausted)
            )
            dead = await conn.execute(
                update(t)
                .where(lapsed, condition)
                .values(
                    state=JobState.DEAD.value,
                    finished_at=at,
                    locked_by=None,
                    locked_until=None,
                    last_error=lost + "; not run again automatically",
                )
            )
            changed += int(dead.rowcount)
        if changed and conn.dialect.name == "postgresql":
            await conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, "*")))
    return changed


async def prune(database: Database, kinds: Sequence[str], retention: float) -> int:
    """Delete completed and discarded jobs older than ``retention`` seconds, a batch at a time."""
    cutoff = now() - timedelta(seconds=retention)
    old = (
        select(t.c.id)
        .where(
            t.c.state.in_([JobState.COMPLETED.value, JobState.DISCARDED.value]),
            t.c.kind.in_(kinds),
            t.c.finished_at < cutoff,
        )
        .limit(5000)
    )
    async with database.transaction() as conn:
        result = await conn.execute(sql_delete(t).where(t.c.id.in_(old)))
        return int(result.rowcount)


async def next_due(database: Database, kinds: Sequence[str]) -> datetime | None:
    async with database.connect() as conn:
        result = await conn.execute(
            select(func.min(t.c.run_at)).where(
                t.c.state == JobState.QUEUED.value, t.c.kind.in_(kinds)
            )
        )
        found = result.scalar_one_or_none()
    return aware(found) if found else None


async def queue_stats(database: Database, kinds: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per kind: ``queued`` (waiting, scheduled included), ``dead``, and ``oldest_due``."""
    at = now()
    async with database.connect() as conn:
        result = await conn.execute(
            select(
                t.c.kind,
                t.c.state,
                func.count(),
                type_coerce(
                    func.min(case((t.c.run_at <= at, t.c.run_at), else_=None)),
                    DateTime(timezone=True),
                ),
            )
            .where(
                t.c.kind.in_(kinds),
                t.c.state.in_([JobState.QUEUED.value, JobState.DEAD.value]),
            )
            .group_by(t.c.kind, t.c.state)
        )
        rows = result.all()
    stats: dict[str, dict[str, Any]] = {
        k: {"queued": 0, "dead": 0, "oldest_due": None} for k in kinds
    }
    for kind, state, count, oldest in rows:
        entry = stats[kind]
        entry[state] = int(count)
        if state == JobState.QUEUED.value and oldest is not None:
            entry["oldest_due"] = aware(oldest)
    return stats


async def has_pending(database: Database, kind: str) -> bool:
    """A queued or running job of ``kind`` exists (a periodic run still waiting or going)."""
    async with database.connect() as conn:
        found = await conn.execute(
            select(t.c.id)
            .where(t.c.kind == kind, t.c.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]))
            .limit(1)
        )
        return found.first() is not None


async def supersede_dead(database: Database, kind: str) -> None:
    """A periodic task ran well: its earlier failed runs are discarded (kept until retention)."""
    async with database.transaction() as conn:
        await conn.execute(
            update(t)
            .where(t.c.kind == kind, t.c.state == JobState.DEAD.value)
            .values(state=JobState.DISCARDED.value, finished_at=now())
        )
