"""Request and response bodies of the recording API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AudioFormat = Literal["wav", "flac", "mp3", "aac"]
Encoding = Literal["pcm_s16le", "mulaw"]
Sender = Literal["agent", "customer", "bot", "system"]
Party = Literal["customer", "agent"]
Identifier = Field(min_length=1, max_length=200)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChannelMap(Strict):
    left: Party = "customer"
    right: Party = "agent"

    @model_validator(mode="after")
    def _two_parties(self) -> ChannelMap:
        if self.left == self.right:
            raise ValueError("left and right must be different parties")
        return self


class VoiceStart(Strict):
    """The spec's body (``session_id``, ``agent_id``, ``customer_id``) and how to capture."""

    session_id: str = Identifier
    agent_id: str = Identifier
    customer_id: str = Identifier
    format: AudioFormat | None = None
    sample_rate: Literal[8000, 16000] = 8000
    channels: Literal[1, 2] = 1
    channel_map: ChannelMap | None = None
    encoding: Encoding = "pcm_s16le"
    bitrate: int | None = Field(None, ge=8000, le=320000)
    retention_days: int | None = Field(None, ge=0, le=36500)

    @model_validator(mode="after")
    def _consistent(self) -> VoiceStart:
        if self.channel_map is not None and self.channels != 2:
            raise ValueError("channel_map is only for channels=2")
        if self.bitrate is not None and self.format in ("wav", "flac"):
            raise ValueError("bitrate is only for the lossy formats mp3 and aac")
        if self.channels == 2 and self.channel_map is None:
            self.channel_map = ChannelMap()
        return self


class VoiceStarted(BaseModel):
    recording_id: str
    status: str
    stream_url: str
    stream_token_expires_at: datetime
    format: AudioFormat
    sample_rate: int
    channels: int
    channel_map: dict[str, str] | None
    encoding: Encoding


class AudioAccepted(BaseModel):
    recording_id: str
    received_bytes: int
    """Bytes of audio acknowledged so far: the next chunk's ``offset``."""
    duplicate: bool = False


class ChatStart(Strict):
    session_id: str = Identifier
    agent_id: str = Identifier
    customer_id: str = Identifier
    retention_days: int | None = Field(None, ge=0, le=36500)


class ChatMessage(Strict):
    sender: Sender
    text: str = Field(max_length=20000)
    sent_at: datetime | None = None
    attachments: list[str] = Field(default_factory=list, max_length=20)


class HoldRequest(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class DeleteRequest(Strict):
    reason: str | None = Field(None, max_length=1000)


class RecordingPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None
