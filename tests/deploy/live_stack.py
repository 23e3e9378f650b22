"""A live ``aicc up`` as a user starts it, for deploy tests that need the four services running
(Prometheus scraping them, newman calling every route).

``start_stack(folder, **env)`` runs the real command on free loopback ports with the embedded
defaults (SQLite, in-process cache, objects on disk under ``folder``), reads the first
SUPER_ADMIN's password from its banner and stops it with SIGTERM afterwards::

    with start_stack(tmp_path) as stack:
        token = stack.login()
        httpx2.get(stack.url("recording") + "/recordings", headers=stack.bearer(token))

``StandIns`` serves provider stand-ins (the Amazon Connect REST-JSON stand-in, the integration
fakes) from an event loop of their own, so a synchronous, module-scoped fixture can point the
stack at them.
"""

from __future__ import annotations

import asyncio
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx2

from tests.backends import free_port
from tests.monitoring.connect.fakes import REGION, FakeConnect
from tests.processes import Running, aicc_env

SERVICES = ("monitoring", "recording", "integration", "auth")
BOOTSTRAP = re.compile(
    r"Created the first SUPER_ADMIN '(?P<user>[^']+)' with the password (?P<pw>\S+)"
)
FAST_LOGINS = {"AICC_AUTH_PASSWORD_HASH_MEMORY_KIB": "8192"}
"""argon2id at its smallest allowed memory: logins in tests cost milliseconds, not 50 ms."""


class Servable(Protocol):
    def running(self) -> AbstractAsyncContextManager[str]: ...


@dataclass
class LiveStack:
    ports: dict[str, int]
    env: dict[str, str]
    folder: Path
    process: Running
    admin_user: str
    admin_password: str
    tokens: list[str] = field(default_factory=list)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def login(self, username: str | None = None, password: str | None = None) -> str:
        """A fresh access token (the first admin's unless told otherwise)."""
        response = httpx2.post(
            self.url("auth") + "/auth/login",
            json={
                "username": username or self.admin_user,
                "password": password or self.admin_password,
            },
            timeout=10,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        self.tokens.append(token)
        return token

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def free_ports() -> dict[str, int]:
    return {name: free_port() for name in SERVICES}


def stack_env(folder: Path, **extra: str) -> dict[str, str]:
    """``aicc_env`` without AWS settings of the developer's that would redirect our clients."""
    env = aicc_env(folder, **{**FAST_LOGINS, **extra})
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "CONNECT_INSTANCE_ID"):
        if name not in extra:
            env.pop(name, None)
    return env


@contextmanager
def start_stack(
    folder: Path, ports: dict[str, int] | None = None, **extra_env: str
) -> Iterator[LiveStack]:
    """``aicc up`` on ``ports`` (by default free ones), data in ``folder/var``; stopped
    (SIGTERM) on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    ports = ports or free_ports()
    args = ["up"]
    for name, port in ports.items():
        args += [f"--{name}-port", str(port)]
    env = stack_env(folder, **extra_env)
    process = Running(args, env, folder)
    try:
        found = BOOTSTRAP.search(process.banner)
        assert found, f"no first admin in the banner: {process.banner!r}"
        yield LiveStack(ports, env, folder, process, found["user"], found["pw"])
    finally:
        if process.proc.poll() is None:
            process.proc.send_signal(signal.SIGTERM)
            try:
                process.proc.wait(timeout=15)
            except Exception:
                process.kill()
                raise


class StandIns:
    """Stand-ins served from a background thread's event loop until ``close``."""

    def __init__(self, *apps: Servable) -> None:
        self.urls: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(apps,), daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=20):
            raise RuntimeError("the stand-ins did not start")
        if self._error is not None:
            raise self._error

    def _run(self, apps: tuple[Servable, ...]) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve(apps))
        self._loop.close()

    async def _serve(self, apps: tuple[Servable, ...]) -> None:
        self._stop = asyncio.Event()
        try:
            async with AsyncExitStack() as stack:
                for app in apps:
                    self.urls.append(await stack.enter_async_context(app.running()))
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def close(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=20)


def connect_env(fake: FakeConnect, url: str, poll_interval: float = 1.0) -> dict[str, str]:
    """The settings that make the monitoring service poll ``fake`` (served at ``url``)."""
    return {
        "CONNECT_INSTANCE_ID": fake.instance_id,
        "AWS_ENDPOINT_URL_CONNECT": url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AICC_MONITORING_CONNECT_POLL_INTERVAL": str(poll_interval),
    }


def contact_center(fake: FakeConnect) -> None:
    """Two queues with a few contacts and agents, on every channel."""
    sales, support = fake.add_queue("Sales"), fake.add_queue("Support")
    for queue_id, waiting in ((sales, 4.0), (support, 1.0)):
        for channel in ("VOICE", "CHAT", "TASK"):
            fake.set_metrics(
                queue_id,
                channel,
                AGENTS_ONLINE=3.0,
                AGENTS_AVAILABLE=1.0,
                AGENTS_ON_CONTACT=2.0,
                CONTACTS_IN_QUEUE=waiting,
                OLDEST_CONTACT_AGE=95.0,
                ESTIMATED_WAIT_TIME=40.0,
            )
    profile = fake.add_profile(sales, support)
    fake.add_agent(profile, "Available")
    fake.add_agent(profile, "Available", "CONNECTED")
    fake.add_agent(profile, "Break")
