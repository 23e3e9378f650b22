"""The base of each service's facade class (``MonitoringService``, ``AuthService``, ...).

A facade is built from the spec's config dict, opened with ``await start()`` and closed with
``await stop()``. The HTTP app and the CLI drive the same object, so the Python API and the
HTTP API cannot drift apart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

import httpx2

from aicc.core.config import Settings, WingName, check_production, load_settings
from aicc.core.errors import ConfigError
from aicc.core.jobs import JobHandler, JobWorker, PeriodicTask
from aicc.core.jobs.metrics import JobMetrics
from aicc.core.metrics import AppMetrics, DatabaseMetrics
from aicc.core.migrate import ensure_schema
from aicc.core.outgoing import build_internal_client, build_user_url_client
from aicc.core.resources import Resources
from aicc.core.revocation import SessionRevocations
from aicc.core.tokens import KeyLookup, RemoteJwks, TokenVerifier

Backend = str  # "database" | "cache" | "storage"
T = TypeVar("T")


class ServiceBase:
    name: ClassVar[WingName]
    title: ClassVar[str]
    backends: ClassVar[tuple[Backend, ...]] = ("database", "cache")

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        settings: Settings | None = None,
        resources: Resources | None = None,
    ) -> None:
        self._config = dict(config or {})
        self._settings = settings or (resources.settings if resources else None)
        self._resources = resources
        self._owns_resources = resources is None
        self._metrics: AppMetrics | None = None
        self._verifier: TokenVerifier | None = None
        self._revocations: SessionRevocations | None = None
        self._http: httpx2.AsyncClient | None = None
        self._user_http: httpx2.AsyncClient | None = None
        self._worker: JobWorker | None = None
        self._job_metrics: JobMetrics | None = None
        self.started = False
        self._start_lock: asyncio.Lock | None = None
        self.logger = logging.getLogger(f"aicc.{self.name}")
        self.notices: list[str] = []
        self.hold_notices = False

    def require_started(self, value: T | None) -> T:
        """``value``, which exists only while the service is started."""
        if value is None:
            raise RuntimeError(f"{type(self).__name__} is not started; await start() first")
        return value

    def announce(self, text: str) -> None:
        """Tell the operator something once on the console, never in the logs (a generated
        first password). Held for the runner's banner when ``hold_notices`` is set."""
        if self.hold_notices:
            self.notices.append(text)
        else:
            print(text, flush=True)  # noqa: T201

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self._config)
        return self._settings

    @property
    def resources(self) -> Resources:
        return self.require_started(self._resources)

    @property
    def token_verifier(self) -> TokenVerifier:
        return self.require_started(self._verifier)

    @property
    def revocations(self) -> SessionRevocations:
        return self.require_started(self._revocations)

    @property
    def http(self) -> httpx2.AsyncClient:
        """Outgoing HTTP to our own services and operator-configured endpoints (unguarded)."""
        return self.require_started(self._http)

    @property
    def user_http(self) -> httpx2.AsyncClient:
        """Outgoing HTTP to URLs users supply (webhooks, provider endpoints): every connection
        passes the server-side request forgery guard."""
        return self.require_started(self._user_http)

    @property
    def metrics(self) -> AppMetrics:
        if self._metrics is None:
            database = None
            if "database" in self.backends:
                database = self._database_metrics
            self._metrics = AppMetrics(self.name, database=database)
        return self._metrics

    def _database_metrics(self) -> DatabaseMetrics | None:
        return self._resources.database.metrics if self._resources else None

    async def start(self) -> None:
        """Open the backends (unless given), migrate the embedded database, start jobs."""
        if self.started:
            return
        self.check_production()
        if self._resources is None:
            self._resources = Resources.open(self.settings)
        try:
            await self._ensure_schema()
            await self._start_security()
            await self.on_start()
            await self._start_jobs()
        except BaseException:
            await self._stop_jobs()
            await self._stop_security()
            await self._close_resources()
            raise
        self.started = True

    async def ensure_started(self) -> None:
        """Start on first use, so the spec's examples (which never call ``start()``) run as
        written; call ``stop()`` when done."""
        if self.started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            await self.start()

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        try:
            await self._stop_jobs()
            await self.on_stop()
        finally:
            await self._stop_security()
            await self._close_resources()

    def check_production(self) -> None:
        """Refuse to start on embedded defaults when ``AICC_ENV=production`` (override when
        the wing uses fewer backends)."""
        check_production(self.settings)

    def body_limits(self) -> dict[str, int]:
        """Routes (exact paths) whose bodies may exceed ``AICC_MAX_BODY_BYTES``: uploads that
        stream to storage (override)."""
        return {}

    def metrics_token(self) -> str | None:
        """A bearer token ``GET /metrics`` requires, or None (public, for Prometheus)."""
        return None

    def extra_metrics(self) -> bytes:
        """Exposition text appended to ``/metrics`` after the registry's (override; for large
        families rendered once per update rather than per scrape)."""
        return b""

    async def refresh_metrics(self) -> None:
        """Bring gauges that describe shared state up to date before ``/metrics`` answers
        (override; keep it cheap)."""

    def job_handlers(self) -> Iterable[JobHandler]:
        """The job kinds this service runs (override); its workers start with the service."""
        return ()

    def periodic_tasks(self) -> Iterable[PeriodicTask]:
        """Work this service does every so often, once per deployment (override)."""
        return ()

    @property
    def jobs(self) -> JobWorker:
        """This process's worker for the service's job kinds (when it has any)."""
        return self.require_started(self._worker)

    async def _start_jobs(self) -> None:
        handlers, periodic = list(self.job_handlers()), list(self.periodic_tasks())
        if not (handlers or periodic) or not self.settings.jobs.enabled:
            return
        if self._job_metrics is None:
            self._job_metrics = JobMetrics(self.metrics.registry)
        self._worker = JobWorker(
            self.resources.database,
            service=self.name,
            settings=self.settings.jobs,
            metrics=self._job_metrics,
            handlers=handlers,
            periodic=periodic,
        )
        await self._worker.start()

    async def _stop_jobs(self) -> None:
        if self._worker is not None:
            await self._worker.stop(self.settings.server.shutdown_timeout)
            self._worker = None

    async def on_start(self) -> None:
        """Hook for subclasses: start background jobs, load state."""

    async def on_stop(self) -> None:
        """Hook for subclasses: stop background jobs."""

    def token_keys(self) -> KeyLookup | None:
        """Where verification keys come from: the auth service's JWKS over HTTP.

        None in the shared-secret (HS256) mode. The auth service overrides this with its own
        key store, so it never calls itself.
        """
        if hs256_secret(self.settings) is not None:
            return None
        return RemoteJwks(
            f"{self.settings.auth_url}/.well-known/jwks.json",
            self.http,
            min_interval=self.settings.auth.jwks_min_refresh_interval,
        )

    async def _start_security(self) -> None:
        auth = self.settings.auth
        self._http = build_internal_client(self.settings)
        self._user_http = build_user_url_client(self.settings)
        self._revocations = SessionRevocations(
            self.resources.cache,
            retention=auth.access_token_ttl + auth.leeway + 60,
            recheck_interval=auth.revocation_recheck_interval,
        )
        await self._revocations.start()
        keys = self.token_keys()
        if isinstance(keys, RemoteJwks):
            self._revocations.key_listeners.append(keys.expire)
        self._verifier = TokenVerifier(
            issuer=self.settings.token_issuer,
            audience=auth.audience,
            keys=keys,
            revocations=self._revocations,
            hs256_secret=hs256_secret(self.settings),
            algorithms=frozenset(auth.algorithms),
            leeway=auth.leeway,
        )

    async def _stop_security(self) -> None:
        if self._revocations is not None:
            await self._revocations.stop()
        for client in (self._http, self._user_http):
            if client is not None:
                await client.aclose()
        self._verifier = self._revocations = self._http = self._user_http = None

    async def _ensure_schema(self) -> None:
        if "database" not in self.backends:
            return
        await ensure_schema(self.resources.database, auto_migrate=self.settings.auto_migrate)

    async def _close_resources(self) -> None:
        if self._owns_resources and self._resources is not None:
            await self._resources.close()
            self._resources = None

    async def readiness(self, timeout: float = 2.0) -> dict[str, Any]:
        """Check each backend this service uses; ``ready`` is False when any is down."""
        resources = self.resources
        probes: dict[str, Callable[[], Awaitable[None]]] = {
            "database": resources.database.ping,
            "cache": resources.cache.ping,
            "storage": resources.storage.ping,
        }
        kinds = {
            "database": resources.database.dialect,
            "cache": resources.cache.backend,
            "storage": resources.storage.backend,
        }
        names = list(self.backends)
        results = await asyncio.gather(*(_probe(probes[n], timeout) for n in names))
        checks = {
            name: {"backend": kinds[name], **result}
            for name, result in zip(names, results, strict=True)
        }
        return {"ready": all(c["status"] == "up" for c in checks.values()), "checks": checks}


def hs256_secret(settings: Settings) -> bytes | None:
    """``JWT_SECRET`` as bytes, or None; shorter than 256 bits is refused (RFC 8725 §3.5)."""
    if settings.security.jwt_secret is None:
        return None
    secret = settings.security.jwt_secret.get_secret_value().encode()
    if len(secret) < 32:
        raise ConfigError("JWT_SECRET must be at least 32 bytes (256 bits) for HS256")
    return secret


async def _probe(check: Callable[[], Awaitable[None]], timeout: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout)
    except Exception as exc:
        reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        return {"status": "down", "error": reason, "latency_ms": _ms(started)}
    return {"status": "up", "latency_ms": _ms(started)}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
