"""A Prometheus endpoint on ``prometheus_port`` for the facade used from Python (the spec's
example), when no HTTP app serves the service."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aicc.core.errors import ConfigError

if TYPE_CHECKING:
    from aicc.core.service import ServiceBase


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the embedding program owns the signals


class MetricsServer:
    def __init__(self, service: ServiceBase, *, port: int, host: str = "0.0.0.0") -> None:
        self.service = service
        self.port = port
        self.host = host
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    async def start(self) -> None:
        async def metrics(_: Request) -> Response:
            await self.service.refresh_metrics()
            body = generate_latest(self.service.metrics.registry) + self.service.extra_metrics()
            return Response(body, media_type=CONTENT_TYPE_LATEST)

        async def health(_: Request) -> JSONResponse:
            return JSONResponse({"status": "ok", "service": self.service.name})

        app = Starlette(routes=[Route("/metrics", metrics), Route("/health", health)])
        config = uvicorn.Config(
            app, host=self.host, port=self.port, log_config=None, access_log=False, lifespan="off"
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"the Prometheus endpoint cannot listen on port {self.port}: {exc.strerror}; "
                "set prometheus_port to a free port"
            ) from None
        sock.listen(128)
        self._server = _Server(config)
        self._task = asyncio.create_task(
            self._server.serve(sockets=[sock]), name="aicc-metrics-endpoint"
        )
        while not self._server.started and not self._task.done():  # noqa: ASYNC110 (uvicorn offers no event)
            await asyncio.sleep(0.01)
        self._sock = sock

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._task = self._sock = None
