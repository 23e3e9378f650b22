"""The live-audio WebSocket: raw frames of the recording's encoding, or Twilio Media Streams.

Raw clients send binary frames of any length (a frame may split a sample); every half second
the audio received is stored in the shared spool and acknowledged with a text frame
``{"event": "ack", "received_bytes": N}``. A client that reconnects (to any replica) passes
``?offset=N`` (the last acknowledged count) and continues. ``{"event": "stop"}`` stops the
recording; ``{"event": "mark", "mark": {...}}`` is answered at once with the mark and the bytes
received so far (stored or not yet), to measure how far behind the service reads. Twilio
clients (first message ``connected``) get no acknowledgements: Twilio's bidirectional streams
refuse unknown messages.

Errors are a text frame ``{"event": "error", "code": ..., "message": ...}`` and a close with
code 1008 (refused) or 1011 (failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from starlette.websockets import (
    WebSocket,
    WebSocketDisconnect,
    WebSocketDisconnected,
    WebSocketState,
)

from aicc.core.errors import AppError, ValidationFailed
from aicc.recording import twilio
from aicc.recording.capture import byte_rate

if TYPE_CHECKING:
    from aicc.core.tokens import Principal
    from aicc.recording.service import RecordingService

logger = logging.getLogger("aicc.recording.stream")
FLUSH_SECONDS = 0.5
HEARTBEAT_SECONDS = 10.0
"""How often a live stream tells the others its process is alive (at most)."""


class _Stopped(Exception):
    """The client asked to stop the recording."""


class StreamSession:
    def __init__(
        self,
        service: RecordingService,
        websocket: WebSocket,
        row: dict[str, Any],
        caller: Principal | None,
        offset: int | None,
    ) -> None:
        self.service = service
        self.websocket = websocket
        self.row = row
        self.caller = caller
        self.recording_id: str = row["id"]
        self.offset: int = int(row["received_bytes"]) if offset is None else offset
        """Where this client's next byte goes: its ``?offset=``, or the end of the stored audio
        when it connected. Every write is placed, so bytes that reach this connection after the
        caller has moved to another (late, from a balancer's buffers) are found already stored
        instead of being appended after the other connection's audio."""
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.buffer = bytearray()
        self.flush_at = max(1, int(byte_rate(row) * FLUSH_SECONDS))
        self.twilio: twilio.TrackInterleaver | None = None
        self.key = b""
        self.received = self.offset
        """Bytes acknowledged as stored (the spool's end, as this stream last saw it)."""
        self.heartbeat = min(HEARTBEAT_SECONDS, service.settings.recording.recovery_grace / 3)

    async def run(self) -> None:
        self.key = await self.service.data_key(self.recording_id)
        await self.service.claim_stream(self.recording_id, self.owner)
        try:
            await self._receive()
        except _Stopped:
            await self._flush(final=True)
            metadata = await self.service.stop_voice_recording(self.recording_id, wait=0)
            await self._send({"event": "stopped", "status": metadata["status"]})
            await self._close(1000)
        except WebSocketDisconnect:
            with contextlib.suppress(AppError):
                await self._flush(final=True)
        except AppError as exc:
            await self._fail(exc.error_code, exc.message, 1008)
        finally:
            await self.service.release_stream(self.recording_id, self.owner)

    async def _receive(self) -> None:
        last_flush = last_seen = time.monotonic()
        while True:
            wait = max(0.01, FLUSH_SECONDS - (time.monotonic() - last_flush))
            message = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    message = await self.websocket.receive()
            if message is not None:
                if message["type"] == "websocket.disconnect":
                    raise WebSocketDisconnect(message.get("code", 1000))
                if message.get("bytes") is not None:
                    self.buffer += message["bytes"]
                elif message.get("text") is not None:
                    reply = self._control(message["text"])
                    if reply is not None:
                        await self._send(reply)
            now = time.monotonic()
            if len(self.buffer) >= self.flush_at or now - last_flush >= FLUSH_SECONDS:
                await self._flush()
                last_flush = last_seen = now
            elif now - last_seen >= self.heartbeat:
                await self.service.claim_stream(self.recording_id, self.owner)
                last_seen = now

    def _control(self, text: str) -> dict[str, Any] | None:
        """Act on a JSON message; returns what to answer, if anything."""
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise _refused("Text frames must be JSON messages") from None
        if not isinstance(message, dict):
            raise _refused("Text frames must be JSON objects")
        event = message.get("event")
        if event == "connected":
            self.twilio = self.twilio or twilio.TrackInterleaver(
                self.row["channels"], self.row["channel_map"]
            )
        elif event == "start":
            twilio.check_start(message, self.row["encoding"], self.row["sample_rate"])
            self.twilio = self.twilio or twilio.TrackInterleaver(
                self.row["channels"], self.row["channel_map"]
            )
        elif event == "media":
            if self.twilio is None:
                self.twilio = twilio.TrackInterleaver(self.row["channels"], self.row["channel_map"])
            self.twilio.add(*twilio.media_of(message))
            self.buffer += self.twilio.take()
        elif event == "stop":
            if self.twilio is not None:
                self.buffer += self.twilio.take(final=True)
            raise _Stopped
        elif event == "mark" and self.twilio is None:
            received = self.received + len(self.buffer)
            return {"event": "mark", "mark": message.get("mark"), "received_bytes": received}
        elif event not in ("mark", "dtmf"):
            raise _refused(f"Unknown event {event!r}")
        return None

    async def _flush(self, *, final: bool = False) -> None:
        if final and self.twilio is not None:
            self.buffer += self.twilio.take(final=True)
        if not self.buffer:
            return
        chunk, self.buffer = bytes(self.buffer), bytearray()
        ack = await self.service.append_audio(
            self.recording_id,
            chunk,
            offset=self.offset,
            caller=self.caller,
            data_key=self.key,
            owner=self.owner,
        )
        self.offset += len(chunk)
        self.received = int(ack["received_bytes"])
        if self.twilio is None and not final:
            await self._send({"event": "ack", "received_bytes": ack["received_bytes"]})

    async def _send(self, message: dict[str, Any]) -> None:
        """Send, unless the client has gone (it may close as soon as it has said stop)."""
        if self.websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect, WebSocketDisconnected):
                await self.websocket.send_text(orjson.dumps(message).decode())

    async def _close(self, code: int) -> None:
        if self.websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect, WebSocketDisconnected):
                await self.websocket.close(code)

    async def _fail(self, code: str, message: str, close_code: int) -> None:
        await self._send({"event": "error", "code": code, "message": message})
        await self._close(close_code)


async def refuse(websocket: WebSocket, exc: AppError) -> None:
    """Tell a client why its stream is refused, then close (it may have gone already)."""
    with contextlib.suppress(RuntimeError, WebSocketDisconnect, WebSocketDisconnected):
        await websocket.send_text(
            orjson.dumps(
                {"event": "error", "code": exc.error_code, "message": exc.message}
            ).decode()
        )
        await websocket.close(1008)


def _refused(message: str) -> AppError:
    return ValidationFailed(message, code="bad_stream_message")
