"""The asyncio network backend under the user-URL client: timeouts, resets, refused
connections and connections the server closed while idle, against real local sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx2
import pytest

from aicc.core.config import load_settings
from aicc.core.outgoing import build_user_url_client
from tests.backends import free_port

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A raw HTTP server; yields its URL and a list that grows by one per connection."""
    connections: list[int] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    listener = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield f"http://127.0.0.1:{port}", connections


def client(read_timeout: float = 5.0) -> httpx2.AsyncClient:
    settings = load_settings(
        {"http.allow_private_networks": True, "http.read_timeout": read_timeout}
    )
    return build_user_url_client(settings)


async def answer_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await reader.readuntil(b"\r\n\r\n"):
        writer.write(OK)
        await writer.drain()


async def answer_once_then_close(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(OK)
    await writer.drain()


async def never_answer(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(30)


async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.transport.abort()


async def test_keep_alive_reuses_one_connection() -> None:
    async with server(answer_each) as (url, connections), client() as http:
        for _ in range(5):
            assert (await http.get(url)).text == "ok"
    assert len(connections) == 1


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async with server(answer_once_then_close) as (url, connections), client() as http:
        assert (await http.get(url)).text == "ok"
        await asyncio.sleep(0.05)
        assert (await http.get(url)).text == "ok"
    assert len(connections) == 2


async def test_a_silent_server_times_out_as_a_read_timeout() -> None:
    async with server(never_answer) as (url, _), client(read_timeout=0.2) as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.get(url)


async def test_a_reset_connection_is_a_transport_error() -> None:
    async with server(reset) as (url, _), client() as http:
        with pytest.raises((httpx2.ReadError, httpx2.RemoteProtocolError)):
            await http.get(url)


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with client() as http:
        with pytest.raises(httpx2.ConnectError):
            await http.get(f"http://127.0.0.1:{free_port()}/")


async def test_a_large_body_arrives_whole() -> None:
    body = bytes(range(256)) * 8192

    async def large(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()

    async with server(large) as (url, _), client() as http:
        response = await http.post(url, content=body[:100_000])
    assert response.content == body
