"""What every provider stand-in shares: it records each request and plays injected faults
(a status with headers and body, a delay, a connection cut mid-response) before its routes."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI

from tests.asgi import live_app

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Fault:
    """What the next matching request gets instead of the real answer.

    ``status`` with ``body`` (JSON-able or bytes) and ``headers``; ``delay`` seconds first
    (then the real answer when ``status`` is None); ``cut`` closes the connection halfway
    through the response. ``path`` limits the fault to paths containing it.
    """

    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    cut: bool = False
    path: str | None = None


class FakeProvider:
    """A provider stand-in: ``app`` holds its real routes; faults run before them."""

    def __init__(self, title: str) -> None:
        self.app = FastAPI(title=title)
        self.requests: list[Recorded] = []
        self.faults: deque[Fault] = deque()
        self.url = ""
        self._asgi = self.app.build_middleware_stack
        self._wrapped = _Recorder(self)

    def fail(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def calls(self, path_part: str = "", method: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if path_part in r.path and (method is None or r.method == method)
        ]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        async with live_app(self._wrapped) as url:  # type: ignore[arg-type]
            self.url = url
            yield url

    def next_fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.path is None or fault.path in path:
                self.faults.remove(fault)
                return fault
        return None


class _Recorder:
    """ASGI wrapper: lifespan passes through; HTTP requests are recorded, then faulted or
    answered by the app."""

    def __init__(self, fake: FakeProvider) -> None:
        self.fake = fake
        self.router = fake.app.router
        self.state = fake.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fake.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.fake.requests.append(
            Recorded(scope["method"], scope["path"], scope["query_string"].decode(), headers, body)
        )
        fault = self.fake.next_fault(scope["path"])
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.cut:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-length", b"1000")],
                    }
                )
                await send({"type": "http.response.body", "body": b"{", "more_body": True})
                raise ConnectionResetError("fault: connection cut mid-response")
            if fault.status is not None:
                await _answer(send, fault)
                return

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.fake.app(scope, replay, send)


async def _answer(send: Send, fault: Fault) -> None:
    if isinstance(fault.body, bytes):
        payload, media = fault.body, "application/octet-stream"
    else:
        payload, media = orjson.dumps(fault.body), "application/json"
    headers = {"content-type": media, **fault.headers}
    await send(
        {
            "type": "http.response.start",
            "status": fault.status,
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()]
            + [(b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
