"""Twilio Media Streams into a recording: base64 µ-law 8 kHz per track (``inbound``: the
caller; ``outbound``: what Twilio plays to the caller, the agent or bot), placed on the
timeline by each message's ``timestamp`` and interleaved into the recording's channels.

Messages: ``connected``, ``start`` (``start.mediaFormat``, ``start.tracks``), ``media``
(``media.track``, ``media.timestamp`` in ms from the stream's start, ``media.payload``), ``stop``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aicc.core.errors import ValidationFailed

SAMPLE_RATE = 8000
SILENCE = 0xFF
MAX_LAG_SAMPLES = SAMPLE_RATE // 2
"""A track that falls this far behind the other is padded with silence (it may never come)."""
_TRACK_PARTY = {"inbound": "customer", "outbound": "agent"}


class TrackInterleaver:
    """Turns per-track µ-law chunks into the recording's byte stream (1 or 2 channels)."""

    def __init__(self, channels: int, channel_map: dict[str, str] | None) -> None:
        if channels == 1:
            self.order = ["inbound"]
        else:
            layout = channel_map or {"left": "customer", "right": "agent"}
            by_party = {party: track for track, party in _TRACK_PARTY.items()}
            self.order = [by_party[layout["left"]], by_party[layout["right"]]]
        self.pending: dict[str, bytearray] = {track: bytearray() for track in self.order}
        self.next_sample: dict[str, int] = dict.fromkeys(self.order, 0)

    def add(self, track: str, timestamp_ms: int | None, audio: bytes) -> None:
        track = track.removesuffix("_track")
        if track not in self.pending:
            return
        if timestamp_ms is not None:
            position = timestamp_ms * SAMPLE_RATE // 1000
            gap = position - self.next_sample[track]
            if gap > 0:
                self._put(track, bytes([SILENCE]) * gap)
            elif gap < 0:
                audio = audio[-gap:]
        self._put(track, audio)

    def _put(self, track: str, audio: bytes) -> None:
        self.pending[track] += audio
        self.next_sample[track] += len(audio)

    def take(self, *, final: bool = False) -> bytes:
        """Whole frames that every channel has reached (all that is left, when ``final``)."""
        lengths = [len(self.pending[t]) for t in self.order]
        longest = max(lengths)
        for track, length in zip(self.order, lengths, strict=True):
            if final or longest - length > MAX_LAG_SAMPLES:
                pad = longest - length
                self._put(track, bytes([SILENCE]) * pad)
        ready = min(len(self.pending[t]) for t in self.order)
        if ready == 0:
            return b""
        if len(self.order) == 1:
            out = bytes(self.pending[self.order[0]][:ready])
        else:
            left, right = (self.pending[t] for t in self.order)
            mixed = bytearray(ready * 2)
            mixed[0::2] = left[:ready]
            mixed[1::2] = right[:ready]
            out = bytes(mixed)
        for track in self.order:
            del self.pending[track][:ready]
        return out


def media_of(message: dict[str, Any]) -> tuple[str, int | None, bytes]:
    """(track, timestamp in ms, µ-law bytes) of a ``media`` message; 422 when malformed."""
    media = message.get("media")
    if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
        raise ValidationFailed("media message without a payload", code="bad_media_message")
    try:
        audio = base64.b64decode(media["payload"], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("media payload is not base64", code="bad_media_message") from None
    timestamp = media.get("timestamp")
    try:
        when = int(timestamp) if timestamp is not None else None
    except (TypeError, ValueError):
        when = None
    return str(media.get("track", "inbound")), when, audio


def check_start(message: dict[str, Any], encoding: str, sample_rate: int) -> None:
    """The recording must have been started as Twilio sends: µ-law at 8 kHz."""
    media_format = (message.get("start") or {}).get("mediaFormat") or {}
    if encoding != "mulaw" or sample_rate != SAMPLE_RATE:
        raise ValidationFailed(
            "Twilio streams µ-law at 8000 Hz: start the recording with encoding=mulaw and "
            "sample_rate=8000",
            code="stream_format_mismatch",
        )
    declared = str(media_format.get("encoding", "audio/x-mulaw")).lower()
    rate = str(media_format.get("sampleRate", SAMPLE_RATE))
    if declared != "audio/x-mulaw" or rate != str(SAMPLE_RATE):
        raise ValidationFailed(
            "Only audio/x-mulaw at 8000 Hz is accepted", code="stream_format_mismatch"
        )
