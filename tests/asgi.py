from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx2
import uvicorn
from fastapi import FastAPI


@asynccontextmanager
async def serve_app(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    """Run the app's lifespan and give a client that talks to it over ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals belong to the test runner


@asynccontextmanager
async def live_app(app: FastAPI) -> AsyncIterator[str]:
    """Serve the app with uvicorn on a free loopback port in this event loop (for what ASGI
    transports cannot do: WebSockets, real sockets); yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle stalls
    sock.listen(128)
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", proxy_headers=False
    )
    config.timeout_graceful_shutdown = 2
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="live-app")
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the server stopped during start-up")
            assert time.monotonic() < deadline, "the server did not start"
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
        sock.close()
