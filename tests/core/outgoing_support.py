"""Real sockets for the outgoing-HTTP tests: a local HTTP/1.1 server, name resolvers that
stand in for DNS, and a socket backend that records every connection it is asked for.
Shared by the ``test_outgoing*`` files; no tests here."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any

import anyio
import httpcore2

from aicc.core.config import Settings, load_settings
from aicc.core.outgoing import IPAddress
from aicc.core.outgoing.asyncio_backend import AsyncioBackend

Responder = Callable[[str], Awaitable[bytes | None]]
"""Request target -> the raw response to send, or None to never answer."""


def settings_for(env: str = "development", **overrides: Any) -> Settings:
    """Settings for ``env``; ``overrides`` are ``HttpSettings`` fields."""
    return load_settings(
        {"env": env, **{f"http.{name}": value for name, value in overrides.items()}},
        env_file=None,
    )


def http_response(status: int = 200, body: bytes = b"ok", headers: Iterable[str] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *headers, "", ""]
    return "\r\n".join(lines).encode() + body


def redirect_to(location: str) -> Responder:
    async def respond(target: str) -> bytes:
        return http_response(302, b"", [f"Location: {location}"])

    return respond


async def answer_ok(target: str) -> bytes:
    return http_response()


async def never_answer(target: str) -> None:
    return None


@dataclass
class LocalServer:
    port: int = 0
    accepted: int = 0
    open_connections: int = 0
    peak_connections: int = 0
    request_heads: list[str] = field(default_factory=list)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@asynccontextmanager
async def local_http_server(respond: Responder) -> AsyncIterator[LocalServer]:
    """An HTTP/1.1 server on 127.0.0.1 with keep-alive, counting its connections."""
    state = LocalServer()
    async with serving() as serve:

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            state.accepted += 1
            state.open_connections += 1
            state.peak_connections = max(state.peak_connections, state.open_connections)
            try:
                while head := await _request_head(reader):
                    state.request_heads.append(head)
                    response = await respond(head.split(" ", 2)[1])
                    if response is None:
                        await serve.stopping.wait()
                        return
                    writer.write(response)
                    await writer.drain()
            finally:
                state.open_connections -= 1

        server = await asyncio.start_server(serve.track(handle), "127.0.0.1", 0)
        state.port = server.sockets[0].getsockname()[1]
        async with server:
            yield state


async def _request_head(reader: asyncio.StreamReader) -> str | None:
    try:
        return (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Serving:
    """The connections of a test server, closed and awaited when the test ends."""

    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    handlers: set[asyncio.Task[Any]] = field(default_factory=set)
    writers: set[asyncio.StreamWriter] = field(default_factory=set)

    def track(self, handler: Handler) -> Handler:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                self.handlers.add(task)
            self.writers.add(writer)
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        return tracked


@asynccontextmanager
async def serving() -> AsyncIterator[Serving]:
    connections = Serving()
    try:
        yield connections
    finally:
        connections.stopping.set()
        for writer in connections.writers:
            writer.close()
        if connections.handlers:
            await asyncio.wait(connections.handlers, timeout=5)


class StaticResolver:
    """DNS as a table; names not in it do not resolve."""

    def __init__(self, answers: Mapping[str, Sequence[str]]) -> None:
        self.answers = {name: [ip_address(a) for a in found] for name, found in answers.items()}
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:  # noqa: ARG002
        self.lookups.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


class RebindingResolver:
    """Answers each lookup with the next entry: a DNS rebinding attacker's name server."""

    def __init__(self, *answers: str) -> None:
        self._answers = [ip_address(a) for a in answers]

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:  # noqa: ARG002
        return [self._answers.pop(0)]


class HangingResolver:
    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:  # noqa: ARG002
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


class RecordingBackend(httpcore2.AsyncNetworkBackend):
    """Real sockets, recording every (address, port) asked for.

    ``routes`` sends a connection for an address to a port on 127.0.0.1 instead, so a local
    server can stand in for a public host.
    """

    def __init__(self, routes: Mapping[str, int] | None = None) -> None:
        self.attempts: list[tuple[str, int]] = []
        self._routes = dict(routes or {})
        self._sockets = AsyncioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        self.attempts.append((host, port))
        if host in self._routes:
            host, port = "127.0.0.1", self._routes[host]
        return await self._sockets.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
