"""A live recording's audio as it arrives, kept in the shared database until it is finalized.

Each acknowledged chunk is one row, sealed with AES-256-GCM under the recording's own data
key (bound to the recording, its sequence number and its offset), so nothing is stored in
clear, not even briefly, and a chunk survives the loss of the process (and, on PostgreSQL,
of the replica) that received it. Audio received while paused is never stored: a silence row
records its length instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.crypto import SecretBox
from aicc.core.db import Database
from aicc.recording import models

s = models.spool
ROW_BYTES = 256 * 1024
"""Largest chunk one row holds (a bigger upload takes several), so reading the spool a batch
of rows at a time stays within a few MiB."""
READ_BATCH = 16
SILENCE_BYTE = {"pcm_s16le": b"\x00", "mulaw": b"\xff"}
"""The byte that fills silence in each input encoding (µ-law's zero level is 0xFF)."""


def bytes_per_sample(encoding: str) -> int:
    return 2 if encoding == "pcm_s16le" else 1


def _context(recording_id: str, seq: int, offset: int) -> bytes:
    return f"spool:{recording_id}:{seq}:{offset}".encode()


def sealed_row(
    recording_id: str, data_key: bytes, *, seq: int, offset: int, data: bytes, silence: bool
) -> dict[str, Any]:
    """One spool row: the bytes sealed, or (``silence``) only their length."""
    box = SecretBox(data_key)
    return {
        "recording_id": recording_id,
        "seq": seq,
        "offset": offset,
        "length": len(data),
        "silence": silence,
        "data": None if silence else box.seal(data, context=_context(recording_id, seq, offset)),
    }


async def chunks(
    database: Database, recording_id: str, data_key: bytes, encoding: str
) -> AsyncIterator[tuple[int, bytes]]:
    """Every stored chunk in order as ``(client offset, bytes)``, silence rows filled in;
    read a batch of rows at a time so memory does not grow with the call."""
    box = SecretBox(data_key)
    fill = SILENCE_BYTE[encoding]
    after = -1
    while True:
        async with database.connect() as conn:
            rows = (
                await conn.execute(
                    select(s.c.seq, s.c.offset, s.c.length, s.c.silence, s.c.data)
                    .where(s.c.recording_id == recording_id, s.c.seq > after)
                    .order_by(s.c.seq)
                    .limit(READ_BATCH)
                )
            ).all()
        if not rows:
            return
        for row in rows:
            if row.silence:
                yield row.offset, fill * row.length
            else:
                yield (
                    row.offset,
                    box.open(row.data, context=_context(recording_id, row.seq, row.offset)),
                )
        after = rows[-1].seq


async def discard(conn: AsyncConnection, recording_id: str) -> None:
    await conn.execute(delete(s).where(s.c.recording_id == recording_id))


def with_gaps(
    pieces: AsyncIterator[tuple[int, bytes]], gaps: list[dict[str, Any]] | None, encoding: str
) -> AsyncIterator[bytes]:
    """The client's byte stream with each pause's clock-filled silence inserted at its
    offset (always a frame boundary, so channels never swap)."""
    return _interleave(pieces, sorted(gaps or [], key=lambda g: g["at"]), SILENCE_BYTE[encoding])


async def _interleave(
    pieces: AsyncIterator[tuple[int, bytes]], gaps: list[dict[str, Any]], fill: bytes
) -> AsyncIterator[bytes]:
    pending = list(gaps)
    async for offset, data in pieces:
        start = 0
        while pending and pending[0]["at"] < offset + len(data):
            gap = pending.pop(0)
            cut = max(0, gap["at"] - offset)
            if cut > start:
                yield data[start:cut]
                start = cut
            for piece in _silence(fill, gap["bytes"]):
                yield piece
        if start < len(data):
            yield data[start:]
    for gap in pending:
        for piece in _silence(fill, gap["bytes"]):
            yield piece


def _silence(fill: bytes, length: int, piece: int = 65536) -> list[bytes]:
    """``length`` bytes of silence, as pieces of bounded size (a pause may last minutes)."""
    whole, rest = divmod(length, piece)
    block = fill * piece if whole else b""
    return [block] * whole + ([fill * rest] if rest else [])
