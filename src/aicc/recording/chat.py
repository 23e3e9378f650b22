"""Chat transcripts: messages stored encrypted, in order, as they arrive; stop writes one
compressed (zstd, or gzip on request) and encrypted JSON transcript."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Any, Literal

import orjson
import zstandard
from sqlalchemy import func, insert, select

from aicc.core.crypto import SecretBox
from aicc.core.errors import Conflict
from aicc.core.jobs import enqueue
from aicc.core.tokens import Principal
from aicc.recording import catalog, models
from aicc.recording.base import validated
from aicc.recording.capture import FINALIZE_KIND
from aicc.recording.catalog import object_ref
from aicc.recording.retention import RetentionMixin
from aicc.recording.schemas import ChatMessage, ChatStart

m = models.chat_message
READ_BATCH = 200
Compression = Literal["zstd", "gzip"]


def _context(recording_id: str, seq: int) -> bytes:
    return f"chat:{recording_id}:{seq}".encode()


class ChatMixin(RetentionMixin):
    async def start_chat(
        self,
        session_id: str,
        agent_id: str,
        customer_id: str,
        *,
        caller: Principal | None = None,
        ip_address: str | None = None,
        retention_days: int | None = None,
    ) -> str:
        body = validated(
            ChatStart,
            {
                "session_id": session_id,
                "agent_id": agent_id,
                "customer_id": customer_id,
                "retention_days": retention_days,
            },
        )
        async with self.resources.database.transaction() as conn:
            recording_id, _ = await self.create_recording(
                conn, body, caller=caller, type="chat", source="chat", status="recording"
            )
            await catalog.record_event(
                conn,
                recording_id,
                "started",
                actor_id=caller.user_id if caller else None,
                ip_address=ip_address,
            )
        return recording_id

    async def add_chat_message(
        self,
        recording_id: str,
        message: ChatMessage | dict[str, Any],
        *,
        caller: Principal | None = None,
    ) -> dict[str, Any]:
        """Store one message (sealed) after the others; returns its sequence number."""
        body = message if isinstance(message, ChatMessage) else validated(ChatMessage, message)
        async with self._locked(recording_id) as conn:
            row = await catalog.visible(conn, recording_id, caller)
            _chat_only(row)
            catalog.require_state(row, ("recording",), "add messages to")
            key = await self.data_keys.get(object_ref(recording_id), conn=conn)
            seq = int(row["message_count"])
            entry = {
                "seq": seq,
                "sender": body.sender,
                "text": body.text,
                "sent_at": (body.sent_at or catalog.now()).isoformat(),
                "attachments": body.attachments,
            }
            sealed = SecretBox(key).seal(orjson.dumps(entry), context=_context(recording_id, seq))
            await conn.execute(insert(m).values(recording_id=recording_id, seq=seq, data=sealed))
            await catalog.change(
                conn, recording_id, message_count=seq + 1, last_audio_at=catalog.now()
            )
        return {"recording_id": recording_id, "seq": seq}

    async def stop_chat(
        self,
        recording_id: str,
        *,
        caller: Principal | None = None,
        ip_address: str | None = None,
        compression: Compression = "zstd",
        wait: float | None = None,
    ) -> dict[str, Any]:
        async with self._locked(recording_id) as conn:
            row = await catalog.visible(conn, recording_id, caller)
            _chat_only(row)
            catalog.require_state(row, ("recording",), "stop")
            await catalog.change(
                conn,
                recording_id,
                status="finalizing",
                stopped_at=catalog.now(),
                ended_by="stop",
                compression=compression,
            )
            await enqueue(conn, FINALIZE_KIND, {"recording_id": recording_id}, key=recording_id)
            await catalog.record_event(
                conn,
                recording_id,
                "stopped",
                actor_id=caller.user_id if caller else None,
                ip_address=ip_address,
            )
        return await self.wait_finalized(
            recording_id, self.settings.recording.stop_wait if wait is None else wait
        )

    async def chat_messages(self, recording_id: str, key: bytes) -> AsyncIterator[dict[str, Any]]:
        """The stored messages in order, a batch at a time."""
        box = SecretBox(key)
        after = -1
        while True:
            async with self.resources.database.connect() as conn:
                rows = (
                    await conn.execute(
                        select(m.c.seq, m.c.data)
                        .where(m.c.recording_id == recording_id, m.c.seq > after)
                        .order_by(m.c.seq)
                        .limit(READ_BATCH)
                    )
                ).all()
            if not rows:
                return
            for row in rows:
                yield orjson.loads(box.open(row.data, context=_context(recording_id, row.seq)))
            after = rows[-1].seq

    async def count_messages(self, recording_id: str) -> int:
        async with self.resources.database.connect() as conn:
            found = await conn.execute(select(func.count()).where(m.c.recording_id == recording_id))
            return int(found.scalar_one())


async def transcript_chunks(
    header: dict[str, Any], messages: AsyncIterator[dict[str, Any]], compression: Compression
) -> AsyncIterator[bytes]:
    """The transcript as compressed JSON, ``{...header, "messages": [...]}``, produced one
    message at a time (a long chat never sits whole in memory)."""
    compressor: Any = (
        zstandard.ZstdCompressor(level=3).compressobj()
        if compression == "zstd"
        else zlib.compressobj(6, zlib.DEFLATED, 31)
    )
    opening = orjson.dumps(header)[:-1] + b', "messages": ['
    yield compressor.compress(opening)
    first = True
    async for message in messages:
        piece = (b"" if first else b",") + orjson.dumps(message)
        first = False
        out = compressor.compress(piece)
        if out:
            yield out
    yield compressor.compress(b"]}") + compressor.flush()


def decompressor(compression: str) -> Any:
    """A streaming decompressor with ``decompress(chunk) -> bytes``."""
    if compression == "gzip":
        return zlib.decompressobj(31)
    return zstandard.ZstdDecompressor().decompressobj()


def _chat_only(row: dict[str, Any]) -> None:
    if row["type"] != "chat":
        raise Conflict("Not a chat transcript", code="recording_state")
