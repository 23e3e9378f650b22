"""Signed status callbacks: delivered as jobs, retried on a server error, verifiable."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI, Request, Response

from aicc.core.errors import ConfigError
from aicc.recording import RecordingService
from aicc.recording.app import create_app
from tests.asgi import live_app, serve_app
from tests.recording.conftest import recording_settings
from tests.recording.support import bearer

AGENT = bearer("AGENT", user_id="u-agent", username="agent001")
CALLBACK_SECRET = "callback-signing-secret-for-tests"


def receiver(seen: list[dict[str, Any]], failures: int) -> FastAPI:
    """A customer's endpoint: fails ``failures`` times with 503, then accepts."""
    app = FastAPI()

    @app.post("/hooks/recording")
    async def hook(request: Request) -> Response:
        seen.append({"headers": dict(request.headers), "body": await request.body()})
        return Response(status_code=503 if len(seen) <= failures else 204)

    return app


async def test_a_completed_recording_is_announced_signed(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    async with live_app(receiver(seen, failures=1)) as url:
        settings = recording_settings(
            tmp_path,
            {},
            **{
                "recording.callback_url": f"{url}/hooks/recording",
                "recording.callback_secret": CALLBACK_SECRET,
            },
        )
        app = create_app(settings)
        async with serve_app(app) as http:
            started = await http.post(
                "/recordings/chat/start",
                headers=AGENT,
                json={"session_id": "s", "agent_id": "agent001", "customer_id": "c"},
            )
            rid = started.json()["recording_id"]
            await http.post(f"/recordings/chat/{rid}/stop", headers=AGENT)
            deadline = time.monotonic() + 30
            while len(seen) < 2:
                assert time.monotonic() < deadline, seen
                await asyncio.sleep(0.1)
    first, second = seen
    assert first["headers"]["x-aicc-event-id"] == second["headers"]["x-aicc-event-id"]
    body = orjson.loads(second["body"])
    assert body["event"] == "recording.completed"
    assert body["recording"]["recording_id"] == rid and body["recording"]["status"] == "completed"
    stamp, signature = (
        p.split("=", 1)[1] for p in second["headers"]["x-aicc-signature"].split(",")
    )
    expected = hmac.new(
        CALLBACK_SECRET.encode(), f"{stamp}.".encode() + second["body"], hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(signature, expected)
    assert abs(int(stamp) - time.time()) < 60


async def test_a_callback_url_without_a_secret_refuses_to_start(tmp_path: Path) -> None:
    service = RecordingService(
        {"data_dir": str(tmp_path / "var"), "recording.callback_url": "https://hooks.example.com/x"}
    )
    with pytest.raises(ConfigError, match="AICC_RECORDING_CALLBACK_SECRET"):
        await service.start()
