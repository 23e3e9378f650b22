"""The services the monitoring service watches: their ``/metrics`` scraped, their readiness
checked, and the latest result of each kept in the shared cache so every replica answers
``GET /services/health`` the same."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson

from aicc.core.cache import Cache
from aicc.core.config import Settings
from aicc.core.errors import ConfigError

STATUS_KEY = "monitoring:targets"
WATCHED = ("recording", "integration", "auth")


@dataclass(frozen=True)
class Target:
    name: str
    url: str


@dataclass
class TargetStatus:
    name: str
    url: str
    up: bool
    """``/metrics`` answered 200."""
    ready: bool | None
    """``/health/ready`` said ready (None: not reached)."""
    checks: dict[str, Any]
    scraped_at: str
    duration_ms: float
    error: str | None = None


def resolve_targets(settings: Settings) -> list[Target]:
    """``AICC_MONITORING_TARGETS`` (``name=url`` or bare URLs), else the other three services
    of the all-in-one deployment on this host's configured ports."""
    configured = settings.monitoring.targets
    if not configured:
        host = settings.server.host
        host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        host = f"[{host}]" if ":" in host else host
        ports = {
            "recording": settings.server.recording_port,
            "integration": settings.server.integration_port,
            "auth": settings.server.auth_port,
        }
        return [Target(name, f"http://{host}:{ports[name]}") for name in WATCHED]
    targets = []
    for item in configured:
        name, sep, url = item.partition("=")
        if not sep:
            name, url = "", item
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"AICC_MONITORING_TARGETS: {item!r} is not name=http(s)://host:port")
        targets.append(Target(name.strip() or parts.netloc, url.strip().rstrip("/")))
    return targets


class Scraper:
    def __init__(self, http: httpx2.AsyncClient, timeout: float) -> None:
        self.http = http
        self.timeout = timeout

    async def scrape(self, target: Target) -> tuple[TargetStatus, str | None]:
        """The target's status and its exposition text (None when ``/metrics`` failed)."""
        started = time.perf_counter()
        metrics, ready = await asyncio.gather(
            self._get(f"{target.url}/metrics"),
            self._get(f"{target.url}/health/ready"),
            return_exceptions=True,
        )
        text: str | None = None
        error: str | None = None
        if isinstance(metrics, httpx2.Response) and metrics.status_code == 200:
            text = metrics.text
        else:
            error = _describe(metrics)
        readiness: bool | None = None
        checks: dict[str, Any] = {}
        if isinstance(ready, httpx2.Response):
            body = _json(ready)
            readiness = ready.status_code == 200
            checks = body.get("checks", {}) if isinstance(body, dict) else {}
        elif error is None:
            error = _describe(ready)
        status = TargetStatus(
            name=target.name,
            url=target.url,
            up=text is not None,
            ready=readiness,
            checks=checks,
            scraped_at=datetime.now(UTC).isoformat(),
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            error=error,
        )
        return status, text

    async def _get(self, url: str) -> httpx2.Response:
        return await self.http.get(url, timeout=self.timeout)


async def save_statuses(cache: Cache, statuses: list[TargetStatus], ttl: float) -> None:
    await cache.set(STATUS_KEY, orjson.dumps([asdict(s) for s in statuses]), ttl=ttl)


async def load_statuses(cache: Cache) -> list[dict[str, Any]]:
    raw = await cache.get(STATUS_KEY)
    loaded: list[dict[str, Any]] = orjson.loads(raw) if raw else []
    return loaded


def _json(response: httpx2.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


def _describe(outcome: object) -> str:
    if isinstance(outcome, httpx2.Response):
        return f"HTTP {outcome.status_code}"
    if isinstance(outcome, httpx2.TimeoutException):
        return "timeout"
    return type(outcome).__name__
