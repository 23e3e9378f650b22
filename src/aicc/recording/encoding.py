"""Between the service and the audio pipeline: encoding a finished call's spool, and
transcoding a stored recording while it downloads. The codecs are CPU-bound and synchronous,
so each step runs in a worker thread; chunks are batched so the thread hops stay few."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.to_thread

from aicc.recording.audio import FORMAT_SPECS, AudioEncoder, Transcoder, parse_format
from aicc.recording.sealing import SealedFile, SealedObject
from aicc.recording.spool import bytes_per_sample

MEDIA_TYPES = {fmt.value: spec.mime_type for fmt, spec in FORMAT_SPECS.items()}
BATCH = 256 * 1024


def spooled_frames(row: dict[str, Any]) -> int:
    """Sample frames in the finished capture: what was received plus clock-filled pauses (a
    trailing partial frame is dropped)."""
    frame = int(row["channels"]) * bytes_per_sample(row["encoding"])
    total = int(row["received_bytes"]) + sum(int(g["bytes"]) for g in row["gaps"] or [])
    return total // frame


class EncodedSpool:
    """The spool's bytes encoded into the recording's format, as chunks to seal."""

    def __init__(self, row: dict[str, Any], stream: AsyncIterator[bytes]) -> None:
        self.row = row
        self.stream = stream
        self.frames = spooled_frames(row)
        self.encoder = AudioEncoder(
            row["format"],
            sample_rate=int(row["sample_rate"]),
            channels=int(row["channels"]),
            bitrate=row["bitrate"],
            total_frames=self.frames,
            input_encoding=row["encoding"],
        )

    async def chunks(self) -> AsyncIterator[bytes]:
        remaining = self.frames * int(self.row["channels"]) * bytes_per_sample(self.row["encoding"])
        batch = bytearray()
        async for piece in self.stream:
            piece = piece[:remaining]
            remaining -= len(piece)
            batch += piece
            if len(batch) >= BATCH:
                out = await anyio.to_thread.run_sync(self.encoder.encode, bytes(batch))
                batch.clear()
                if out:
                    yield out
        if batch:
            out = await anyio.to_thread.run_sync(self.encoder.encode, bytes(batch))
            if out:
                yield out
        tail = await anyio.to_thread.run_sync(self.encoder.finish)
        if tail:
            yield tail

    def metadata(self) -> dict[str, Any]:
        rate = int(self.row["sample_rate"])
        return {
            "codec": self.encoder.spec.codec,
            "frames": self.frames,
            "duration_seconds": round(self.frames / rate, 3),
            "bitrate": self.encoder.bitrate,
        }


def encode_spool(row: dict[str, Any], stream: AsyncIterator[bytes]) -> EncodedSpool:
    return EncodedSpool(row, stream)


async def transcode_stored(
    sealed: SealedObject, row: dict[str, Any], audio_format: str
) -> AsyncIterator[bytes]:
    """The stored recording decoded and encoded as ``audio_format`` while it streams out,
    exactly as long as the original (its stored sample count)."""
    source = SealedFile(sealed)
    fmt = parse_format(audio_format)
    transcoder = await anyio.to_thread.run_sync(
        lambda: Transcoder(source, fmt, total_frames=row["frames"])
    )
    try:
        async for piece in in_threads(transcoder):
            yield piece
    finally:
        source.close()


async def in_threads(transcoder: Transcoder) -> AsyncIterator[bytes]:
    """The transcoder's chunks, each produced in a worker thread (codecs block)."""
    pieces: Iterator[bytes] = iter(transcoder)
    try:
        while (piece := await anyio.to_thread.run_sync(next, pieces, None)) is not None:
            yield piece
    finally:
        await anyio.to_thread.run_sync(transcoder.close)
