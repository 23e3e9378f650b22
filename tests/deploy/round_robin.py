"""A round-robin load balancer for one service, in the shape of an ALB target group: each HTTP
request and each WebSocket goes to the next upstream in turn.

Written for the two-replica test, as an ASGI app served by uvicorn on a loopback port:

- Requests are forwarded with the client's ``Host`` (so URLs a service builds, such as a
  recording's ``stream_url``, point back at the balancer); a request's body is read whole
  before it is sent on (the day's bodies are small), the answer is streamed back.
- An upstream that refuses the connection is marked down for ``down_for`` seconds and the
  request goes to the next one (nothing was sent, so this is safe for any method). A failure
  after the request left (a replica killed mid-request) is a 502 ``bad_gateway``, as an ALB
  answers; the client decides whether to retry.
- WebSockets are opened to the chosen upstream first, then accepted and pumped both ways; when
  either side closes, so does the other (an upstream that died closes the client with 1011).

``served`` records (kind, path, upstream) per forwarded request, so a test can say which
replica answered. Below the balancer: :class:`Api`, a client that retries what the balancer
could not complete when the request may be repeated, and a client of the recording service's
live-audio WebSocket (:func:`open_stream`, :class:`Acks`, :func:`resume_stream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.asgi import live_app

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
    }
)
WS_OWN = (b"sec-websocket-", b"host", b"origin")


@dataclass(frozen=True)
class Served:
    kind: str
    """``http`` or ``websocket``."""
    method: str
    path: str
    upstream: str


class NoUpstream(Exception):
    """Every upstream refused the connection."""


class RoundRobin:
    def __init__(self, name: str, upstreams: Sequence[str], *, down_for: float = 10.0) -> None:
        self.name = name
        self.upstreams = [u.rstrip("/") for u in upstreams]
        self.down_for = down_for
        self.down: dict[str, float] = {}
        """Upstream -> when it was marked down (monotonic)."""
        self.served: list[Served] = []
        self.url = ""
        self._turn = 0
        self._http = httpx2.AsyncClient(
            timeout=httpx2.Timeout(30.0, connect=2.0),
            limits=httpx2.Limits(max_connections=200, max_keepalive_connections=50),
            trust_env=False,
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        try:
            async with live_app(self) as url:  # type: ignore[arg-type]
                self.url = url
                yield url
        finally:
            await self._http.aclose()

    def next_upstream(self) -> str:
        """The upstream the next request goes to (when it accepts connections)."""
        return self._order()[0]

    def served_by(self, path_part: str, kind: str = "http") -> list[str]:
        return [s.upstream for s in self.served if s.kind == kind and path_part in s.path]

    def _order(self) -> list[str]:
        """Upstreams in the order to try: from this turn on, those marked down last."""
        count = len(self.upstreams)
        turn = [self.upstreams[(self._turn + i) % count] for i in range(count)]
        now = time.monotonic()
        up = [u for u in turn if now - self.down.get(u, -1e9) >= self.down_for]
        return up + [u for u in turn if u not in up]

    def _advance(self, upstream: str) -> None:
        self._turn = (self.upstreams.index(upstream) + 1) % len(self.upstreams)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        elif scope["type"] == "http":
            await self._http_request(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    # --- HTTP --------------------------------------------------------------------------------

    async def _http_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        target = scope["raw_path"].decode("latin-1") if scope.get("raw_path") else scope["path"]
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        for upstream in self._order():
            request = self._http.build_request(
                scope["method"], upstream + target, headers=headers, content=bytes(body)
            )
            try:
                response = await self._http.send(request, stream=True)
            except httpx2.ConnectError:
                self.down[upstream] = time.monotonic()
                continue
            except httpx2.TransportError as exc:
                self._advance(upstream)
                await _bad_gateway(send, f"{self.name}: {upstream} failed: {type(exc).__name__}")
                return
            self._advance(upstream)
            self.down.pop(upstream, None)
            self.served.append(Served("http", scope["method"], scope["path"], upstream))
            await self._relay(response, send)
            return
        await _bad_gateway(send, f"{self.name}: no upstream accepts connections")

    async def _relay(self, response: httpx2.Response, send: Send) -> None:
        headers = [
            (k, v)
            for k, v in response.headers.raw
            if k.lower() not in HOP_BY_HOP - {b"content-length"}
        ]
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        try:
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx2.TransportError:
            raise ConnectionResetError(f"{self.name}: the upstream went away mid-answer") from None
        finally:
            await response.aclose()
        await send({"type": "http.response.body", "body": b""})

    # --- WebSocket ---------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if not k.lower().startswith(WS_OWN) and k.lower() not in HOP_BY_HOP
        ]
        target = scope["path"] + (
            "?" + scope["query_string"].decode("latin-1") if scope["query_string"] else ""
        )
        try:
            upstream, peer = await self._open_websocket(target, headers)
        except NoUpstream:
            await send({"type": "websocket.close", "code": 1011})
            return
        except InvalidStatus as refused:
            await send({"type": "websocket.close", "code": 1008, "reason": str(refused)[:100]})
            return
        self.served.append(Served("websocket", "GET", scope["path"], upstream))
        await send({"type": "websocket.accept"})
        async with peer:
            await _pump(peer, receive, send)

    async def _open_websocket(
        self, target: str, headers: list[tuple[str, str]]
    ) -> tuple[str, ClientConnection]:
        for upstream in self._order():
            url = "ws" + upstream.removeprefix("http") + target
            try:
                peer = await connect(
                    url,
                    additional_headers=headers,
                    proxy=None,
                    compression=None,
                    user_agent_header=None,
                    open_timeout=5,
                    ping_interval=None,
                    max_size=None,
                )
            except OSError:
                self.down[upstream] = time.monotonic()
                continue
            self._advance(upstream)
            self.down.pop(upstream, None)
            return upstream, peer
        raise NoUpstream(self.name)


async def _pump(peer: ClientConnection, receive: Receive, send: Send) -> None:
    """Frames both ways until one side closes; the other is then closed too."""

    async def from_client() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                await peer.close()
                return
            data = message.get("bytes")
            await peer.send(data if data is not None else message.get("text") or "")

    async def from_upstream() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for data in peer:
                key = "bytes" if isinstance(data, bytes) else "text"
                await send({"type": "websocket.send", key: data})
        code = peer.close_code if peer.close_code not in (None, 1005, 1006) else 1011
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": code})

    tasks = [asyncio.ensure_future(from_client()), asyncio.ensure_future(from_upstream())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _bad_gateway(send: Send, message: str) -> None:
    body = orjson.dumps({"error": {"code": "bad_gateway", "message": message}})
    await send(
        {
            "type": "http.response.start",
            "status": 502,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Api:
    """Calls through the balancers, as a client of the deployment makes them.

    ``target`` is a service (its balancer) or a URL (one replica). ``retry=True`` repeats a
    request the balancer could not complete (its 502 ``bad_gateway``, or the connection cut):
    only for requests that may be repeated (reads, by default, and writes carrying their own
    idempotency key).
    """

    def __init__(self, balancers: Mapping[str, RoundRobin], http: httpx2.AsyncClient) -> None:
        self.balancers = balancers
        self.http = http

    async def call(
        self,
        target: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        retry: bool | None = None,
        **kwargs: Any,
    ) -> httpx2.Response:
        base = self.balancers[target].url if target in self.balancers else target
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        attempts = 8 if (method == "GET" if retry is None else retry) else 1
        for attempt in range(1, attempts + 1):
            try:
                response = await self.http.request(method, base + path, headers=headers, **kwargs)
            except httpx2.TransportError:
                if attempt == attempts:
                    raise
            else:
                if attempt == attempts or not _bad_gateway_answer(response):
                    return response
            await asyncio.sleep(0.1 * attempt)
        raise AssertionError("unreachable")

    async def login(self, username: str, password: str) -> httpx2.Response:
        """A login may be repeated (at worst it opens one more session)."""
        body = {"username": username, "password": password}
        return await self.call("auth", "POST", "/auth/login", json=body, retry=True)

    async def token(self, username: str, password: str) -> dict[str, str]:
        answer = await self.login(username, password)
        assert answer.status_code == 200, answer.text
        tokens: dict[str, str] = answer.json()
        return tokens


def _bad_gateway_answer(response: httpx2.Response) -> bool:
    if response.status_code != 502:
        return False
    try:
        return bool(response.json()["error"]["code"] == "bad_gateway")
    except (ValueError, KeyError, TypeError):
        return False


async def poll(check: Callable[[], bool | Awaitable[bool]], timeout: float, what: str) -> None:
    """Wait until ``check()`` (a function or a coroutine function) holds, asking every 50 ms,
    at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if await found if inspect.isawaitable(found) else found:
            return
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.05)


