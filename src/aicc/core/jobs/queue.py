"""Putting jobs in and looking after them: enqueue inside the caller's transaction (the
transactional outbox), then list, read, replay and discard them.

A job commits or rolls back with the row that caused it. Workers hear about it when the
transaction commits: PostgreSQL ``NOTIFY`` (delivered on commit, to every process) and this
process's commit listeners.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.db import mark_for_commit
from aicc.core.errors import Conflict, NotFound, ValidationFailed
from aicc.core.jobs.models import job_table as t
from aicc.core.jobs.types import DEFAULT_MAX_ATTEMPTS, Job, JobState

NOTIFY_CHANNEL = "aicc_jobs"
"""PostgreSQL channel; the payload is the job's kind."""
COMMIT_TOPIC_PREFIX = "job:"

JOB_COLUMNS = (
    t.c.id,
    t.c.kind,
    t.c.key,
    t.c.payload,
    t.c.state,
    t.c.attempt,
    t.c.max_attempts,
    t.c.run_at,
    t.c.created_at,
    t.c.finished_at,
    t.c.last_error,
    t.c.locked_by,
    t.c.locked_until,
)


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def job_from_row(row: Any) -> Job:
    """A :class:`Job` from a result row holding every column of ``core_job``."""
    m = row._mapping
    return Job(
        id=int(m["id"]),
        kind=m["kind"],
        key=m["key"],
        payload=m["payload"],
        state=JobState(m["state"]),
        attempt=m["attempt"],
        max_attempts=m["max_attempts"],
        run_at=aware(m["run_at"]),
        created_at=aware(m["created_at"]),
        finished_at=aware(m["finished_at"]) if m["finished_at"] else None,
        last_error=m["last_error"],
        locked_by=m["locked_by"],
        locked_until=aware(m["locked_until"]) if m["locked_until"] else None,
    )


def _row(
    kind: str,
    payload: Mapping[str, Any],
    key: str | None,
    run_at: datetime | None,
    max_attempts: int,
    at: datetime,
) -> dict[str, Any]:
    if not kind or len(kind) > 120:
        raise ValidationFailed("a job kind is 1 to 120 characters", code="invalid_job")
    if key is not None and not 0 < len(key) <= 200:
        raise ValidationFailed("a job key is 1 to 200 characters", code="invalid_job")
    if max_attempts < 1:
        raise ValidationFailed("max_attempts must be at least 1", code="invalid_job")
    return {
        "kind": kind,
        "key": key,
        "payload": dict(payload),
        "state": JobState.QUEUED.value,
        "attempt": 0,
        "max_attempts": max_attempts,
        "run_at": aware(run_at) if run_at else at,
        "created_at": at,
    }


async def enqueue(
    conn: AsyncConnection,
    kind: str,
    payload: Mapping[str, Any],
    *,
    run_at: datetime | None = None,
    key: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Job:
    """Add a job in the caller's transaction; it exists only if that transaction commits.

    With ``key``, a second enqueue of the same kind and key (while the first job is kept)
    adds nothing and returns the first job.
    """
    row = _row(kind, payload, key, run_at, max_attempts, now())
    inserted = await _insert(conn, [row])
    if inserted:
        return inserted[0]
    existing = await conn.execute(select(*JOB_COLUMNS).where(t.c.kind == kind, t.c.key == key))
    return job_from_row(existing.one())


async def enqueue_many(
    conn: AsyncConnection,
    kind: str,
    payloads: Iterable[Mapping[str, Any]],
    *,
    run_at: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> list[Job]:
    """Add many jobs of one kind (without keys) in one statement."""
    at = now()
    rows = [_row(kind, p, None, run_at, max_attempts, at) for p in payloads]
    return await _insert(conn, rows) if rows else []


async def _insert(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[Job]:
    """Insert, skipping (kind, key) duplicates, and announce the kinds.

    Many rows go through SQLAlchemy's batched "insertmanyvalues" (a multi-row VALUES clause
    would be compiled anew for every batch). On PostgreSQL a single job's ``NOTIFY`` rides on
    its insert; a batch sends one per kind.
    """
    postgres = conn.dialect.name == "postgresql"
    upsert = (postgresql.insert(t) if postgres else sqlite.insert(t)).on_conflict_do_nothing(
        index_elements=["kind", "key"]
    )
    result: Any
    if postgres and len(rows) == 1:
        inserted = upsert.values(rows[0]).returning(*JOB_COLUMNS).cte("inserted")
        notified = func.pg_notify(NOTIFY_CHANNEL, inserted.c.kind).label("notified")
        result = await conn.execute(select(inserted, notified))
        jobs = [job_from_row(r) for r in result]
    else:
        result = await conn.execute(upsert.returning(*JOB_COLUMNS), rows)
        jobs = [job_from_row(r) for r in result]
        if postgres:
            for kind in {job.kind for job in jobs}:
                await conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, kind)))
    for kind in {r["kind"] for r in rows}:
        mark_for_commit(conn, COMMIT_TOPIC_PREFIX + kind)
    return jobs


