"""Keeping and deleting: legal hold, deletion with a tombstone, the retention purge, and the
sweep that finalizes live recordings nobody feeds any more.

Deleting destroys the recording's data key in the same transaction as its tombstone
(crypto-shredding: no copy of the object, backups included, can be read again), then removes
the object. A legal hold overrides every deletion.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.errors import Conflict
from aicc.core.jobs import JobContext
from aicc.core.tokens import Principal
from aicc.recording import catalog, models, spool
from aicc.recording.capture import CaptureMixin
from aicc.recording.catalog import LIVE, object_ref

logger = logging.getLogger("aicc.recording")
t = catalog.t
PURGE_BATCH = 100


class RetentionMixin(CaptureMixin):
    async def set_hold(
        self,
        recording_id: str,
        reason: str,
        *,
        caller: Principal | None = None,
        ip_address: str | None = None,
    ) -> dict[str, Any]:
        async with self.resources.database.transaction() as conn:
            row = await catalog.visible(conn, recording_id, caller, lock=True)
            _not_deleted(row)
            await catalog.change(
                conn,
                recording_id,
                hold_reason=reason,
                hold_at=catalog.now(),
                hold_by=caller.user_id if caller else None,
            )
            await catalog.record_event(
                conn,
                recording_id,
                "hold_set",
                actor_id=_actor(caller),
                ip_address=ip_address,
                details={"reason": reason},
            )
            return catalog.metadata_of(await catalog.load(conn, recording_id))

    async def release_hold(
        self,
        recording_id: str,
        *,
        caller: Principal | None = None,
        ip_address: str | None = None,
    ) -> dict[str, Any]:
        async with self.resources.database.transaction() as conn:
            row = await catalog.visible(conn, recording_id, caller, lock=True)
            if row["hold_at"] is None:
                raise Conflict("The recording is not on hold", code="not_on_hold")
            await catalog.change(conn, recording_id, hold_reason=None, hold_at=None, hold_by=None)
            await catalog.record_event(
                conn,
                recording_id,
                "hold_released",
                actor_id=_actor(caller),
                ip_address=ip_address,
                details={"reason": row["hold_reason"]},
            )
            return catalog.metadata_of(await catalog.load(conn, recording_id))

    async def delete_recording(
        self,
        recording_id: str,
        *,
        reason: str | None = None,
        caller: Principal | None = None,
        ip_address: str | None = None,
    ) -> dict[str, Any]:
        """Delete the content for good, keeping a tombstone (who, when, why)."""
        async with self.resources.database.transaction() as conn:
            row = await catalog.visible(conn, recording_id, caller, lock=True)
            _not_deleted(row)
            if row["hold_at"] is not None:
                raise Conflict("The recording is under legal hold", code="recording_on_hold")
            if row["status"] in (*LIVE, "finalizing"):
                raise Conflict("Stop the recording before deleting it", code="recording_state")
            await self._shred(conn, row, by=_actor(caller), reason=reason or "deleted on request")
            await catalog.record_event(
                conn,
                recording_id,
                "deleted",
                actor_id=_actor(caller),
                ip_address=ip_address,
                details={"reason": reason},
            )
        await self._remove_object(row)
        async with self.resources.database.connect() as conn:
            return catalog.metadata_of(await catalog.load(conn, recording_id))

    async def _shred(
        self, conn: AsyncConnection, row: dict[str, Any], *, by: str | None, reason: str
    ) -> None:
        await self.data_keys.destroy(object_ref(row["id"]), conn=conn)
        await spool.discard(conn, row["id"])
        await conn.execute(
            delete(models.chat_message).where(models.chat_message.c.recording_id == row["id"])
        )
        await catalog.change(
            conn,
            row["id"],
            status="deleted",
            deleted_at=catalog.now(),
            deleted_by=by,
            delete_reason=reason,
            expires_at=None,
        )

    async def _remove_object(self, row: dict[str, Any]) -> None:
        if row["object_key"]:
            try:
                await self.resources.storage.delete(row["object_key"])
            except Exception:
                logger.warning(
                    "recording object not removed; its data key is destroyed, so it is unreadable",
                    extra={"metadata": {"recording_id": row["id"]}},
                    exc_info=True,
                )

    async def expired(self, *, limit: int = PURGE_BATCH) -> list[dict[str, Any]]:
        """Recordings past their retention, not on hold: what a purge deletes next."""
        async with self.resources.database.connect() as conn:
            rows = await conn.execute(
                catalog.rows_query()
                .where(
                    t.c.expires_at < catalog.now(),
                    t.c.deleted_at.is_(None),
                    t.c.hold_at.is_(None),
                    t.c.status.in_(("completed", "failed")),
                )
                .order_by(t.c.expires_at)
                .limit(limit)
            )
            return [dict(r) for r in rows.mappings()]

    async def purge_expired(self, *, dry_run: bool = False) -> list[dict[str, Any]]:
        """Delete every recording past its retention (``aicc recording purge``); returns what
        was (or, with ``dry_run``, would be) deleted."""
        done: list[dict[str, Any]] = []
        while True:
            batch = await self.expired()
            if dry_run or not batch:
                return done + [catalog.metadata_of(r) for r in batch]
            for row in batch:
                async with self.resources.database.transaction() as conn:
                    fresh = await catalog.load(conn, row["id"], lock=True)
                    if fresh["hold_at"] is not None or fresh["deleted_at"] is not None:
                        continue
                    await self._shred(conn, fresh, by=None, reason="retention period ended")
                    await catalog.record_event(
                        conn,
                        row["id"],
                        "purged",
                        details={"expired_at": str(catalog.aware(row["expires_at"]))},
                    )
                await self._remove_object(row)
                done.append(catalog.metadata_of(row))

    async def purge_job(self, _: JobContext) -> None:
        purged = await self.purge_expired()
        if purged:
            logger.info("recordings purged", extra={"metadata": {"count": len(purged)}})

    async def sweep_live(self, _: JobContext | None = None) -> int:
        """Finalize live recordings nobody feeds: silent past the idle timeout
        (``ended_by: idle``), or whose stream's process died (no heartbeat) and no stream
        came back within the recovery grace (``recovered: true``). Returns how many."""
        settings = self.settings.recording
        at = catalog.now()
        idle_before = at - timedelta(seconds=settings.idle_timeout)
        dead_before = quiet_before = at - timedelta(seconds=settings.recovery_grace)
        async with self.resources.database.connect() as conn:
            rows = await conn.execute(
                select(t.c.id).where(
                    t.c.status.in_(LIVE),
                    or_(
                        t.c.last_audio_at < idle_before,
                        and_(
                            t.c.owner.is_not(None),
                            t.c.owner_seen_at < dead_before,
                            t.c.last_audio_at < quiet_before,
                        ),
                    ),
                )
            )
            candidates = [r.id for r in rows]
        finalized = 0
        for recording_id in candidates:
            async with self._locked(recording_id) as conn:
                row = await catalog.load(conn, recording_id)
                if row["status"] not in LIVE:
                    continue
                owner_seen = catalog.aware(row["owner_seen_at"])
                died = (
                    row["owner"] is not None and owner_seen is not None and owner_seen < dead_before
                )
                last_audio = catalog.aware(row["last_audio_at"])
                assert last_audio is not None
                if died and last_audio < quiet_before:
                    await self.begin_finalizing(conn, row, ended_by="recovered", recovered=True)
                elif last_audio < idle_before:
                    await self.begin_finalizing(conn, row, ended_by="idle")
                else:
                    continue
                await catalog.record_event(
                    conn,
                    recording_id,
                    "stopped",
                    details={"ended_by": "recovered" if died else "idle"},
                )
                finalized += 1
        return finalized


def _not_deleted(row: dict[str, Any]) -> None:
    if row["deleted_at"] is not None:
        raise Conflict("The recording was deleted", code="recording_deleted")


def _actor(caller: Principal | None) -> str | None:
    return caller.user_id if caller else None
