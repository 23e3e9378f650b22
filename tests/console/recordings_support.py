"""Recordings made the way a telephony or chat integration makes them: through the recording
service's API with a user's token (a WAV tone imported, a chat started, written and stopped)."""

from __future__ import annotations

import io
import math
import struct
import time
import uuid
import wave
from dataclasses import dataclass, field
from typing import Any

from tests.console.stack import ADMIN, Stack


def wav_tone(seconds: float, *, rate: int = 8000, frequency: float = 440.0) -> bytes:
    """A mono 16-bit PCM WAV of a sine tone."""
    count = int(seconds * rate)
    step = 2 * math.pi * frequency / rate
    samples = struct.pack(f"<{count}h", *(int(9000 * math.sin(step * n)) for n in range(count)))
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples)
    return out.getvalue()


def long_wav(seconds: int) -> bytes:
    """A WAV of ``seconds`` seconds at 8 kHz (16 KB a second): one second of a 440 Hz tone,
    which holds whole periods, repeated."""
    second = wav_tone(1.0)[44:]
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(second * seconds)
    return out.getvalue()


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Recorder:
    """Makes recordings as a user with ``recordings:write`` (the console's ADMIN)."""

    stack: Stack
    token: str = ""
    made: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.token = self.stack.api_token(*ADMIN)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.stack.api(method, "recording", path, self.token, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    def voice(self, agent: str, customer: str, session: str, audio: bytes) -> dict[str, Any]:
        made: dict[str, Any] = self.call(
            "POST",
            "/recordings/import",
            params={"session_id": session, "agent_id": agent, "customer_id": customer},
            content=audio,
        )
        self.made.append(made["recording_id"])
        return self.completed(made["recording_id"])

    def chat(
        self, agent: str, customer: str, session: str, messages: list[dict[str, Any]]
    ) -> dict[str, Any]:
        started = self.call(
            "POST",
            "/recordings/chat/start",
            json={"session_id": session, "agent_id": agent, "customer_id": customer},
        )
        recording_id = started["recording_id"]
        for message in messages:
            self.call("POST", f"/recordings/chat/{recording_id}/messages", json=message)
        stopped: dict[str, Any] = self.call("POST", f"/recordings/chat/{recording_id}/stop")
        self.made.append(recording_id)
        return stopped

    def metadata(self, recording_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/recordings/{recording_id}")
        return found

    def completed(self, recording_id: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.metadata(recording_id)
            if found["status"] != "finalizing" or time.monotonic() > deadline:
                assert found["status"] == "completed", found
                return found
            time.sleep(0.05)