async def get_job(conn: AsyncConnection, job_id: int, *, kinds: Sequence[str] | None = None) -> Job:
    query = select(*JOB_COLUMNS).where(t.c.id == job_id)
    if kinds is not None:
        query = query.where(t.c.kind.in_(kinds))
    found = (await conn.execute(query)).first()
    if found is None:
        raise NotFound("No such job", code="job_not_found")
    return job_from_row(found)


async def list_jobs(
    conn: AsyncConnection,
    *,
    kinds: Sequence[str] | None = None,
    states: Sequence[JobState] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Job], int]:
    """Jobs newest first, and how many match in all."""
    conditions = []
    if kinds is not None:
        conditions.append(t.c.kind.in_(kinds))
    if states:
        conditions.append(t.c.state.in_([s.value for s in states]))
    where = and_(*conditions) if conditions else None
    query = select(*JOB_COLUMNS).order_by(t.c.id.desc()).limit(limit).offset(offset)
    counting = select(func.count()).select_from(t)
    if where is not None:
        query, counting = query.where(where), counting.where(where)
    rows = (await conn.execute(query)).all()
    total = int((await conn.execute(counting)).scalar_one())
    return [job_from_row(r) for r in rows], total


async def replay_job(
    conn: AsyncConnection, job_id: int, *, kinds: Sequence[str] | None = None
) -> Job:
    """Run a dead or discarded job again from its first attempt, now."""
    job = await _transition(
        conn,
        job_id,
        kinds,
        (JobState.DEAD, JobState.DISCARDED),
        "replay",
        state=JobState.QUEUED.value,
        attempt=0,
        run_at=now(),
        finished_at=None,
        locked_by=None,
        locked_until=None,
    )
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, job.kind)))
    mark_for_commit(conn, COMMIT_TOPIC_PREFIX + job.kind)
    return job


async def discard_job(
    conn: AsyncConnection, job_id: int, *, kinds: Sequence[str] | None = None
) -> Job:
    """Give up on a dead or waiting job; it is kept (as ``discarded``) until retention ends."""
    return await _transition(
        conn,
        job_id,
        kinds,
        (JobState.DEAD, JobState.QUEUED),
        "discard",
        state=JobState.DISCARDED.value,
        finished_at=now(),
    )


async def _transition(
    conn: AsyncConnection,
    job_id: int,
    kinds: Sequence[str] | None,
    allowed: tuple[JobState, ...],
    action: str,
    **values: Any,
) -> Job:
    job = await get_job(conn, job_id, kinds=kinds)
    if job.state not in allowed:
        names = " or ".join(s.value for s in allowed)
        raise Conflict(
            f"Only {names} jobs can be {action}ed; this one is {job.state}",
            code=f"job_not_{action}able",
        )
    changed = await conn.execute(
        update(t)
        .where(t.c.id == job_id, t.c.state == job.state.value)
        .values(**values)
        .returning(*JOB_COLUMNS)
    )
    row = changed.first()
    if row is None:
        raise Conflict("The job changed meanwhile; read it again", code="job_changed")
    return job_from_row(row)
