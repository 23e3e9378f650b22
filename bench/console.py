"""The operator console's speed: server time per page, the recordings list at 100,000
recordings, and playback start; each beside the same service calls made straight to the
services in the same run, so the console's own share is visible.

    .venv/bin/python bench/console.py [--quick] [--output bench/results/console.json]

As a user would run it: ``aicc up`` (the four services and the console in one process,
embedded SQLite, local disk, in-process cache, default password hashing) on a scratch data
folder, pinned to core 1; the client on core 0 signs in through the console's form.

Seeding: 100,000 recordings (``--quick``: 10,000) are inserted straight into the recording
service's table through its SQLAlchemy models before the stack starts (``aicc db upgrade``
first); then through the APIs: 200 users (20), ten alert rules (three firing), and one real
five-minute call imported for playback.

- ``pages``: every page in the signed-in admin's navigation, plus a user's page, the
  recordings list filtered by agent and its second page, and a recording's page. Each is
  fetched ``--requests`` times (200; 30 with ``--quick``) one after another on one keep-alive
  connection after a warm-up; the time is request sent to body read, on loopback: the
  server's time plus well under a millisecond. Each console request is followed by the same
  calls to the services that the page makes (``direct``: made concurrently where the page
  makes them concurrently), with an admin's bearer token, so the two see the same moment.
- ``playback``: the console's audio route with ``Range: bytes=0-`` (start) and a range from
  the middle (a seek): time from the request to the first byte of audio; ``direct`` is the
  recording service's download route with the same header.

Targets: p95 < 100 ms per page; the recordings list < 200 ms at 100,000 recordings; playback
start < 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
from console_stack import ADMIN, Stack, admin_token, seed_recordings, seed_services
from harness import emit, environment, log, pin_client
from servers import wait_quiet

ROOT = Path(__file__).resolve().parents[1]
TARGETS_MS = {"page_p95": 100.0, "recordings_list_p95": 200.0, "playback_start_p95": 300.0}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_NAV = re.compile(r'<nav class="sidenav"[^>]*>(.*?)</nav>', re.S)
_HREF = re.compile(r'href="([^"]+)"')
Calls = Callable[[], Awaitable[None]]


def stats(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000, 2)

    return {
        "n": len(ordered),
        "p50_ms": rank(0.50),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def sign_in(console: httpx2.AsyncClient) -> None:
    form = await console.get("/login")
    token = _CSRF.search(form.text)
    assert token, "no CSRF token on the sign-in page"
    done = await console.post(
        "/login",
        data={"username": ADMIN[0], "password": ADMIN[1], "next": "/", "csrf_token": token[1]},
        headers={"Origin": str(console.base_url).rstrip("/")},
    )
    assert done.status_code == 303, done.text


def direct_calls(
    http: httpx2.AsyncClient, stack: Stack, bearer: dict[str, str], seeded: dict[str, Any]
) -> dict[str, Calls]:
    """What each page asks of the services, made straight to them."""

    def get(wing: str, path: str, **params: Any) -> Awaitable[httpx2.Response]:
        return http.get(f"{stack.url(wing)}{path}", params=params, headers=bearer)

    async def one(wing: str, path: str, **params: Any) -> httpx2.Response:
        response = await get(wing, path, **params)
        assert response.status_code == 200, (path, response.text)
        return response

    user_id = seeded["user_ids"][0]
    playable = seeded["playable"]

    async def overview() -> None:
        await one("monitoring", "/alerts")

    async def alerts() -> None:
        await asyncio.gather(one("monitoring", "/alerts"), one("monitoring", "/api/v2/alerts"))

    async def users() -> None:
        await one("auth", "/auth/users", limit=50, offset=0)

    async def user() -> None:
        await asyncio.gather(
            one("auth", f"/auth/users/{user_id}"), one("auth", f"/auth/users/{user_id}/sessions")
        )

    async def audit() -> None:
        items = (await one("auth", "/auth/audit", limit=50)).json()["items"]
        ids = sorted({e[k] for e in items for k in ("actor_id", "target_id") if e[k]})
        if ids:
            await one("auth", "/auth/users", id=ids, limit=len(ids))

    async def recordings() -> None:
        await one("recording", "/recordings", limit=50)

    async def recordings_agent() -> None:
        await one("recording", "/recordings", agent_id="agent0042", limit=50)

    cursor: list[str] = []

    async def recordings_next() -> None:
        if not cursor:  # the page's link carries it: one call a page
            cursor.append((await one("recording", "/recordings", limit=50)).json()["next_cursor"])
        await one("recording", "/recordings", limit=50, cursor=cursor[0])

    async def recording() -> None:
        await one("recording", f"/recordings/{playable}")
        await one("recording", f"/recordings/{playable}/access-log", limit=25)

    async def integrations() -> None:
        await one("integration", "/integrations")

    async def account() -> None:
        await one("auth", "/auth/me")

    return {
        "/": overview,
        "/alerts": alerts,
        "/users": users,
        "/users/{id}": user,
        "/audit": audit,
        "/recordings": recordings,
        "/recordings?agent": recordings_agent,
        "/recordings?cursor": recordings_next,
        "/recordings/{id}": recording,
        "/integrations": integrations,
        "/account": account,
    }


async def pages_of(console: httpx2.AsyncClient, seeded: dict[str, Any]) -> dict[str, str]:
    """The pages to time: name -> console path."""
    overview = await console.get("/")
    nav = _NAV.search(overview.text)
    assert nav, "no navigation on the overview"
    found = {href: href for href in _HREF.findall(nav[1])}
    if "/users" in found:
        found["/users/{id}"] = f"/users/{seeded['user_ids'][0]}"
    if "/recordings" in found:
        found["/recordings?agent"] = "/recordings?agent=agent0042"
        first = await console.get("/recordings")
        later = re.search(r'href="(/recordings\?[^"]*cursor=[^"]+)"', first.text)
        if later:
            found["/recordings?cursor"] = later[1].replace("&amp;", "&")
        found["/recordings/{id}"] = f"/recordings/{seeded['playable']}"
    return found


async def time_pages(
    console: httpx2.AsyncClient,
    pages: dict[str, str],
    direct: dict[str, Calls],
    requests: int,
    warmup: int,
    quiet_wait: float,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, path in pages.items():
        waited = wait_quiet(quiet_wait) if quiet_wait > 0 else 0.0
        baseline = direct.get(name)
        seen: list[float] = []
        straight: list[float] = []
        for n in range(warmup + requests):
            t0 = time.perf_counter()
            response = await console.get(path)
            elapsed = time.perf_counter() - t0
            assert response.status_code == 200, (path, response.status_code)
            if baseline is not None:
                t1 = time.perf_counter()
                await baseline()
                gone = time.perf_counter() - t1
            if n >= warmup:
                seen.append(elapsed)
                if baseline is not None:
                    straight.append(gone)
        result: dict[str, Any] = {
            "path": path,
            "console": stats(seen),
            "quiet_wait_s": waited,
            "loadavg_1m": round(os.getloadavg()[0], 2),
        }
        if straight:
            result["direct"] = stats(straight)
            result["console_share_p50_ms"] = round(
                result["console"]["p50_ms"] - result["direct"]["p50_ms"], 2
            )
        listing = name == "/recordings" or name.startswith("/recordings?")
        limit = TARGETS_MS["recordings_list_p95" if listing else "page_p95"]
        result["target_p95_ms"] = limit
        result["met"] = result["console"]["p95_ms"] < limit
        log(
            f"{name:<20} console p50 {result['console']['p50_ms']:>7} p95 "
            f"{result['console']['p95_ms']:>7} ms"
            + (
                f" | direct p50 {result['direct']['p50_ms']:>7} p95 {result['direct']['p95_ms']:>7}"
                if straight
                else ""
            )
        )
        out[name] = result
    return out


async def first_byte(http: httpx2.AsyncClient, url: str, headers: dict[str, str]) -> float:
    t0 = time.perf_counter()
    async with http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 206, (url, response.status_code)
        async for chunk in response.aiter_raw():
            if chunk:
                break
    return time.perf_counter() - t0


async def time_playback(
    console: httpx2.AsyncClient,
    http: httpx2.AsyncClient,
    stack: Stack,
    bearer: dict[str, str],
    seeded: dict[str, Any],
    requests: int,
    quiet_wait: float,
) -> dict[str, Any]:
    rid = seeded["playable"]
    middle = seeded["playable_bytes"] // 2
    out: dict[str, Any] = {}
    for name, ranged in (("start", "bytes=0-"), ("seek", f"bytes={middle}-")):
        waited = wait_quiet(quiet_wait) if quiet_wait > 0 else 0.0
        mine: list[float] = []
        theirs: list[float] = []
        for n in range(requests + 5):
            a = await first_byte(console, f"/recordings/{rid}/audio", {"Range": ranged})
            b = await first_byte(
                http,
                f"{stack.url('recording')}/recordings/{rid}/download",
                {**bearer, "Range": ranged},
            )
            if n >= 5:
                mine.append(a)
                theirs.append(b)
        out[name] = {
            "range": ranged,
            "console": stats(mine),
            "direct": stats(theirs),
            "quiet_wait_s": waited,
        }
        out[name]["met"] = out[name]["console"]["p95_ms"] < TARGETS_MS["playback_start_p95"]
        log(
            f"playback {name:<6} console p50 {out[name]['console']['p50_ms']} p95 "
            f"{out[name]['console']['p95_ms']} ms | direct p50 {out[name]['direct']['p50_ms']}"
        )
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    count = 10_000 if args.quick else args.recordings
    requests = args.requests or (30 if args.quick else 200)
    users = 20 if args.quick else 200
    out: dict[str, Any] = {
        "environment": environment(
            recordings=count, requests_per_page=requests, users=users, quick=args.quick
        )
    }
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        stack = Stack(Path(tmp))
        stack.migrate()
        log(f"seeding {count:,} recordings")
        out["seed"] = {"table": seed_recordings(stack.data, count)}
        stack.start()
        try:
            limits = httpx2.Limits(max_connections=20, max_keepalive_connections=20)
            async with (
                httpx2.AsyncClient(timeout=120, limits=limits) as http,
                httpx2.AsyncClient(
                    base_url=stack.url("console"), timeout=60, headers={"Accept": "text/html"}
                ) as console,
            ):
                bearer = await admin_token(http, stack)
                log(f"seeding {users} users, alert rules, one call to play")
                seeded = await seed_services(http, stack, bearer, users)
                out["seed"]["services"] = {k: v for k, v in seeded.items() if k != "user_ids"}
                await sign_in(console)
                pages = await pages_of(console, seeded)
                log(f"pages: {', '.join(pages)}")
                direct = direct_calls(http, stack, bearer, seeded)
                out["pages"] = await time_pages(
                    console, pages, direct, requests, warmup=10, quiet_wait=args.quiet_wait
                )
                out["playback"] = await time_playback(
                    console, http, stack, bearer, seeded, min(requests, 100), args.quiet_wait
                )
        finally:
            stack.process.stop()
    out["targets_met"] = {
        **{name: page["met"] for name, page in out["pages"].items()},
        **{f"playback_{name}": p["met"] for name, p in out["playback"].items()},
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 recordings, 30 requests")
    parser.add_argument("--recordings", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=0, help="per page (default 200)")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each page, wait up to S seconds for both cores to be nearly idle",
    )
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    pin_client()
    emit(asyncio.run(run(args)), args.output)


if __name__ == "__main__":
    main()
