"""Playback: Range requests over the encrypted object, transcoding on the fly, pause and
resume on the timeline, and storage that fails its integrity check never served."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from aicc.recording.catalog import object_key
from tests.recording.conftest import Deployment
from tests.recording.support import bearer, decode, dominant_frequency, error_code, interleave, tone

AGENT = bearer("AGENT", user_id="u-agent", username="agent001")
SUPERVISOR = bearer("SUPERVISOR", user_id="u-sup", username="sup01")
ADMIN = bearer("ADMIN", user_id="u-admin", username="admin01")
START = {"session_id": "play-1", "agent_id": "agent001", "customer_id": "c-1"}
AUDIO = interleave(tone(440, 12.0), tone(1000, 12.0))


async def _recorded(recording: Deployment, audio: bytes = AUDIO, **options: Any) -> str:
    started = await recording.http.post(
        "/recordings/voice/start",
        json={**START, "channels": 2, "format": "wav", **options},
        headers=AGENT,
    )
    rid: str = started.json()["recording_id"]
    sent = await recording.http.post(f"/recordings/voice/{rid}/audio", content=audio, headers=AGENT)
    assert sent.status_code == 200
    stopped = await recording.http.post(f"/recordings/voice/{rid}/stop", headers=AGENT)
    assert stopped.json()["status"] == "completed"
    return rid


class TestRanges:
    async def test_ranges_match_the_whole(self, recording: Deployment) -> None:
        rid = await _recorded(recording)
        url = f"/recordings/{rid}/download"
        whole = await recording.http.get(url, headers=SUPERVISOR)
        size = len(whole.content)
        assert whole.headers["accept-ranges"] == "bytes"
        assert int(whole.headers["content-length"]) == size
        etag = whole.headers["etag"]
        for spec, low, high in (
            ("bytes=0-99", 0, 99),
            ("bytes=65530-131080", 65530, 131080),
            (f"bytes={size - 10}-", size - 10, size - 1),
            ("bytes=-500", size - 500, size - 1),
            (f"bytes=100-{size + 999}", 100, size - 1),
        ):
            part = await recording.http.get(url, headers={**SUPERVISOR, "Range": spec})
            assert part.status_code == 206, spec
            assert part.headers["content-range"] == f"bytes {low}-{high}/{size}"
            assert part.content == whole.content[low : high + 1], spec
        past = await recording.http.get(url, headers={**SUPERVISOR, "Range": f"bytes={size}-"})
        assert past.status_code == 416 and error_code(past) == "range_not_satisfiable"
        assert past.headers["content-range"] == f"bytes */{size}"
        stale = await recording.http.get(
            url, headers={**SUPERVISOR, "Range": "bytes=0-9", "If-Range": '"old"'}
        )
        assert stale.status_code == 200 and len(stale.content) == size
        fresh = await recording.http.get(
            url, headers={**SUPERVISOR, "Range": "bytes=0-9", "If-Range": etag}
        )
        assert fresh.status_code == 206
        log = (await recording.http.get(f"/recordings/{rid}/access-log", headers=ADMIN)).json()
        plays = [e for e in log["items"] if e["event"] == "played"]
        assert plays and plays[0]["details"]["range"] == [0, 9]

    @pytest.mark.parametrize("target", ["mp3", "aac", "flac"])
    async def test_transcoded_on_the_fly(self, recording: Deployment, target: str) -> None:
        rid = await _recorded(recording, interleave(tone(440, 2.0), tone(1000, 2.0)))
        response = await recording.http.get(
            f"/recordings/{rid}/download", params={"format": target}, headers=SUPERVISOR
        )
        assert response.status_code == 200
        rate, channels, frames, _ = decode(response.content)
        assert (rate, channels) == (8000, 2) and abs(len(frames) - 16000) <= 2048
        assert abs(dominant_frequency(frames[4000:12000, 0], 8000) - 440) < 15


class TestPause:
    async def test_audio_sent_while_paused_is_silence(self, recording: Deployment) -> None:
        started = await recording.http.post(
            "/recordings/voice/start", json={**START, "format": "wav"}, headers=AGENT
        )
        rid = started.json()["recording_id"]
        speech = tone(500, 1.0).tobytes()
        card_number = tone(1500, 1.0).tobytes()

        async def send(data: bytes) -> None:
            response = await recording.http.post(
                f"/recordings/voice/{rid}/audio", content=data, headers=AGENT
            )
            assert response.status_code == 200, response.text

        await send(speech)
        paused = await recording.http.post(f"/recordings/voice/{rid}/pause", headers=AGENT)
        assert paused.json()["status"] == "paused"
        again = await recording.http.post(f"/recordings/voice/{rid}/pause", headers=AGENT)
        assert again.status_code == 409
        await send(card_number)
        await asyncio.sleep(0.6)
        resumed = await recording.http.post(f"/recordings/voice/{rid}/resume", headers=AGENT)
        assert resumed.json()["status"] == "recording"
        await send(speech)
        stopped = await recording.http.post(f"/recordings/voice/{rid}/stop", headers=AGENT)
        duration = stopped.json()["duration_seconds"]
        assert 3.0 <= duration < 3.4, "the clock-filled silence is only what did not arrive"
        audio = await recording.http.get(f"/recordings/{rid}/download", headers=SUPERVISOR)
        _, _, frames, _ = decode(audio.content)
        samples = frames[:, 0]
        assert np.array_equal(samples[:8000].tobytes(), speech)
        assert not samples[8000:-8000].any(), "nothing said while paused is kept"
        assert np.array_equal(samples[-8000:].tobytes(), speech)
        log = (await recording.http.get(f"/recordings/{rid}/access-log", headers=ADMIN)).json()
        events = [e["event"] for e in log["items"]]
        assert "paused" in events and "resumed" in events


class TestIntegrity:
    async def test_tampered_storage_is_never_served(self, recording: Deployment) -> None:
        rid = await _recorded(recording)
        store = recording.service.resources.storage
        key = object_key(rid)
        stored = bytearray(await (await store.get(key)).read())
        stored[200_000] ^= 0x01
        await store.put(key, bytes(stored))
        header = await recording.http.get(
            f"/recordings/{rid}/download", headers={**SUPERVISOR, "Range": "bytes=0-99"}
        )
        assert header.status_code == 206, "untouched segments still play"
        with pytest.raises(Exception):  # noqa: B017 (the server cuts the connection)
            await recording.http.get(f"/recordings/{rid}/download", headers=SUPERVISOR)
        await store.put(key, bytes(stored[:-5]))
        refused = await recording.http.get(f"/recordings/{rid}/download", headers=SUPERVISOR)
        assert refused.status_code == 500 and error_code(refused) == "recording_corrupt"
        metrics = (await recording.http.get("/metrics")).text
        assert 'aicc_recording_integrity_failures_total{reason="tampered"} 1.0' in metrics
        assert 'aicc_recording_integrity_failures_total{reason="truncated"} 1.0' in metrics
