"""What ``bench/console.py`` runs against: ``aicc up`` on a scratch folder (all five wings in
one process, pinned to core 1), and the data it holds: recordings inserted straight into the
recording service's table through its models, users, alert rules and one real call imported
through the APIs."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import time
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
from servers import ServerProcess, free_port, http_get

SERVER_CPU = 1
WINGS = ("monitoring", "recording", "integration", "auth", "console")
ADMIN = ("admin", "Bench-Console-Root-Passphrase-7")
USER_PASSWORD = "Bench-Console-User-Passphrase-3"  # noqa: S105 (a scratch stack)
AGENTS = 200
"""Recordings are spread over this many agents (500 each at 100,000)."""
CALL_SECONDS = 300


def scratch_env(data: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AICC_", "DATABASE_", "REDIS_", "S3_", "LOG_", "JWT_"))
    }
    env.update(
        AICC_DATA_DIR=str(data),
        AICC_BOOTSTRAP_ADMIN_USERNAME=ADMIN[0],
        AICC_BOOTSTRAP_ADMIN_PASSWORD=ADMIN[1],
        AICC_ACCESS_LOG="false",
        LOG_LEVEL="WARNING",
    )
    return env


def seed_recordings(data: Path, count: int) -> dict[str, Any]:
    """``count`` completed voice recordings over the last 90 days, straight into the table."""
    from sqlalchemy import create_engine, insert

    from aicc.recording import models

    engine = create_engine(f"sqlite:///{data / 'aicc.db'}")
    now = datetime.now(UTC)
    started = time.perf_counter()
    with engine.begin() as conn:
        for first in range(0, count, 5000):
            rows = []
            for n in range(first, min(count, first + 5000)):
                begun = now - timedelta(seconds=90 * 86400 * (n + 1) / count)
                seconds = 60 + n % 600
                rows.append(
                    {
                        "id": f"{n:08x}{'b' * 24}",
                        "type": "voice",
                        "source": "live",
                        "status": "completed",
                        "session_id": f"sess-{n:07d}",
                        "agent_id": f"agent{n % AGENTS:04d}",
                        "customer_id": f"cust-{n % 25_000:05d}",
                        "created_by": "bench",
                        "format": "flac",
                        "codec": "flac",
                        "sample_rate": 8000,
                        "channels": 2,
                        "channel_map": {"left": "customer", "right": "agent"},
                        "encoding": "pcm_s16le",
                        "received_bytes": seconds * 32000,
                        "spool_seq": 0,
                        "frames": seconds * 8000,
                        "duration_seconds": float(seconds),
                        "size_bytes": seconds * 17000,
                        "object_key": f"bench/seed/{n:08x}",
                        "message_count": 0,
                        "recovered": False,
                        "ended_by": "stop",
                        "started_at": begun,
                        "last_audio_at": begun + timedelta(seconds=seconds),
                        "stopped_at": begun + timedelta(seconds=seconds),
                        "completed_at": begun + timedelta(seconds=seconds + 1),
                    }
                )
            conn.execute(insert(models.item), rows)
    engine.dispose()
    return {"recordings": count, "seconds": round(time.perf_counter() - started, 1)}


def call_audio(seconds: int) -> bytes:
    """A WAV of a two-party call (``bench/audio_codecs.py``'s synthetic conversation)."""
    from audio_codecs import conversation

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(conversation(8000, 2, seconds))
    return out.getvalue()


class Stack:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.ports = {name: free_port() for name in WINGS}
        self.env = scratch_env(data)
        argv = [sys.executable, "-m", "aicc", "up"]
        argv += [f"--{name}-port={port}" for name, port in self.ports.items()]
        self.process = ServerProcess(
            argv,
            cpu=SERVER_CPU,
            env=self.env,
            cwd=data,
            log_path=data / "aicc-up.log",
            port=self.ports["console"],
        )

    def url(self, wing: str) -> str:
        return f"http://127.0.0.1:{self.ports[wing]}"

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "aicc", "db", "upgrade"],
            env=self.env,
            cwd=self.data,
            check=True,
            capture_output=True,
        )

    def start(self, limit: float = 120.0) -> None:
        self.process.start()
        deadline = time.monotonic() + limit
        for wing in WINGS:
            while http_get(f"{self.url(wing)}/health/ready") != 200:
                if self.process.proc is None or self.process.proc.poll() is not None:
                    raise RuntimeError((self.data / "aicc-up.log").read_text()[-3000:])
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{wing} did not become ready")
                time.sleep(0.2)


async def admin_token(http: httpx2.AsyncClient, stack: Stack) -> dict[str, str]:
    response = await http.post(
        f"{stack.url('auth')}/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def seed_services(
    http: httpx2.AsyncClient, stack: Stack, bearer: dict[str, str], users: int
) -> dict[str, Any]:
    started = time.perf_counter()
    gate = asyncio.Semaphore(4)
    roles = ("AGENT", "AGENT", "AGENT", "SUPERVISOR", "VIEWER")

    async def user(n: int) -> str:
        async with gate:
            made = await http.post(
                f"{stack.url('auth')}/auth/register",
                headers=bearer,
                json={
                    "username": f"agent{n:04d}",
                    "email": f"agent{n:04d}@example.com",
                    "password": USER_PASSWORD,
                    "first_name": f"Agent {n}",
                    "roles": [roles[n % len(roles)]],
                },
            )
            made.raise_for_status()
            return str(made.json()["user_id"])

    ids = await asyncio.gather(*(user(n) for n in range(users)))
    for n in range(10):
        rule = await http.post(
            f"{stack.url('monitoring')}/alerts/rules",
            headers=bearer,
            json={
                "rule_name": f"bench_cpu_{n}",
                "metric": "cpu_usage_percent",
                "threshold": 0 if n < 3 else 1000,
                "operator": ">=",
                "level": "warning",
                "for_seconds": 0,
                "annotations": {"summary": "CPU {{ $value }} %"},
            },
        )
        rule.raise_for_status()
    imported = await http.post(
        f"{stack.url('recording')}/recordings/import",
        params={"session_id": "bench-play", "agent_id": "agent0001", "customer_id": "c-play"},
        headers=bearer,
        content=call_audio(CALL_SECONDS),
        timeout=300,
    )
    imported.raise_for_status()
    playable = str(imported.json()["recording_id"])
    while True:
        got = await http.get(f"{stack.url('recording')}/recordings/{playable}", headers=bearer)
        if got.json()["status"] == "completed":
            break
        await asyncio.sleep(0.2)
    return {
        "users": users,
        "user_ids": ids,
        "alert_rules": 10,
        "playable": playable,
        "playable_bytes": got.json()["size_bytes"],
        "seconds": round(time.perf_counter() - started, 1),
    }
