"""Live recordings nobody feeds any more: a silent caller is finalized after the idle
timeout; a stream whose process died (``kill -9``) is finalized from the shared spool by
another replica, ``recovered: true``, with every acknowledged byte."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import orjson
from sqlalchemy import update
from websockets.asyncio.client import connect

from aicc.recording import models
from tests.backends import free_port
from tests.processes import aicc_env
from tests.recording.conftest import Deployment
from tests.recording.support import ISSUER, SECRET, bearer, decode, interleave, tone

AGENT = bearer("AGENT", user_id="u-agent", username="agent001")
SUPERVISOR = bearer("SUPERVISOR", user_id="u-sup", username="sup01")
START = {"session_id": "rec-1", "agent_id": "agent001", "customer_id": "c-1", "format": "wav"}
AUDIO = tone(300, 1.0).tobytes()


async def _live(recording: Deployment) -> str:
    started = await recording.http.post("/recordings/voice/start", json=START, headers=AGENT)
    rid: str = started.json()["recording_id"]
    await recording.http.post(f"/recordings/voice/{rid}/audio", content=AUDIO, headers=AGENT)
    return rid


async def _age(recording: Deployment, rid: str, **values: Any) -> None:
    async with recording.service.resources.database.transaction() as conn:
        await conn.execute(update(models.item).where(models.item.c.id == rid).values(**values))


class TestSweep:
    async def test_a_silent_caller_is_finalized_as_idle(self, recording: Deployment) -> None:
        rid = await _live(recording)
        assert await recording.service.sweep_live() == 0, "still within the idle timeout"
        await _age(recording, rid, last_audio_at=datetime.now(UTC) - timedelta(minutes=6))
        assert await recording.service.sweep_live() <= 1  # the periodic sweep may be first
        metadata = await recording.service.wait_finalized(rid, 20)
        assert metadata["status"] == "completed" and metadata["ended_by"] == "idle"
        assert metadata["recovered"] is False and metadata["duration_seconds"] == 1.0

    async def test_a_dead_stream_is_recovered(self, recording: Deployment) -> None:
        rid = await _live(recording)
        long_ago = datetime.now(UTC) - timedelta(minutes=2)
        await _age(recording, rid, owner="gone:1:x", owner_seen_at=long_ago, last_audio_at=long_ago)
        assert await recording.service.sweep_live() <= 1  # the periodic sweep may be first
        metadata = await recording.service.wait_finalized(rid, 20)
        assert metadata["ended_by"] == "recovered" and metadata["recovered"] is True
        download = await recording.http.get(f"/recordings/{rid}/download", headers=SUPERVISOR)
        assert decode(download.content)[2][:, 0].tobytes() == AUDIO


def _serve(env: dict[str, str], port: int, cwd: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aicc", "serve", "recording", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if line.startswith("Press Ctrl-C") or time.monotonic() > deadline:
            break
    return proc


def _replica_env(tmp_path: Path, backend: dict[str, Any]) -> dict[str, str]:
    """The environment of ``aicc serve recording`` replicas sharing the test's backends."""
    env = aicc_env(
        tmp_path,
        JWT_SECRET=SECRET,
        AICC_AUTH_ISSUER=ISSUER,
        AICC_RECORDING_RECOVERY_GRACE="5",
        AICC_JOBS_POLL_INTERVAL="0.5",
        AICC_JOBS_LEASE="3",
        ENCRYPTION_KEY=backend.get("encryption_key") or base64.b64encode(os.urandom(32)).decode(),
    )
    for name, variable in (
        ("database_url", "DATABASE_URL"),
        ("redis_url", "REDIS_URL"),
        ("s3_bucket", "S3_BUCKET"),
        ("s3_endpoint_url", "S3_ENDPOINT_URL"),
        ("redis.key_prefix", "REDIS_KEY_PREFIX"),
    ):
        if name in backend:
            env[variable] = backend[name]
    if "s3_bucket" in backend:
        env.update(
            AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
        )
    return env


async def _stream_then_kill(
    port: int, victim: subprocess.Popen[str], audio: bytes, until: int
) -> tuple[str, str, int]:
    """Start a stereo recording on ``port``, stream ``audio`` until ``until`` bytes are
    acknowledged, then ``kill -9`` the replica; returns (id, stream URL, bytes acknowledged)."""
    async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        started = await http.post(
            "/recordings/voice/start", json={**START, "channels": 2}, headers=AGENT
        )
        rid, url = started.json()["recording_id"], started.json()["stream_url"]
    acked = 0
    async with connect(url) as ws:
        await ws.send(audio[:until])
        while acked < until:
            acked = orjson.loads(await ws.recv())["received_bytes"]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
    return rid, url, acked


async def test_kill_9_mid_stream_loses_no_acknowledged_audio(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    env = _replica_env(tmp_path, backend)
    first_port, second_port = free_port(), free_port()
    first = _serve(env, first_port, tmp_path)
    second: subprocess.Popen[str] | None = None
    audio = interleave(tone(440, 2.0), tone(1000, 2.0))
    try:
        rid, _, acked = await _stream_then_kill(first_port, first, audio, 20000)
        killed = time.monotonic()
        second = _serve(env, second_port, tmp_path)
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{second_port}") as http:
            while True:
                metadata = (await http.get(f"/recordings/{rid}", headers=AGENT)).json()
                if metadata["status"] == "completed":
                    break
                assert time.monotonic() - killed < 40, metadata
                await asyncio.sleep(0.5)
            assert metadata["recovered"] is True and metadata["ended_by"] == "recovered"
            download = await http.get(f"/recordings/{rid}/download", headers=SUPERVISOR)
        frames = decode(download.content)[2]
        assert frames.tobytes() == audio[:acked], "every acknowledged byte, nothing else"
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


async def test_a_stream_continues_on_another_replica(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    env = _replica_env(tmp_path, backend)
    first_port, second_port = free_port(), free_port()
    first, second = _serve(env, first_port, tmp_path), _serve(env, second_port, tmp_path)
    audio = interleave(tone(440, 2.0), tone(1000, 2.0))
    try:
        rid, url, acked = await _stream_then_kill(first_port, first, audio, 30000)
        other = url.replace(f":{first_port}/", f":{second_port}/") + f"&offset={acked - 1000}"
        async with connect(other) as ws:
            await ws.send(audio[acked - 1000 :])
            await ws.send(orjson.dumps({"event": "stop"}).decode())
            while orjson.loads(await ws.recv())["event"] != "stopped":
                pass
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{second_port}") as http:
            deadline = time.monotonic() + 30
            while (meta := (await http.get(f"/recordings/{rid}", headers=AGENT)).json())[
                "status"
            ] != "completed":
                assert time.monotonic() < deadline, meta
                await asyncio.sleep(0.2)
            download = await http.get(f"/recordings/{rid}/download", headers=SUPERVISOR)
        assert meta["ended_by"] == "stop" and meta["recovered"] is False
        assert decode(download.content)[2].tobytes() == audio, "the overlap stored once"
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
