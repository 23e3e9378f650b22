"""Finalizing, as a job: a stopped recording's spool is encoded into its format, sealed under
its data key as it streams to the object store, and its metadata written, in one transaction
with the job's completion and the spool's removal. A chat's messages become one compressed,
sealed JSON transcript. The job can run on any replica and be retried: it rewrites the same
object and changes nothing until it commits.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from aicc.core.jobs import JobContext, PermanentFailure, enqueue
from aicc.recording import catalog, models, spool
from aicc.recording.access import AccessMixin
from aicc.recording.catalog import object_key, object_ref
from aicc.recording.chat import transcript_chunks
from aicc.recording.encoding import encode_spool
from aicc.recording.sealing import seal

logger = logging.getLogger("aicc.recording")
CALLBACK_KIND = "recording.callback"


class FinalizeMixin(AccessMixin):
    async def finalize_job(self, ctx: JobContext) -> None:
        recording_id = ctx.payload["recording_id"]
        async with self.resources.database.connect() as conn:
            row = await catalog.load(conn, recording_id)
        if row["status"] not in ("finalizing", "failed"):
            return
        try:
            values = await self._store(row)
        except Exception as exc:
            if ctx.attempt < ctx.job.max_attempts:
                raise
            await self._mark_failed(ctx, row, exc)
            raise PermanentFailure(f"finalizing failed: {type(exc).__name__}") from exc
        async with ctx.transaction() as conn:
            await catalog.change(conn, recording_id, **values)
            await spool.discard(conn, recording_id)
            await conn.execute(
                delete(models.chat_message).where(
                    models.chat_message.c.recording_id == recording_id
                )
            )
            await catalog.record_event(
                conn,
                recording_id,
                "completed",
                details={"size_bytes": values["size_bytes"], "recovered": row["recovered"]},
            )
            if self.settings.recording.callback_url:
                await enqueue(
                    conn,
                    CALLBACK_KIND,
                    {"recording_id": recording_id, "event": "recording.completed"},
                    key=f"completed:{recording_id}",
                )

    async def _store(self, row: dict[str, Any]) -> dict[str, Any]:
        """Encode and seal the recording into the object store; the metadata to record."""
        recording_id = row["id"]
        key = await self.data_key(recording_id)
        values: dict[str, Any] = {}
        content: AsyncIterator[bytes]
        if row["type"] == "chat":
            header = {
                "recording_id": recording_id,
                "session_id": row["session_id"],
                "agent_id": row["agent_id"],
                "customer_id": row["customer_id"],
                "started_at": catalog.aware(row["started_at"]).isoformat(),  # type: ignore[union-attr]
            }
            content = transcript_chunks(
                header, self.chat_messages(recording_id, key), row["compression"] or "zstd"
            )
            values["message_count"] = await self.count_messages(recording_id)
        else:
            pieces = spool.chunks(self.resources.database, recording_id, key, row["encoding"])
            encoded = encode_spool(row, spool.with_gaps(pieces, row["gaps"], row["encoding"]))
            content = encoded.chunks()
        sealing = seal(content, key, object_ref(recording_id))
        location = object_key(recording_id)
        await self.resources.storage.put(location, sealing, metadata={"type": row["type"]})
        if row["type"] == "voice":
            values.update(encoded.metadata())
        completed = catalog.now()
        days = self._retention_days(row)
        values.update(
            status="completed",
            completed_at=completed,
            object_key=location,
            size_bytes=sealing.plain_size,
            sha256=sealing.sha256,
            expires_at=completed + timedelta(days=days) if days else None,
            owner=None,
        )
        return values

    def _retention_days(self, row: dict[str, Any]) -> int:
        if row["retention_days"] is not None:
            return int(row["retention_days"])
        settings = self.settings.recording
        return (
            settings.retention_chat_days if row["type"] == "chat" else settings.retention_voice_days
        )

    async def _mark_failed(self, ctx: JobContext, row: dict[str, Any], exc: Exception) -> None:
        logger.error(
            "recording could not be finalized",
            exc_info=exc,
            extra={"metadata": {"recording_id": row["id"]}},
        )
        async with self.resources.database.transaction() as conn:
            await catalog.change(
                conn,
                row["id"],
                status="failed",
                error=f"finalizing failed after {ctx.attempt} attempts: {type(exc).__name__}",
            )
            await catalog.record_event(
                conn, row["id"], "failed", details={"error": type(exc).__name__}
            )
