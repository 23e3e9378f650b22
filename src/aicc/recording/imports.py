"""Importing a finished audio file (any of the four formats, or WAV µ-law as Amazon Connect
writes it): the upload is sealed as it streams to storage, recognised (anything that is not
audio is a 422 and leaves nothing behind), then a job counts its samples, or transcodes it
into the requested format, and completes the recording."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import anyio.to_thread
from pydantic import Field
from sqlalchemy import delete

from aicc.core.errors import ValidationFailed
from aicc.core.jobs import JobContext, enqueue
from aicc.core.tokens import Principal
from aicc.recording import catalog
from aicc.recording.audio import (
    FORMAT_SPECS,
    AudioDecoder,
    AudioError,
    Transcoder,
    probe_audio,
)
from aicc.recording.base import validated
from aicc.recording.catalog import object_key, object_ref
from aicc.recording.download import DownloadMixin
from aicc.recording.encoding import in_threads
from aicc.recording.schemas import AudioFormat, Strict
from aicc.recording.sealing import SealedFile, SealedObject, seal

IMPORT_KIND = "recording.import"


class ImportParams(Strict):
    session_id: str = Field(min_length=1, max_length=200)
    agent_id: str = Field(min_length=1, max_length=200)
    customer_id: str = Field(min_length=1, max_length=200)
    format: AudioFormat | None = None
    retention_days: int | None = Field(None, ge=0, le=36500)


class ImportMixin(DownloadMixin):
    def body_limits(self) -> dict[str, int]:
        return {"/recordings/import": self.settings.recording.import_max_bytes}

    async def import_recording(
        self,
        chunks: AsyncIterator[bytes],
        *,
        caller: Principal | None = None,
        ip_address: str | None = None,
        wait: float | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """Store an audio file as a recording; returns its metadata (``completed``, or
        ``finalizing`` while a long file is still being counted or transcoded)."""
        body = validated(ImportParams, params)
        async with self.resources.database.transaction() as conn:
            recording_id, key = await self.create_recording(
                conn,
                body,
                caller=caller,
                type="voice",
                source="import",
                status="finalizing",
                ended_by="import",
            )
        ref = object_ref(recording_id)
        source = object_key(recording_id) + ".source"
        try:
            sealing = seal(chunks, key, ref)
            await self.resources.storage.put(source, sealing, metadata={"type": "import"})
            info = await self._probe(source, key, ref, sealing.plain_size)
        except BaseException:
            await self._forget(recording_id, source)
            raise
        self.recording_metrics.imported(sealing.plain_size)
        target = body.format or info.format or self.settings.recording.format
        keep = info.format == target
        async with self.resources.database.transaction() as conn:
            await catalog.change(
                conn,
                recording_id,
                format=target,
                sample_rate=info.sample_rate,
                channels=info.channels,
                codec=info.codec if keep else None,
                object_key=source if keep else None,
                size_bytes=sealing.plain_size if keep else None,
                sha256=sealing.sha256 if keep else None,
            )
            await enqueue(
                conn,
                IMPORT_KIND,
                {
                    "recording_id": recording_id,
                    "source": source,
                    "keep": keep,
                    "source_size": sealing.plain_size,
                },
                key=recording_id,
            )
            await catalog.record_event(
                conn,
                recording_id,
                "imported",
                actor_id=caller.user_id if caller else None,
                ip_address=ip_address,
                details={"source_codec": info.codec, "bytes": sealing.plain_size},
            )
        return await self.wait_finalized(
            recording_id, self.settings.recording.stop_wait if wait is None else wait
        )

    async def _probe(self, source: str, key: bytes, ref: str, size: int) -> Any:
        sealed = await SealedObject.open(
            self.resources.storage, source, data_key=key, object_ref=ref, plain_size=size
        )
        reader = SealedFile(sealed)
        try:
            return await anyio.to_thread.run_sync(probe_audio, reader)
        except AudioError as exc:
            raise ValidationFailed(str(exc), code=exc.code) from None
        finally:
            reader.close()

    async def _forget(self, recording_id: str, source: str) -> None:
        """An import that failed leaves nothing: no object, no key, no row."""
        try:
            await self.resources.storage.delete(source)
        finally:
            async with self.resources.database.transaction() as conn:
                await self.data_keys.destroy(object_ref(recording_id), conn=conn)
                await conn.execute(delete(catalog.t).where(catalog.t.c.id == recording_id))

    async def import_job(self, ctx: JobContext) -> None:
        recording_id = ctx.payload["recording_id"]
        async with self.resources.database.connect() as conn:
            row = await catalog.load(conn, recording_id)
        if row["status"] != "finalizing":
            return
        key = await self.data_key(recording_id)
        ref = object_ref(recording_id)
        sealed = await SealedObject.open(
            self.resources.storage,
            ctx.payload["source"],
            data_key=key,
            object_ref=ref,
            plain_size=int(ctx.payload["source_size"]),
        )
        reader = SealedFile(sealed)
        values: dict[str, Any]
        try:
            if ctx.payload["keep"]:
                values = {"frames": await anyio.to_thread.run_sync(_count_frames, reader)}
            else:
                values = await self._transcode_import(row, reader, key)
        finally:
            reader.close()
        values["duration_seconds"] = round(values["frames"] / int(row["sample_rate"]), 3)
        async with ctx.transaction() as conn:
            completed = catalog.now()
            days = self._retention_days(row)
            await catalog.change(
                conn,
                recording_id,
                status="completed",
                completed_at=completed,
                expires_at=completed + timedelta(days=days) if days else None,
                **values,
            )
            await catalog.record_event(
                conn, recording_id, "completed", details={"frames": values["frames"]}
            )
        if not ctx.payload["keep"]:
            await self.resources.storage.delete(ctx.payload["source"])

    async def _transcode_import(
        self, row: dict[str, Any], reader: SealedFile, key: bytes
    ) -> dict[str, Any]:
        transcoder = await anyio.to_thread.run_sync(lambda: Transcoder(reader, row["format"]))
        sealing = seal(in_threads(transcoder), key, object_ref(row["id"]))
        location = object_key(row["id"])
        await self.resources.storage.put(location, sealing, metadata={"type": "voice"})
        return {
            "frames": transcoder.frames,
            "object_key": location,
            "size_bytes": sealing.plain_size,
            "sha256": sealing.sha256,
            "codec": FORMAT_SPECS[transcoder.format].codec,
        }


def _count_frames(reader: SealedFile) -> int:
    decoder = AudioDecoder(reader)
    for _ in decoder:
        pass
    return int(decoder.frames)
