"""Serving what was recorded: audio with ``Range`` (only the segments a range touches are
read and decrypted), on-the-fly transcoding to another format, and chat transcripts; every
read is written to the access log first. Stored content that fails its integrity check is
never served: before the response starts it is an error, after it the connection is cut."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import Response, StreamingResponse
from prometheus_client import Counter

from aicc.core.errors import AppError, Conflict
from aicc.core.keys import DataKeyDestroyed
from aicc.core.tokens import Principal
from aicc.recording import catalog
from aicc.recording.callbacks import CallbackMixin
from aicc.recording.catalog import object_ref
from aicc.recording.chat import decompressor
from aicc.recording.encoding import MEDIA_TYPES, transcode_stored
from aicc.recording.ranges import parse_range
from aicc.recording.sealing import SealedObject, SealedObjectCorrupt

logger = logging.getLogger("aicc.recording")


class Gone(AppError):
    status_code = 410
    code = "recording_deleted"
    message = "The recording was deleted"


class StoredContentCorrupt(AppError):
    status_code = 500
    code = "recording_corrupt"
    message = "The stored recording failed its integrity check and is not served"


class DownloadMixin(CallbackMixin):
    _integrity_failures: Counter | None = None

    def integrity_failure(self, recording_id: str, exc: SealedObjectCorrupt) -> None:
        if self._integrity_failures is None:
            self._integrity_failures = Counter(
                "aicc_recording_integrity_failures",
                "Stored recordings that failed their integrity check when read",
                ["reason"],
                registry=self.metrics.registry,
            )
        self._integrity_failures.labels(exc.reason).inc()
        logger.error(
            "stored recording failed its integrity check",
            extra={"metadata": {"recording_id": recording_id, "reason": exc.reason}},
        )

    async def download_response(
        self,
        recording_id: str,
        *,
        caller: Principal | None,
        ip_address: str | None,
        range_header: str | None = None,
        if_range: str | None = None,
        audio_format: str | None = None,
    ) -> Response:
        async with self.resources.database.connect() as conn:
            row = await catalog.visible(conn, recording_id, caller)
        if row["deleted_at"] is not None:
            raise Gone()
        if row["status"] != "completed":
            raise Conflict(
                f"The recording is {row['status']}, not completed yet", code="recording_not_ready"
            )
        try:
            key = await self.data_key(recording_id)
        except DataKeyDestroyed:
            raise Gone() from None
        try:
            sealed = await SealedObject.open(
                self.resources.storage,
                row["object_key"],
                data_key=key,
                object_ref=object_ref(recording_id),
                plain_size=int(row["size_bytes"]),
            )
        except SealedObjectCorrupt as exc:
            self.integrity_failure(recording_id, exc)
            raise StoredContentCorrupt() from None
        if row["type"] == "chat":
            await self._log_read(row, caller, ip_address, "transcript_read", {})
            return StreamingResponse(
                self._guarded(recording_id, _decompressed(sealed, row["compression"])),
                media_type="application/json",
            )
        if audio_format and audio_format != row["format"]:
            await self._log_read(row, caller, ip_address, "downloaded", {"format": audio_format})
            return StreamingResponse(
                self._guarded(recording_id, transcode_stored(sealed, row, audio_format)),
                media_type=MEDIA_TYPES[audio_format],
                headers=_disposition(recording_id, audio_format),
            )
        return await self._audio(row, sealed, caller, ip_address, range_header, if_range)

    async def _audio(
        self,
        row: dict[str, Any],
        sealed: SealedObject,
        caller: Principal | None,
        ip_address: str | None,
        range_header: str | None,
        if_range: str | None,
    ) -> Response:
        size = sealed.plain_size
        etag = f'"{row["sha256"]}"'
        wanted = parse_range(range_header, size) if _range_applies(if_range, etag) else None
        headers = {"Accept-Ranges": "bytes", "ETag": etag, **_disposition(row["id"], row["format"])}
        if wanted is None:
            start, end, status = 0, size - 1, 200
            headers["Content-Length"] = str(size)
        else:
            start, end, status = wanted.start, wanted.end, 206
            headers["Content-Length"] = str(wanted.length)
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        event = "played" if wanted is not None else "downloaded"
        details = {"range": [start, end]} if wanted is not None else {}
        await self._log_read(row, caller, ip_address, event, {**details, "format": row["format"]})
        body = self._guarded(row["id"], sealed.iter_range(start, end if size else None))
        return StreamingResponse(
            body, status_code=status, media_type=MEDIA_TYPES[row["format"]], headers=headers
        )

    async def _guarded(self, recording_id: str, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Pass the body on; on an integrity failure mid-stream, count it and cut the
        connection (raising ends the response without completing it)."""
        try:
            async for piece in body:
                yield piece
        except SealedObjectCorrupt as exc:
            self.integrity_failure(recording_id, exc)
            raise

    async def _log_read(
        self,
        row: dict[str, Any],
        caller: Principal | None,
        ip_address: str | None,
        event: str,
        details: dict[str, Any],
    ) -> None:
        async with self.resources.database.transaction() as conn:
            await catalog.record_event(
                conn,
                row["id"],
                event,
                actor_id=caller.user_id if caller else None,
                ip_address=ip_address,
                details=details,
            )


def _range_applies(if_range: str | None, etag: str) -> bool:
    return if_range is None or if_range.strip() == etag


def _disposition(recording_id: str, audio_format: str) -> dict[str, str]:
    extension = "m4a" if audio_format == "aac" else audio_format
    return {"Content-Disposition": f'inline; filename="{recording_id}.{extension}"'}


async def _decompressed(sealed: SealedObject, compression: str | None) -> AsyncIterator[bytes]:
    inflate = decompressor(compression or "zstd")
    async for piece in sealed.iter_range(0, None):
        out = inflate.decompress(piece)
        if out:
            yield out
