"""Group commit for live audio: every chunk that this process's streams and requests want to
store in the next few milliseconds goes into one transaction, and each waits for that commit
before it is acknowledged. Hundreds of live calls then cost a handful of transactions a
second instead of one each per flush.

Each write still gets the single-writer checks it would get alone: the recording exists and
is the caller's to feed, is live, and the chunk starts at or before the end of what is stored
(a retried chunk is stored once; a gap is refused). The rows are locked for the transaction
(PostgreSQL ``FOR UPDATE``; SQLite's write lock), so other replicas feeding the same
recording queue behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from aicc.core.db import Database
from aicc.core.errors import AppError, Conflict, NotFound
from aicc.core.tokens import Principal
from aicc.recording import catalog, models, spool
from aicc.recording.catalog import LIVE

logger = logging.getLogger("aicc.recording")
t = models.item
GATHER_SECONDS = 0.005
MAX_BATCH = 1000


@dataclass
class _Write:
    recording_id: str
    key: bytes
    data: bytes
    offset: int | None
    owner: str | None
    caller: Principal | None
    done: asyncio.Future[dict[str, Any]] = field(repr=False)


class SpoolWriter:
    """``stored`` is told how many new bytes each committed batch stored."""

    def __init__(self, database: Database, *, stored: Callable[[int], None] | None = None) -> None:
        self.database = database
        self._stored = stored
        self._pending: list[_Write] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="aicc-recording-spool")

    async def stop(self) -> None:
        """Commit what is pending, then stop."""
        self._closing = True
        self._ready.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def write(
        self,
        recording_id: str,
        key: bytes,
        data: bytes,
        *,
        offset: int | None,
        owner: str | None,
        caller: Principal | None,
    ) -> dict[str, Any]:
        if self._task is None or self._closing:
            raise RuntimeError("the spool writer is not running")
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Write(recording_id, key, data, offset, owner, caller, done))
        self._ready.set()
        return await done

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            await asyncio.sleep(GATHER_SECONDS)
            self._ready.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    outcomes = await self._commit(batch)
                except Exception as exc:
                    logger.warning("live audio not stored; the writers retry", exc_info=True)
                    outcomes = [exc] * len(batch)
                for write, outcome in zip(batch, outcomes, strict=True):
                    if write.done.done():
                        continue
                    if isinstance(outcome, BaseException):
                        write.done.set_exception(outcome)
                    else:
                        write.done.set_result(outcome)
            if self._closing:
                return

    async def _commit(self, batch: list[_Write]) -> list[dict[str, Any] | BaseException]:
        ids = sorted({w.recording_id for w in batch})
        async with self._transaction() as conn:
            query = (
                select(
                    t.c.id, t.c.type, t.c.status, t.c.agent_id, t.c.received_bytes, t.c.spool_seq
                )
                .where(t.c.id.in_(ids))
                .order_by(t.c.id)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            rows = {r.id: dict(r._mapping) for r in await conn.execute(query)}
            before = {rid: int(row["received_bytes"]) for rid, row in rows.items()}
            outcomes: list[dict[str, Any] | BaseException] = []
            spooled: list[dict[str, Any]] = []
            touched: dict[str, dict[str, Any]] = {}
            for write in batch:
                try:
                    outcomes.append(self._place(write, rows, spooled, touched))
                except AppError as exc:
                    outcomes.append(exc)
            if spooled:
                await conn.execute(insert(models.spool), spooled)
            if touched:
                await self._advance(conn, touched)
        if self._stored is not None and touched:
            self._stored(
                sum(int(row["received_bytes"]) - before[rid] for rid, row in touched.items())
            )
        return outcomes

    def _transaction(self) -> Any:
        """SQLite: its write lock up front (the check reads before it writes); PostgreSQL: an
        ordinary transaction, the rows locked ``FOR UPDATE`` (replicas never wait on a
        deployment-wide lock)."""
        if self.database.dialect == "sqlite":
            return self.database.locked_transaction("recording:spool")
        return self.database.transaction()

    @staticmethod
    async def _advance(conn: Any, touched: dict[str, dict[str, Any]]) -> None:
        """Move each recording's counters on; a live stream's process is seen now."""
        now = catalog.now()
        advanced = update(t).where(t.c.id == bindparam("rid"))
        counters = {
            "received_bytes": bindparam("received"),
            "spool_seq": bindparam("seq"),
            "last_audio_at": now,
        }
        for streamed in (True, False):
            params = [
                {
                    "rid": rid,
                    "received": row["received_bytes"],
                    "seq": row["spool_seq"],
                    **({"stream_owner": row["stream_owner"]} if streamed else {}),
                }
                for rid, row in touched.items()
                if bool(row.get("stream_owner")) is streamed
            ]
            if not params:
                continue
            values = dict(counters)
            if streamed:
                values.update(owner=bindparam("stream_owner"), owner_seen_at=now)
            await conn.execute(advanced.values(**values), params)

    @staticmethod
    def _place(
        write: _Write,
        rows: dict[str, dict[str, Any]],
        spooled: list[dict[str, Any]],
        touched: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        row = rows.get(write.recording_id)
        if row is None or not catalog.owns(write.caller, row):
            raise NotFound("No such recording", code="recording_not_found")
        if row["type"] != "voice":
            raise Conflict("Not a voice recording", code="recording_state")
        catalog.require_state(row, LIVE, "add audio to")
        expected = int(row["received_bytes"])
        start = expected if write.offset is None else write.offset
        if start > expected:
            raise Conflict(
                f"Audio from offset {expected} is missing; send it before offset {start}",
                code="offset_gap",
                details={"expected_offset": expected},
            )
        fresh = write.data[expected - start :]
        if fresh:
            paused = row["status"] == "paused"
            seq = int(row["spool_seq"])
            for low in range(0, len(fresh), spool.ROW_BYTES):
                spooled.append(
                    spool.sealed_row(
                        write.recording_id,
                        write.key,
                        seq=seq,
                        offset=expected + low,
                        data=fresh[low : low + spool.ROW_BYTES],
                        silence=paused,
                    )
                )
                seq += 1
            row["received_bytes"] = expected + len(fresh)
            row["spool_seq"] = seq
            state = touched.setdefault(write.recording_id, row)
            state["stream_owner"] = write.owner or state.get("stream_owner")
        received = int(row["received_bytes"])
        return {
            "recording_id": write.recording_id,
            "received_bytes": received,
            "duplicate": len(fresh) < len(write.data),
        }
