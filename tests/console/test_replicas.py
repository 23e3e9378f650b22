"""Two console replicas sharing Redis (and the master key) behind one address: a session
made on one works on the other, live figures collected by one are streamed by the other,
signing out on one ends the session on both. And a route that changes state outside
``page_router()`` is refused when the app is built."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx2
import pytest
import redis
from fastapi import APIRouter

from aicc.console.app import create_app
from aicc.console.routing import check_csrf_coverage, page_router
from tests.backends import REDIS_HOST, REDIS_PORT, require
from tests.console.stack import ADMIN, ConsoleThread, Stack, console_settings
from tests.console.support import Browser


@pytest.fixture
def replicas(stack: Stack) -> Iterator[tuple[str, str]]:
    require("Redis", REDIS_HOST, REDIS_PORT)
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
    prefix = f"aicc-test:{uuid.uuid4().hex[:12]}:"
    consoles = [
        ConsoleThread(
            create_app(
                console_settings(
                    stack.root, stack.ports, redis_url=url, **{"redis.key_prefix": prefix}
                )
            )
        )
        for _ in range(2)
    ]
    for console in consoles:
        console.start()
    yield consoles[0].url, consoles[1].url
    for console in consoles:
        console.stop()
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def test_a_session_made_on_one_replica_works_on_the_other(
    stack: Stack, replicas: tuple[str, str]
) -> None:
    first, second = replicas
    with httpx2.Client(base_url=first, follow_redirects=False) as one:
        login = one.get("/login")
        token = Browser.csrf_of(login.text)
        signed_in = one.post(
            "/login",
            data={"username": ADMIN[0], "password": ADMIN[1], "csrf_token": token},
            headers={"Origin": first},
        )
        assert signed_in.status_code == 303
        cookie = one.cookies.get("aicc_console")
        assert cookie

    with httpx2.Client(base_url=second, follow_redirects=False) as other:
        other.cookies.set("aicc_console", cookie)
        page = other.get("/account/sessions")
        assert page.status_code == 200
        assert ADMIN[0] in page.text
        streamed = ""
        with other.stream("GET", "/overview/events") as response:
            for line in response.iter_lines():
                streamed += line + "\n"
                if streamed.count("event: figures") >= 2:
                    break
        assert 'data-figure="cpu"' in streamed
        out = other.post(
            "/logout",
            data={"csrf_token": Browser.csrf_of(page.text)},
            headers={"Origin": second},
        )
        assert out.status_code == 303

    with httpx2.Client(base_url=first, follow_redirects=False) as again:
        again.cookies.set("aicc_console", cookie)
        assert again.get("/account").headers["location"].startswith("/login")


def test_a_state_changing_route_without_the_csrf_check_is_refused() -> None:
    plain = APIRouter()

    @plain.post("/unprotected")
    async def unprotected() -> None:
        return None

    @plain.get("/readable")
    async def readable() -> None:
        return None

    protected = page_router()

    @protected.post("/protected")
    async def fine() -> None:
        return None

    check_csrf_coverage([protected])
    with pytest.raises(RuntimeError, match=r"\['POST'\] /unprotected$"):
        check_csrf_coverage([protected, plain])
