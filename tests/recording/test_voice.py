"""Voice capture through the Python API and HTTP: the spec's example, chunks with offsets
(retries stored once, gaps refused), every format decoded and compared with what was sent."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aicc.recording import RecordingService
from tests.recording.conftest import Deployment
from tests.recording.support import bearer, decode, dominant_frequency, error_code, interleave, tone

AGENT = bearer("AGENT", user_id="u-agent", username="agent001")
SUPERVISOR = bearer("SUPERVISOR", user_id="u-sup", username="sup01")
START = {"session_id": "session_123", "agent_id": "agent001", "customer_id": "customer_789"}


async def test_the_spec_example_runs_as_written(tmp_path: Path) -> None:
    config = {
        "s3_bucket": None,
        "encryption_key": "your-encryption-key",
        "data_dir": str(tmp_path / "var"),
    }
    recording_service = RecordingService(config)
    await recording_service.start()
    try:
        recording_id = await recording_service.start_voice_recording(
            session_id="session_123", agent_id="agent_456", customer_id="customer_789"
        )
        metadata = await recording_service.stop_voice_recording(recording_id)
    finally:
        await recording_service.stop()
    assert metadata["status"] == "completed" and metadata["recovered"] is False
    assert metadata["duration_seconds"] == 0 and metadata["format"] == "flac"
    assert metadata["size_bytes"] > 0 and len(metadata["sha256"]) == 64
    assert metadata["ended_by"] == "stop"


async def test_the_spec_example_on_postgres_and_s3(
    postgres_url: str, s3_bucket: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    config = {
        "database_url": postgres_url,
        "s3_bucket": s3_bucket,
        "encryption_key": "your-encryption-key",
    }
    recording_service = RecordingService(config)
    await recording_service.start()
    try:
        recording_id = await recording_service.start_voice_recording(
            session_id="session_123", agent_id="agent_456", customer_id="customer_789"
        )
        await recording_service.append_audio(recording_id, tone(440, 0.5).tobytes())
        metadata = await recording_service.stop_voice_recording(recording_id)
        stored = [o.key async for o in recording_service.resources.storage.list("recordings/")]
    finally:
        await recording_service.stop()
    assert metadata["status"] == "completed" and metadata["duration_seconds"] == 0.5
    assert stored == [f"recordings/{recording_id[:2]}/{recording_id}"]


async def _start(recording: Deployment, **options: Any) -> dict[str, Any]:
    response = await recording.http.post(
        "/recordings/voice/start", json={**START, **options}, headers=AGENT
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _send(recording: Deployment, recording_id: str, data: bytes, offset: int) -> Any:
    return await recording.http.post(
        f"/recordings/voice/{recording_id}/audio",
        params={"offset": offset},
        content=data,
        headers={**AGENT, "Content-Type": "application/octet-stream"},
    )


async def _stop_and_download(
    recording: Deployment, recording_id: str
) -> tuple[dict[str, Any], bytes]:
    stopped = await recording.http.post(f"/recordings/voice/{recording_id}/stop", headers=AGENT)
    assert stopped.status_code == 200, stopped.text
    download = await recording.http.get(f"/recordings/{recording_id}/download", headers=SUPERVISOR)
    assert download.status_code == 200, download.text
    return stopped.json(), download.content


STEREO = interleave(tone(440, 2.0), tone(1000, 2.0))


class TestChunks:
    async def test_chunks_retries_and_gaps(self, recording: Deployment) -> None:
        started = await _start(recording, channels=2, format="wav")
        assert started["status"] == "recording"
        assert started["stream_url"].startswith("ws://") and "token=" in started["stream_url"]
        assert started["channel_map"] == {"left": "customer", "right": "agent"}
        rid = started["recording_id"]
        cuts = [0, 3, 4001, 16000, 16001, len(STEREO)]
        for low, high in itertools.pairwise(cuts):
            accepted = await _send(recording, rid, STEREO[low:high], low)
            assert accepted.status_code == 200, accepted.text
            assert accepted.json()["received_bytes"] == high
        retried = await _send(recording, rid, STEREO[4001:16000], 4001)
        assert retried.json() == {
            "recording_id": rid,
            "received_bytes": len(STEREO),
            "duplicate": True,
        }
        gap = await _send(recording, rid, b"\x00\x00", len(STEREO) + 10)
        assert gap.status_code == 409 and error_code(gap) == "offset_gap"
        assert gap.json()["error"]["details"] == {"expected_offset": len(STEREO)}
        metadata, audio = await _stop_and_download(recording, rid)
        rate, channels, frames, codec = decode(audio)
        assert (rate, channels, codec) == (8000, 2, "pcm_s16le")
        assert frames.tobytes() == STEREO, "bit-exact"
        assert metadata["duration_seconds"] == 2.0

    async def test_stopping_twice_and_audio_after_stop(self, recording: Deployment) -> None:
        rid = (await _start(recording))["recording_id"]
        await _stop_and_download(recording, rid)
        again = await recording.http.post(f"/recordings/voice/{rid}/stop", headers=AGENT)
        assert again.status_code == 409 and error_code(again) == "recording_state"
        late = await _send(recording, rid, b"\x00\x00", 0)
        assert late.status_code == 409

    @pytest.mark.parametrize(
        "body",
        [
            {"format": "ogg"},
            {"sample_rate": 44100},
            {"channels": 3},
            {"encoding": "alaw"},
            {"channels": 1, "channel_map": {"left": "agent", "right": "customer"}},
            {"channels": 2, "channel_map": {"left": "agent", "right": "agent"}},
            {"format": "flac", "bitrate": 32000},
            {"colour": "blue"},
            {"session_id": ""},
        ],
    )
    async def test_bad_start_parameters_name_the_field(
        self, recording: Deployment, body: dict[str, Any]
    ) -> None:
        refused = await recording.http.post(
            "/recordings/voice/start", json={**START, **body}, headers=AGENT
        )
        assert refused.status_code == 422, refused.text
        assert error_code(refused) == "validation_error"
        assert refused.json()["error"]["details"]


@pytest.mark.parametrize("audio_format", ["wav", "flac", "mp3", "aac"])
async def test_every_format_round_trips(recording: Deployment, audio_format: str) -> None:
    rid = (await _start(recording, channels=2, format=audio_format))["recording_id"]
    await _send(recording, rid, STEREO, 0)
    metadata, audio = await _stop_and_download(recording, rid)
    rate, channels, frames, _ = decode(audio)
    assert (rate, channels) == (8000, 2)
    assert metadata["format"] == audio_format and metadata["duration_seconds"] == 2.0
    if audio_format in ("wav", "flac"):
        assert frames.tobytes() == STEREO
    else:
        assert abs(len(frames) - 16000) <= 2048
        middle = frames[4000:12000]
        assert abs(dominant_frequency(middle[:, 0], 8000) - 440) < 15
        assert abs(dominant_frequency(middle[:, 1], 8000) - 1000) < 15
        assert np.abs(middle[:, 0]).max() > 3000


async def test_mulaw_16k_mono(recording: Deployment) -> None:
    from tests.recording.support import mulaw_decode, mulaw_encode

    sent = tone(700, 1.0, rate=16000)
    data = mulaw_encode(sent)
    rid = (await _start(recording, encoding="mulaw", sample_rate=16000, format="flac"))[
        "recording_id"
    ]
    await _send(recording, rid, data, 0)
    _, audio = await _stop_and_download(recording, rid)
    rate, channels, frames, _ = decode(audio)
    assert (rate, channels) == (16000, 1)
    assert frames[:, 0].tobytes() == mulaw_decode(data).tobytes()
