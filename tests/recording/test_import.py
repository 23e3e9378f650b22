"""Importing finished files: kept as they are or transcoded, streamed in as raw bodies or
form uploads; anything that is not audio is refused and leaves nothing behind."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.recording.conftest import Deployment, recording_settings
from tests.recording.support import (
    bearer,
    decode,
    dominant_frequency,
    error_code,
    interleave,
    mulaw_decode,
    mulaw_encode,
    tone,
)
from tests.recording.test_audio_signals import encode_with_pyav

AGENT = bearer("AGENT", user_id="u-agent", username="agent001")
SUPERVISOR = bearer("SUPERVISOR", user_id="u-sup", username="sup01")
WHO = {"session_id": "imp-1", "agent_id": "agent001", "customer_id": "c-1"}
PCM = interleave(tone(440, 1.0), tone(1000, 1.0))


async def _import(recording: Deployment, content: bytes, **params: Any) -> Any:
    return await recording.http.post(
        "/recordings/import",
        params={**WHO, **params},
        content=content,
        headers={**AGENT, "Content-Type": "application/octet-stream"},
    )


async def _audio(recording: Deployment, recording_id: str) -> bytes:
    metadata = await recording.service.wait_finalized(recording_id, 20)
    assert metadata["status"] == "completed", metadata
    download = await recording.http.get(f"/recordings/{recording_id}/download", headers=SUPERVISOR)
    assert download.status_code == 200
    return download.content


async def _objects(recording: Deployment) -> list[str]:
    return [info.key async for info in recording.service.resources.storage.list("recordings/")]


class TestImport:
    async def test_a_wav_is_kept_as_it_came(self, recording: Deployment) -> None:
        wav = encode_with_pyav("pcm_s16le", "wav", PCM, 8000, 2)
        imported = await _import(recording, wav)
        assert imported.status_code in (201, 202), imported.text
        body = imported.json()
        assert body["source"] == "import" and body["format"] == "wav"
        audio = await _audio(recording, body["recording_id"])
        assert audio == wav, "stored byte for byte"
        metadata = (
            await recording.http.get(f"/recordings/{body['recording_id']}", headers=AGENT)
        ).json()
        assert metadata["duration_seconds"] == 1.0 and metadata["channels"] == 2

    async def test_a_form_upload_transcoded_to_mp3(self, recording: Deployment) -> None:
        flac = encode_with_pyav("flac", "flac", PCM, 8000, 2)
        imported = await recording.http.post(
            "/recordings/import",
            params={**WHO, "format": "mp3"},
            headers=AGENT,
            files={"file": ("call.flac", flac, "audio/flac")},
            data={"note": "ignored"},
        )
        assert imported.status_code in (201, 202), imported.text
        rid = imported.json()["recording_id"]
        rate, channels, frames, codec = decode(await _audio(recording, rid))
        assert (rate, channels) == (8000, 2) and codec.startswith("mp3")
        assert abs(dominant_frequency(frames[2000:6000, 1], 8000) - 1000) < 15
        metadata = (await recording.http.get(f"/recordings/{rid}", headers=AGENT)).json()
        assert metadata["format"] == "mp3" and metadata["duration_seconds"] == 1.0
        assert [k for k in await _objects(recording) if k.endswith(".source")] == []

    async def test_amazon_connect_wav_mulaw(self, recording: Deployment) -> None:
        mulaw = mulaw_encode(tone(600, 1.0))
        wav = encode_with_pyav("pcm_mulaw", "wav", mulaw_decode(mulaw).tobytes(), 8000, 1)
        imported = await _import(recording, wav)
        rid = imported.json()["recording_id"]
        _, channels, frames, codec = decode(await _audio(recording, rid))
        assert channels == 1 and codec == "flac", "stored in the default format"
        assert frames[:, 0].tobytes() == mulaw_decode(mulaw).tobytes()

    @pytest.mark.parametrize(
        "content", [os.urandom(5000), b'{"not": "audio"}' * 100, b"RIFF\x00\x00\x00\x00WAVE"]
    )
    async def test_anything_else_is_refused_and_leaves_nothing(
        self, recording: Deployment, content: bytes
    ) -> None:
        refused = await _import(recording, content)
        assert refused.status_code == 422, refused.text
        assert error_code(refused) in ("not_audio", "corrupt_audio", "unsupported_audio")
        assert (await recording.http.get("/recordings", headers=SUPERVISOR)).json()["items"] == []
        assert await _objects(recording) == []

    async def test_empty_and_bad_requests(self, recording: Deployment) -> None:
        empty = await _import(recording, b"")
        assert empty.status_code == 422 and error_code(empty) == "empty_upload"
        no_file = await recording.http.post(
            "/recordings/import",
            params=WHO,
            headers=AGENT,
            data={"other": "x"},
            files={"other": ("x.txt", b"hello", "text/plain")},
        )
        assert no_file.status_code == 422 and error_code(no_file) == "empty_upload"
        missing = await recording.http.post("/recordings/import", content=b"x", headers=AGENT)
        assert missing.status_code == 422
        assert (await _import(recording, PCM, format="ogg")).status_code == 422


async def test_an_oversized_upload_is_413(tmp_path: Any, backend: dict[str, Any]) -> None:
    from aicc.recording.app import create_app
    from tests.asgi import serve_app

    app = create_app(recording_settings(tmp_path, backend, **{"recording.import_max_bytes": 4096}))
    async with serve_app(app) as http:
        wav = encode_with_pyav("pcm_s16le", "wav", PCM, 8000, 2)

        async def chunks() -> Any:
            for low in range(0, len(wav), 1000):
                yield wav[low : low + 1000]

        streamed = await http.post(
            "/recordings/import", params=WHO, content=chunks(), headers=AGENT
        )
        assert streamed.status_code == 413 and error_code(streamed) == "payload_too_large"
        declared = await http.post("/recordings/import", params=WHO, content=wav, headers=AGENT)
        assert declared.status_code == 413
        keys = [i.key async for i in app.state.aicc_service.resources.storage.list("")]
        assert keys == []
