"""Live audio over the WebSocket: raw frames (acknowledged, resumable on reconnect) and Twilio
Media Streams (two tracks into two channels)."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.recording.conftest import Deployment
from tests.recording.support import (
    bearer,
    decode,
    dominant_frequency,
    interleave,
    mulaw_decode,
    mulaw_encode,
    tone,
)

AGENT = bearer("AGENT", user_id="u-agent", username="agent001")
SUPERVISOR = bearer("SUPERVISOR", user_id="u-sup", username="sup01")
START = {"session_id": "ws-1", "agent_id": "agent001", "customer_id": "c-1"}


async def _start(live: Deployment, **options: Any) -> dict[str, Any]:
    started = await live.http.post(
        "/recordings/voice/start", json={**START, **options}, headers=AGENT
    )
    assert started.status_code == 201, started.text
    body: dict[str, Any] = started.json()
    return body


async def _acked(ws: Any, wanted: int) -> int:
    while True:
        message = orjson.loads(await ws.recv())
        assert message["event"] == "ack", message
        if message["received_bytes"] >= wanted:
            return int(message["received_bytes"])


async def _download(live: Deployment, recording_id: str) -> bytes:
    metadata = await live.service.wait_finalized(recording_id, 20)
    assert metadata["status"] == "completed", metadata
    response = await live.http.get(f"/recordings/{recording_id}/download", headers=SUPERVISOR)
    assert response.status_code == 200
    return response.content


class TestRawFrames:
    async def test_frames_that_split_samples_and_a_reconnect(
        self, live_recording: Deployment
    ) -> None:
        started = await _start(live_recording, channels=2, format="flac")
        rid, url = started["recording_id"], started["stream_url"]
        audio = interleave(tone(500, 1.5), tone(1200, 1.5))
        half = 12001
        async with connect(url) as ws:
            for low in range(0, half, 999):
                await ws.send(audio[low : min(low + 999, half)])
            assert await _acked(ws, half) == half
        async with connect(f"{url}&offset=8000") as ws:
            await ws.send(audio[8000:])
            assert await _acked(ws, len(audio)) == len(audio)
            await ws.send(orjson.dumps({"event": "stop"}).decode())
            stopped = orjson.loads(await ws.recv())
            assert stopped["event"] == "stopped"
        _, channels, frames, _ = decode(await _download(live_recording, rid))
        assert channels == 2 and frames.tobytes() == audio, "overlap stored once, bit-exact"

    async def test_a_client_that_closes_right_after_stop(
        self, live_recording: Deployment, caplog: pytest.LogCaptureFixture
    ) -> None:
        started = await _start(live_recording, encoding="mulaw")
        async with connect(started["stream_url"]) as ws:
            for _ in range(100):
                await ws.send(b"\xff\x7f" * 80)
            await ws.send(orjson.dumps({"event": "stop"}).decode())
        service, rid = live_recording.service, started["recording_id"]
        deadline = time.monotonic() + 20
        while (metadata := await service.get_recording(rid))["status"] != "completed":
            assert time.monotonic() < deadline, metadata
            await asyncio.sleep(0.05)
        assert metadata["received_bytes"] == 16000 and metadata["ended_by"] == "stop"
        assert not [r for r in caplog.records if r.levelname == "ERROR"]

    async def test_refusals(self, live_recording: Deployment) -> None:
        started = await _start(live_recording)
        rid, url = started["recording_id"], started["stream_url"]
        base = url.split("?")[0]
        for target, code in (
            (base, "missing_token"),
            (f"{base}?token=forged.token", "invalid_stream_token"),
            (url.replace(rid, "f" * 32), "invalid_stream_token"),
        ):
            async with connect(target) as ws:
                error = orjson.loads(await ws.recv())
                assert error == {"event": "error", "code": code, "message": error["message"]}
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
        async with connect(base, additional_headers=AGENT) as ws:
            await ws.send(b"\x00\x00" * 800)
            await ws.send(orjson.dumps({"event": "mark", "mark": {"name": "m1"}}).decode())
            echoed = orjson.loads(await ws.recv())
            assert echoed == {"event": "mark", "mark": {"name": "m1"}, "received_bytes": 1600}
            assert await _acked(ws, 1600) == 1600
        async with connect(url) as ws:
            await ws.send("not json")
            error = orjson.loads(await ws.recv())
            assert error["code"] == "bad_stream_message"
        async with connect(f"{url}&offset=999999") as ws:
            await ws.send(b"\x00\x00")
            error = orjson.loads(await ws.recv())
            assert error["code"] == "offset_gap"


def _twilio(event: str, **body: Any) -> str:
    return orjson.dumps({"event": event, "streamSid": "MZ123", **body}).decode()


class TestTwilio:
    async def test_two_tracks_become_two_channels(self, live_recording: Deployment) -> None:
        started = await _start(live_recording, channels=2, encoding="mulaw", format="wav")
        rid, url = started["recording_id"], started["stream_url"]
        caller, agent = mulaw_encode(tone(400, 1.0)), mulaw_encode(tone(900, 1.0))
        async with connect(url) as ws:
            await ws.send(_twilio("connected", protocol="Call", version="1.0.0"))
            await ws.send(
                _twilio(
                    "start",
                    start={
                        "tracks": ["inbound", "outbound"],
                        "mediaFormat": {
                            "encoding": "audio/x-mulaw",
                            "sampleRate": 8000,
                            "channels": 1,
                        },
                    },
                )
            )
            for index in range(50):
                low = index * 160
                for track, payload in (("inbound", caller), ("outbound", agent)):
                    media = {
                        "track": track,
                        "chunk": str(index + 1),
                        "timestamp": str(index * 20),
                        "payload": base64.b64encode(payload[low : low + 160]).decode(),
                    }
                    await ws.send(_twilio("media", media=media))
            await ws.send(_twilio("stop", stop={"callSid": "CA1"}))
            assert orjson.loads(await ws.recv())["event"] == "stopped"
        rate, channels, frames, _ = decode(await _download(live_recording, rid))
        assert (rate, channels, len(frames)) == (8000, 2, 8000)
        assert frames[:, 0].tobytes() == mulaw_decode(caller).tobytes(), "caller on the left"
        assert frames[:, 1].tobytes() == mulaw_decode(agent).tobytes(), "agent on the right"
        assert abs(dominant_frequency(frames[:, 1], 8000) - 900) < 10

    async def test_a_recording_twilio_cannot_feed_is_refused(
        self, live_recording: Deployment
    ) -> None:
        url = (await _start(live_recording))["stream_url"]
        async with connect(url) as ws:
            await ws.send(_twilio("start", start={"mediaFormat": {"encoding": "audio/x-mulaw"}}))
            assert orjson.loads(await ws.recv())["code"] == "stream_format_mismatch"
