"""Live capture: start a recording, take its audio (from any replica, any number of times for
the same bytes), pause and resume it, and stop it.

Every acknowledged chunk is in the shared database before the acknowledgement leaves. A
recording's writes take a lock on it, so two connections feeding it never interleave.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.errors import Conflict
from aicc.core.jobs import enqueue
from aicc.core.tokens import Principal
from aicc.recording import catalog, spool
from aicc.recording.base import RecordingBase, validated
from aicc.recording.catalog import LIVE, object_ref
from aicc.recording.schemas import VoiceStart

FINALIZE_KIND = "recording.finalize"


def frame_bytes(row: dict[str, Any]) -> int:
    return int(row["channels"]) * spool.bytes_per_sample(row["encoding"])


def byte_rate(row: dict[str, Any]) -> int:
    return int(row["sample_rate"]) * frame_bytes(row)


class CaptureMixin(RecordingBase):
    async def start_voice_recording(
        self,
        session_id: str,
        agent_id: str,
        customer_id: str,
        *,
        caller: Principal | None = None,
        ip_address: str | None = None,
        **options: Any,
    ) -> str:
        """Start a voice recording and return its id (the spec's call).

        ``options``: ``format``, ``sample_rate``, ``channels``, ``channel_map``,
        ``encoding``, ``bitrate``, ``retention_days`` (see ``VoiceStart``).
        """
        body = validated(
            VoiceStart,
            {"session_id": session_id, "agent_id": agent_id, "customer_id": customer_id, **options},
        )
        return await self.start_voice(body, caller=caller, ip_address=ip_address)

    async def start_voice(
        self, body: VoiceStart, *, caller: Principal | None, ip_address: str | None
    ) -> str:
        audio_format = body.format or self.settings.recording.format
        async with self.resources.database.transaction() as conn:
            recording_id, _ = await self.create_recording(
                conn,
                body,
                caller=caller,
                type="voice",
                source="live",
                status="recording",
                format=audio_format,
                sample_rate=body.sample_rate,
                channels=body.channels,
                channel_map=body.channel_map.model_dump() if body.channel_map else None,
                encoding=body.encoding,
                bitrate=body.bitrate,
            )
            await catalog.record_event(
                conn,
                recording_id,
                "started",
                actor_id=_actor(caller),
                ip_address=ip_address,
                details={"format": audio_format, "channels": body.channels},
            )
        return recording_id

    async def append_audio(
        self,
        recording_id: str,
        data: bytes,
        *,
        offset: int | None = None,
        caller: Principal | None = None,
        data_key: bytes | None = None,
        owner: str | None = None,
    ) -> dict[str, Any]:
        """Store a chunk of audio at ``offset`` (bytes already sent; default: the end).

        A chunk whose bytes are already stored is acknowledged without storing them twice; a
        gap is a 409 naming the expected offset. Audio that arrives while paused is never
        stored: it becomes silence of the same length. ``owner``: the live stream feeding it,
        seen now.
        """
        key = data_key
        if key is None:
            async with self.resources.database.connect() as conn:
                await catalog.visible(conn, recording_id, caller)
                key = await self.data_keys.get(object_ref(recording_id), conn=conn)
        return await self.spool_writer.write(
            recording_id, key, data, offset=offset, owner=owner, caller=caller
        )

    async def pause_recording(
        self, recording_id: str, *, caller: Principal | None = None, ip_address: str | None = None
    ) -> dict[str, Any]:
        async with self._locked(recording_id) as conn:
            row = await catalog.visible(conn, recording_id, caller)
            catalog.require_state(row, ("recording",), "pause")
            await catalog.change(
                conn,
                recording_id,
                status="paused",
                paused_at=catalog.now(),
                pause_offset=row["received_bytes"],
                last_audio_at=catalog.now(),
            )
            await catalog.record_event(
                conn,
                recording_id,
                "paused",
                actor_id=_actor(caller),
                ip_address=ip_address,
                details={"offset": row["received_bytes"]},
            )
            return catalog.metadata_of(await catalog.load(conn, recording_id))

    async def resume_recording(
        self, recording_id: str, *, caller: Principal | None = None, ip_address: str | None = None
    ) -> dict[str, Any]:
        async with self._locked(recording_id) as conn:
            row = await catalog.visible(conn, recording_id, caller)
            catalog.require_state(row, ("paused",), "resume")
            silence = await self._close_pause(conn, row)
            await catalog.change(
                conn, recording_id, status="recording", last_audio_at=catalog.now()
            )
            await catalog.record_event(
                conn,
                recording_id,
                "resumed",
                actor_id=_actor(caller),
                ip_address=ip_address,
                details={"silence_seconds": round(silence / byte_rate(row), 3)},
            )
            return catalog.metadata_of(await catalog.load(conn, recording_id))

    async def _close_pause(self, conn: AsyncConnection, row: dict[str, Any]) -> int:
        """Fill a pause with silence by the clock: the time paused, less what arrived meanwhile
        (already stored as silence), inserted at the next frame boundary. Returns its bytes."""
        paused_at = catalog.aware(row["paused_at"])
        assert paused_at is not None
        frame = frame_bytes(row)
        elapsed = (catalog.now() - paused_at).total_seconds()
        arrived = int(row["received_bytes"]) - int(row["pause_offset"] or 0)
        missing = int(elapsed * byte_rate(row)) - arrived
        fill = max(0, missing - missing % frame)
        if fill:
            at = math.ceil(int(row["received_bytes"]) / frame) * frame
            gaps = [*(row["gaps"] or []), {"at": at, "bytes": fill}]
            await catalog.change(conn, row["id"], gaps=gaps)
        await catalog.change(conn, row["id"], paused_at=None, pause_offset=None)
        return fill

    async def stop_voice_recording(
        self,
        recording_id: str,
        *,
        caller: Principal | None = None,
        ip_address: str | None = None,
        wait: float | None = None,
    ) -> dict[str, Any]:
        """Stop and finalize (the spec's call); returns the metadata, ``completed`` once the
        recording is stored or ``finalizing`` if that takes longer than ``wait`` seconds."""
        async with self._locked(recording_id) as conn:
            row = await catalog.visible(conn, recording_id, caller)
            if row["type"] != "voice":
                raise Conflict("Not a voice recording", code="recording_state")
            catalog.require_state(row, LIVE, "stop")
            await self.begin_finalizing(conn, row, ended_by="stop")
            await catalog.record_event(
                conn, recording_id, "stopped", actor_id=_actor(caller), ip_address=ip_address
            )
        return await self.wait_finalized(
            recording_id, self.settings.recording.stop_wait if wait is None else wait
        )

    async def begin_finalizing(
        self,
        conn: AsyncConnection,
        row: dict[str, Any],
        *,
        ended_by: str,
        recovered: bool = False,
    ) -> None:
        """Close the capture and hand the recording to the finalize job (in ``conn``)."""
        if row["status"] == "paused":
            await self._close_pause(conn, row)
        await catalog.change(
            conn,
            row["id"],
            status="finalizing",
            stopped_at=catalog.now(),
            ended_by=ended_by,
            recovered=recovered,
            owner=None,
        )
        await enqueue(conn, FINALIZE_KIND, {"recording_id": row["id"]}, key=row["id"])

    async def wait_finalized(self, recording_id: str, wait: float) -> dict[str, Any]:
        deadline = time.monotonic() + wait
        delay = 0.01
        while True:
            async with self.resources.database.connect() as conn:
                row = await catalog.load(conn, recording_id)
            if row["status"] != "finalizing" or time.monotonic() >= deadline:
                return catalog.metadata_of(row)
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.2)

    async def claim_stream(self, recording_id: str, owner: str) -> None:
        """This process now feeds the recording (so a dead process can be told apart from a
        quiet caller)."""
        async with self.resources.database.transaction() as conn:
            await catalog.change(conn, recording_id, owner=owner, owner_seen_at=catalog.now())

    async def release_stream(self, recording_id: str, owner: str) -> None:
        t = catalog.t
        async with self.resources.database.transaction() as conn:
            await conn.execute(
                update(t).where(t.c.id == recording_id, t.c.owner == owner).values(owner=None)
            )

    def _locked(self, recording_id: str) -> Any:
        return self.resources.database.locked_transaction(f"recording:{recording_id}")


def _actor(caller: Principal | None) -> str | None:
    return caller.user_id if caller else None
