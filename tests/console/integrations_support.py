"""What the integrations pages' tests share: the generic REST stand-in (``FakeRest``, which
records every request and fails on demand) served in a thread of its own, and integrations
registered against it through the integration service's API."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.console.stack import ADMIN, Stack
from tests.console.support import Browser
from tests.integration.fakes.common import Fault
from tests.integration.fakes.rest import FakeRest

__all__ = [
    "Fault",
    "Integrations",
    "StandIn",
    "admin",
    "integrations",
    "standin",
    "state_in",
    "wait_for",
]


class StandIn:
    """A ``FakeRest`` under uvicorn in a thread with its own event loop."""

    def __init__(self) -> None:
        self.fake = FakeRest()
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="rest-stand-in", daemon=True)

    def _run(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with self.fake.running() as url:
                self.url = url
                self._ready.set()
                await self._stop.wait()

        asyncio.run(serve())

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(15), "the REST stand-in did not start"

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)

    def calls(self, path: str) -> int:
        """Requests that reached ``path`` (failed ones included)."""
        return sum(1 for r in list(self.fake.requests) if r.path == path)

    def fail(self, path: str, status: int = 503, times: int = 1) -> None:
        for _ in range(times):
            self.fake.fail(Fault(status=status, body={"error": "down"}, path=path))


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    running = StandIn()
    running.start()
    yield running
    running.stop()


class Integrations:
    """Integrations of one test, registered by the admin through the integration API (the
    console does not register them) and removed afterwards."""

    def __init__(self, stack: Stack, standin: StandIn) -> None:
        self.stack = stack
        self.standin = standin
        self.token = stack.api_token(*ADMIN)
        self.made: list[str] = []

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.stack.api(method, "integration", path, self.token, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def register(self, name: str = "Partner API", **extra: Any) -> str:
        integration_id = f"console-{uuid.uuid4().hex[:10]}"
        body = {
            "integration_id": integration_id,
            "name": name,
            "type": "custom",
            "provider": "rest",
            "endpoint_url": f"{self.standin.url}/api/v1",
            "options": {"max_attempts": 1},
            **extra,
        }
        self.api("POST", "/integrations", json=body)
        self.made.append(integration_id)
        return integration_id

    def send_async(self, integration_id: str, path: str) -> str:
        """An ASYNC message to ``{endpoint}/{path}`` through the API; its id."""
        body = {
            "message_type": "async",
            "payload": {"method": "request", "http_method": "POST", "path": path, "json": {}},
        }
        answer = self.api("POST", f"/integrations/{integration_id}/messages", json=body)
        message_id: str = answer["message_id"]
        return message_id

    def status(self, integration_id: str, message_id: str) -> str:
        found = self.api("GET", f"/integrations/{integration_id}/messages/{message_id}")
        return str(found["status"])

    def wait_status(self, integration_id: str, message_id: str, wanted: str) -> None:
        wait_for(lambda: self.status(integration_id, message_id) == wanted)

    def dead_letter(self, integration_id: str) -> tuple[str, str]:
        """A message that died (the stand-in failed its one attempt): (id, path)."""
        path = f"orders-{uuid.uuid4().hex[:6]}"
        self.standin.fail(f"/api/v1/{path}")
        message_id = self.send_async(integration_id, path)
        self.wait_status(integration_id, message_id, "dead")
        return message_id, path

    def trip(self, integration_id: str) -> None:
        """Open the breaker of an integration registered with ``breaker_threshold: 1``."""
        self.standin.fail("/api/v1/trip")
        sent = self.stack.api(
            "POST",
            "integration",
            f"/integrations/{integration_id}/messages",
            self.token,
            json={"payload": {"method": "request", "path": "trip"}},
        )
        assert sent.status_code == 502, sent.text

    def remove(self) -> None:
        for integration_id in self.made:
            self.stack.api("DELETE", "integration", f"/integrations/{integration_id}", self.token)


@pytest.fixture
def integrations(stack: Stack, standin: StandIn) -> Iterator[Integrations]:
    made = Integrations(stack, standin)
    yield made
    made.remove()


def state_in(page: str, integration_id: str) -> str:
    row = re.search(rf'<tr data-integration="{integration_id}">(.*?)</tr>', page, re.S)
    assert row, f"{integration_id} is not listed"
    found = re.search(r'data-state="([a-z_]+)"', row[1])
    assert found
    return found[1]


def admin(browser: Browser) -> Browser:
    browser.sign_in_ok(*ADMIN)
    return browser


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
