"""Serve one wing, or all of them in one process, with clean signal handling.

Each app gets its own uvicorn server on its own port; in all-in-one mode they share one set
of backends (so the in-process cache and its publish/subscribe reach every service). The
process owns SIGINT/SIGTERM: the first stops every server gracefully, a second forces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import assert_never

import uvicorn
from fastapi import FastAPI

from aicc import __version__
from aicc.core.config import Settings, WingName, check_production
from aicc.core.errors import ConfigError
from aicc.core.logging import configure_logging
from aicc.core.resources import Resources
from aicc.core.secrets import encryption_key

AppFactory = Callable[..., FastAPI]


def app_factory(name: WingName) -> AppFactory:
    """The ``create_app`` of one wing, imported only when that wing is served: each wing's
    optional dependencies (its install extra) are needed only by the image that runs it."""
    if name == "monitoring":
        from aicc.monitoring.app import create_app as monitoring

        return monitoring
    if name == "recording":
        from aicc.recording.app import create_app as recording

        return recording
    if name == "integration":
        from aicc.integration.app import create_app as integration

        return integration
    if name == "auth":
        from aicc.auth.app import create_app as auth

        return auth
    if name == "console":
        from aicc.console.app import create_app as console

        return console
    assert_never(name)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the runner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class _Bound:
    name: WingName
    sock: socket.socket
    app: FastAPI
    server: _Server

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}"


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, made here so a busy port is a clear error before anything starts.

    TCP_NODELAY is set on the listener (accepted sockets inherit it): asyncio only sets it
    itself for sockets created with ``IPPROTO_TCP``, and without it Nagle holds a response
    body behind its headers until the client's delayed ACK, about 40 ms per request.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def run(services: Sequence[WingName], settings: Settings) -> int:
    """Start ``services`` on their configured ports until SIGINT/SIGTERM; return the exit code.

    The console checks its own production settings when it starts (it needs no database or
    object store), so the services' check runs only when a service is among them.
    """
    configure_logging(settings.log.level)
    if any(name != "console" for name in services):
        check_production(settings)
    if settings.embedded_database or settings.security.encryption_key is None:
        encryption_key(settings)
    resources = Resources.open(settings)
    bound: list[_Bound] = []
    try:
        for name in services:
            sock = _bind(settings.server.host, settings.port(name))
            app = app_factory(name)(resources=resources)
            app.state.aicc_service.hold_notices = True
            await app.state.aicc_service.start()
            config = uvicorn.Config(
                app,
                log_config=None,
                access_log=False,
                proxy_headers=False,
                lifespan="on",
                server_header=False,
                timeout_graceful_shutdown=int(settings.server.shutdown_timeout),
            )
            bound.append(_Bound(name, sock, app, _Server(config)))
        return await _serve(bound, settings)
    finally:
        for item in bound:
            item.sock.close()
            await item.app.state.aicc_service.stop()
        await resources.close()


FORCE_AFTER = 1.0
"""A second signal at least this many seconds after the first forces the exit; duplicates
sent together (a supervisor and its child both forwarding SIGTERM) do not."""


def _not_a_cancellation(record: logging.LogRecord) -> bool:
    return "CancelledError" not in record.getMessage()


async def _serve(bound: list[_Bound], settings: Settings) -> int:
    loop = asyncio.get_running_loop()
    first_signal: float | None = None

    def request_stop() -> None:
        nonlocal first_signal
        now = time.monotonic()
        force = first_signal is not None and now - first_signal >= FORCE_AFTER
        first_signal = first_signal if first_signal is not None else now
        if force:
            logging.getLogger("uvicorn.error").addFilter(_not_a_cancellation)
        for item in bound:
            item.server.should_exit = True
            item.server.force_exit = item.server.force_exit or force

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    tasks = [asyncio.create_task(item.server.serve([item.sock])) for item in bound]
    try:
        while not all(item.server.started for item in bound):
            if any(task.done() for task in tasks) or first_signal is not None:
                stopped_by_signal = first_signal is not None
                request_stop()
                await asyncio.gather(*tasks, return_exceptions=True)
                return 0 if stopped_by_signal else 1
            await asyncio.sleep(0.05)
        _print_banner(bound, settings)
        await asyncio.gather(*tasks)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _print_banner(bound: list[_Bound], settings: Settings) -> None:
    lines = [f"AICC Common Services {__version__} ({settings.server.env})"]
    for item in bound:
        where = "open in a browser" if item.name == "console" else f"docs {item.url}/docs"
        lines.append(f"  {item.name:<12} {item.url:<24} {where}")
    database = "SQLite (embedded)" if settings.embedded_database else "PostgreSQL"
    cache = "Redis" if settings.redis_url else "in-process memory"
    storage = (
        f"s3://{settings.storage.bucket}"
        if settings.storage.bucket
        else f"local disk {settings.object_store_dir}"
    )
    lines.append(f"  data folder  {settings.data_dir}")
    lines.append(f"  database     {database}; cache {cache}; objects {storage}")
    for item in bound:
        lines.extend(item.app.state.aicc_service.notices)
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (it comes with uvicorn[standard]); the standard loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_sync(services: Sequence[WingName], settings: Settings) -> int:
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(run(services, settings))
    except ConfigError as exc:
        print(f"aicc: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    except SystemExit as exc:  # uvicorn exits this way when an app fails to start
        return exc.code if isinstance(exc.code, int) else 1