# --- a live-audio client of the recording service's WebSocket ------------------------------

BYTE_RATE = 8000 * 2 * 2
"""8 kHz, 16-bit, stereo."""
FRAME = BYTE_RATE // 10


async def open_stream(url: str) -> ClientConnection:
    return await connect(url, proxy=None, compression=None, ping_interval=None, max_size=None)


class Acks:
    """Reads a stream's acknowledgements in the background; ``count`` is the last one."""

    def __init__(self, ws: ClientConnection) -> None:
        self.count = 0
        self.task = asyncio.ensure_future(self._read(ws))

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in ws:
                event = orjson.loads(text)
                if event["event"] == "ack":
                    self.count = max(self.count, event["received_bytes"])

    async def at_least(self, size: int) -> int:
        async def arrived() -> bool:
            return self.count >= size

        await poll(arrived, 15, f"{size} bytes acknowledged")
        return self.count


async def resume_stream(url: str, audio: bytes, offset: int) -> None:
    """Reconnect at ``offset``, send the rest, stop, and wait until the service says so."""
    async with await open_stream(f"{url}&offset={offset}") as ws:
        for start in range(offset, len(audio), FRAME):
            await ws.send(audio[start : start + FRAME])
        await ws.send(orjson.dumps({"event": "stop"}).decode())
        async with asyncio.timeout(30):
            while orjson.loads(await ws.recv())["event"] != "stopped":
                pass
