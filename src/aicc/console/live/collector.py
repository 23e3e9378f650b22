"""One collection of live figures per interval for the whole deployment.

Whichever replica first finds the figures older than the interval claims the collection in
the shared cache (a key set only if absent, expiring after one interval); it reads every
service's ``/health/ready`` and ``/metrics`` (public; monitoring's with
``AICC_METRICS_TOKEN`` when set) and writes the new point into the shared series. Every
replica's event streams read that series: the services see one scrape per interval however
many people watch, and a stream may reconnect to any replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict
from typing import Any

import httpx2
import orjson

from aicc.console.live.prometheus import Traffic, contact_center, machine, quantile
from aicc.console.upstream import Upstreams
from aicc.core.cache import Cache
from aicc.core.config import SERVICE_NAMES, ServiceName

LIVE_KEY = "console:live"
CLAIM_KEY = "console:live:claim"
HISTORY = 60
"""Points kept per figure (five minutes at the default interval)."""
PROBE_TIMEOUT = 3.0
logger = logging.getLogger("aicc.console")


class LiveFigures:
    def __init__(
        self,
        cache: Cache,
        upstreams: Upstreams,
        *,
        interval: float,
        metrics_token: str | None = None,
    ) -> None:
        self.cache = cache
        self.upstreams = upstreams
        self.interval = interval
        self.metrics_token = metrics_token

    async def latest(self) -> dict[str, Any] | None:
        raw = await self.cache.get(LIVE_KEY)
        return orjson.loads(raw) if raw else None

    async def snapshot(self) -> dict[str, Any] | None:
        """The latest figures, collected now when due and no other replica is at it; None
        until a first collection exists."""
        state = await self.latest()
        if state is not None and time.time() - state["at"] < self.interval * 0.9:
            return state
        claimed = await self.cache.set(
            CLAIM_KEY, b"1", ttl=self.interval * 0.9, only_if_absent=True
        )
        if not claimed:
            return state
        state = await self.collect(state)
        await self.cache.set(LIVE_KEY, orjson.dumps(state), ttl=self.interval * HISTORY * 2)
        return state

    async def collect(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        now = time.time()
        probes = await asyncio.gather(*(self._probe(name) for name in SERVICE_NAMES))
        health = {name: probe[0] for name, probe in zip(SERVICE_NAMES, probes, strict=True)}
        texts = {name: probe[1] for name, probe in zip(SERVICE_NAMES, probes, strict=True)}
        counters: dict[str, Traffic] = {
            name: Traffic.read(text) for name, text in texts.items() if text is not None
        }
        point: dict[str, Any] = {"at": now, **_traffic_point(previous, counters, now)}
        monitoring = texts["monitoring"]
        found = machine(monitoring) if monitoring is not None else None
        connect = contact_center(monitoring) if monitoring is not None else None
        point.update(
            cpu=found.cpu if found else None,
            memory=found.memory if found else None,
            disk=found.disk if found else None,
            in_queue=connect.get("in_queue") if connect else None,
            agents=connect.get("agents") if connect else None,
        )
        points = [*(previous or {}).get("points", []), point][-HISTORY:]
        return {
            "at": now,
            "interval": self.interval,
            "health": health,
            "counters": {name: asdict(traffic) for name, traffic in counters.items()},
            "connect": connect,
            "points": points,
        }

    async def _probe(self, name: ServiceName) -> tuple[dict[str, Any], str | None]:
        client = self.upstreams.client(name)
        started = time.perf_counter()
        view: dict[str, Any] = {"up": False, "ready": False, "checks": {}, "error": None}
        try:
            ready = await client.get("/health/ready", timeout=PROBE_TIMEOUT)
            view["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
            body = (
                ready.json()
                if ready.headers.get("content-type", "").startswith("application/json")
                else {}
            )
            view["up"] = True
            view["ready"] = ready.status_code == 200
            view["checks"] = {
                backend: {"status": check.get("status"), "backend": check.get("backend")}
                for backend, check in (body.get("checks") or {}).items()
                if isinstance(check, dict)
            }
        except (httpx2.HTTPError, ValueError) as exc:
            view["error"] = type(exc).__name__
            return view, None
        headers = {}
        if name == "monitoring" and self.metrics_token:
            headers["Authorization"] = f"Bearer {self.metrics_token}"
        try:
            metrics = await client.get("/metrics", headers=headers, timeout=PROBE_TIMEOUT)
        except httpx2.HTTPError as exc:
            logger.info("metrics not read", extra={"metadata": {"service": name}})
            view["error"] = type(exc).__name__
            return view, None
        return view, metrics.text if metrics.status_code == 200 else None


def _traffic_point(
    previous: dict[str, Any] | None, counters: dict[str, Traffic], now: float
) -> dict[str, float | None]:
    """Request rate, error rate and p95 latency since the previous collection (None for the
    first, or after a gap of more than a few intervals)."""
    empty: dict[str, float | None] = {"rps": None, "error_pct": None, "p95_ms": None}
    if previous is None or not previous.get("counters"):
        return empty
    elapsed = now - float(previous["at"])
    if elapsed <= 0 or elapsed > float(previous.get("interval", 5.0)) * 6:
        return empty
    total = Traffic()
    for name, traffic in counters.items():
        before = previous["counters"].get(name)
        if before is not None:
            total.add(traffic.since(Traffic(**before)))
    p95 = quantile(0.95, total.buckets)
    return {
        "rps": total.requests / elapsed,
        "error_pct": (total.errors / total.requests * 100) if total.requests else 0.0,
        "p95_ms": p95 * 1000 if p95 is not None else None,
    }
