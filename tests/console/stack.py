"""A live deployment for the console's tests: the four services started by ``aicc up`` (a
real subprocess, free ports, data in a temporary folder) and the console app served by
uvicorn in a thread of the test process, on its own free port, pointed at them.

The console is in-process so a test may read what its server holds (the session store: the
only place the user's tokens are) to check that no page ever shows them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
import uvicorn
from fastapi import FastAPI

from aicc.console.app import create_app
from aicc.console.service import ConsoleService
from aicc.console.sessions import SessionData
from aicc.core.config import Settings, load_settings
from tests.backends import free_port
from tests.processes import OWN_PREFIXES, Running, aicc_env, run_aicc

T = TypeVar("T")
ADMIN = ("ops-admin", "Console-Admin-Passphrase-41")
"""An ADMIN created with ``aicc users create`` (SUPER_ADMIN needs MFA in this stack)."""
BOOTSTRAP = ("admin", "Bootstrap-Root-Passphrase-77")
"""The first SUPER_ADMIN, not enrolled in MFA: one test (the required enrolment) uses it."""
PASSWORD = "Console-User-Passphrase-58"
"""The password of the users tests create through the auth API."""
LIVE_INTERVAL = 1.0


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals belong to the test runner


class ConsoleThread:
    """The console app under uvicorn on a loopback port, in a thread with its own loop."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="on", proxy_headers=False
        )
        config.timeout_graceful_shutdown = 1
        self.server = _QuietServer(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, name="console", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _run(self) -> None:
        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            await self.server.serve(sockets=[self.sock])

        asyncio.run(serve())

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the console stopped during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError("the console did not start")
            time.sleep(0.02)

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the console's loop (its cache and store live there)."""
        assert self.loop is not None
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            coroutine, self.loop
        )
        return future.result(timeout=10)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@dataclass
class Stack:
    """The four services (``aicc up``) and the console."""

    root: Path
    env: dict[str, str]
    ports: dict[str, int]
    services: Running
    console: ConsoleThread

    @property
    def url(self) -> str:
        return self.console.url

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def service(self) -> ConsoleService:
        service: ConsoleService = self.console.app.state.aicc_service
        return service

    def session(self, session_id: str) -> SessionData | None:
        """What the console's server keeps for a session cookie (tokens included)."""
        return self.console.call(self.service.store.load(session_id))

    def aicc(self, *args: str, stdin: str | None = None) -> str:
        """``aicc ARGS`` against this stack's data, as an operator would run it."""
        done = run_aicc(*args, env=self.env, cwd=self.root, stdin=stdin)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def api_token(self, username: str, password: str) -> str:
        """An access token straight from the auth service (to set things up)."""
        response = httpx2.post(
            f"{self.service_url('auth')}/auth/login",
            json={"username": username, "password": password},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def api(
        self, method: str, service: str, path: str, token: str, **kwargs: Any
    ) -> httpx2.Response:
        return httpx2.request(
            method,
            f"{self.service_url(service)}{path}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
            **kwargs,
        )

    def create_user(
        self, username: str, roles: list[str], *, password: str = PASSWORD, **profile: str
    ) -> str:
        """A user registered by the admin through the auth API; returns the id."""
        admin = self.api_token(*ADMIN)
        response = self.api(
            "POST",
            "auth",
            "/auth/register",
            admin,
            json={
                "username": username,
                "email": f"{username}@example.com",
                "password": password,
                "roles": roles,
                **profile,
            },
        )
        assert response.status_code == 201, response.text
        user_id: str = response.json()["user_id"]
        return user_id


def console_settings(root: Path, ports: dict[str, int], **overrides: Any) -> Settings:
    """The console's settings: this stack's data folder (its generated master key) and
    ports, nothing from the developer's environment."""
    values: dict[str, Any] = {
        "data_dir": str(root / "var"),
        "env": "development",
        **{f"server.{name}_port": port for name, port in ports.items()},
        "console.live_interval": LIVE_INTERVAL,
        "console.stream_lifetime": 30,
        "server.access_log": False,
        **overrides,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(OWN_PREFIXES):
                patch.delenv(name)
        return load_settings(values, env_file=None)


def _drain(running: Running) -> None:
    """Read the services' stderr as it comes, so a full pipe never blocks them."""
    stderr = running.proc.stderr
    if stderr is None:
        return

    def pump() -> None:
        for _ in stderr:
            pass

    threading.Thread(target=pump, name="aicc-up-stderr", daemon=True).start()


@contextlib.contextmanager
def running_stack(root: Path) -> Iterator[Stack]:
    ports = {name: free_port() for name in ("monitoring", "recording", "integration", "auth")}
    env = aicc_env(
        root,
        AICC_AUTH_PASSWORD_HASH_MEMORY_KIB="8192",
        AICC_AUTH_PASSWORD_HASH_TIME_COST="1",
        AICC_AUTH_MFA_REQUIRED_ROLES="SUPER_ADMIN",
        AICC_BOOTSTRAP_ADMIN_PASSWORD=BOOTSTRAP[1],
        AICC_TRUSTED_PROXIES="127.0.0.1/32",
        AICC_ALERT_EVAL_INTERVAL="1",
        AICC_MONITORING_SCRAPE_INTERVAL="2",
        AICC_ACCESS_LOG="false",
        AICC_ALLOW_PRIVATE_NETWORKS="true",  # integrations pointed at stand-ins on loopback
        LOG_LEVEL="WARNING",
    )
    # The four services only: the console under test runs in this process (aicc up would
    # also start one on AICC_CONSOLE_PORT, 8080, which parallel stacks cannot share).
    args = ["up", f"--only={','.join(ports)}", *(f"--{n}-port={p}" for n, p in ports.items())]
    services = Running(args, env, root)
    _drain(services)
    console: ConsoleThread | None = None
    try:
        # As an operator would (after the first start made the bootstrap SUPER_ADMIN); the
        # console starts meanwhile.
        creating = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aicc",
                "users",
                "create",
                ADMIN[0],
                "--email",
                f"{ADMIN[0]}@example.com",
                "--role",
                "ADMIN",
                "--password-stdin",
            ],
            env=env,
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        console = ConsoleThread(create_app(console_settings(root, ports)))
        console.start()
        out, err = creating.communicate(ADMIN[1], timeout=60)
        assert creating.returncode == 0, out + err
        yield Stack(root, env, ports, services, console)
    finally:
        if console is not None:
            console.stop()
        services.stop()
