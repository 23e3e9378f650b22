"""One call to a provider, with everything around it: the integration's limits, its circuit
breaker, its access token (refreshed once when refused), and the metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx2

from aicc.core.aws import AwsClients
from aicc.core.errors import AppError
from aicc.integration.breaker import Breaker, BreakerOpen, BreakerState
from aicc.integration.connectors.base import (
    Connector,
    Integration,
    Method,
    ProviderError,
    Token,
)
from aicc.integration.limits import LimitReached, Limits
from aicc.integration.metrics import IntegrationMetrics
from aicc.integration.tokens import TokenStore


@dataclass
class Context:
    """The :class:`~aicc.integration.connectors.base.CallContext` of one attempt."""

    integration: Integration
    http: httpx2.AsyncClient
    message_id: str
    idempotency_key: str
    deadline: float
    connector: Connector
    key: bytes
    tokens: TokenStore
    aws: AwsClients
    used_token: Token | None = field(default=None, init=False)

    @property
    def timeout(self) -> float:
        return self.deadline - time.monotonic()

    async def token(self) -> Token:
        token = await self.tokens.get(
            self.integration.integration_id,
            lambda current: self.connector.fetch_token(self, current),
            self.key,
        )
        self.used_token = token
        return token

    async def aws_client(self, service: str) -> Any:
        endpoint = self.integration.endpoint_url
        host = (urlsplit(endpoint).hostname or "").lower()
        custom = endpoint if endpoint and not host.endswith("amazonaws.com") else None
        region = self.integration.setting("region")
        return await self.aws.client(service, region=region, endpoint_url=custom)


@dataclass(frozen=True)
class Target:
    """An integration ready to call: its decrypted settings and its connector."""

    integration: Integration
    connector: Connector
    key: bytes
    """The integration's data key (seals its tokens, payloads and results)."""
    threshold: int
    reset_seconds: float
    rate: float | None
    concurrency: int | None


logger = logging.getLogger("aicc.integration")


class NeedsReauthError(Exception):
    """The provider refused the credentials (``invalid_grant``, a revoked key)."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.message)
        self.error = error


class Caller:
    def __init__(
        self,
        *,
        http: httpx2.AsyncClient,
        aws: AwsClients,
        tokens: TokenStore,
        breaker: Breaker,
        limits: Limits,
        metrics: IntegrationMetrics,
    ) -> None:
        self.http = http
        self.aws = aws
        self.tokens = tokens
        self.breaker = breaker
        self.limits = limits
        self.metrics = metrics

    def context(self, target: Target, message_id: str, deadline: float) -> Context:
        return Context(
            integration=target.integration,
            http=self.http,
            message_id=message_id,
            idempotency_key=message_id,
            deadline=deadline,
            connector=target.connector,
            key=target.key,
            tokens=self.tokens,
            aws=self.aws,
        )

    async def attempt(
        self, target: Target, method: Method, args: dict[str, Any], message_id: str, deadline: float
    ) -> Any:
        """Call the provider once (twice when its token was refused and refreshed).

        Raises :class:`BreakerOpen` or :class:`LimitReached` without calling,
        :class:`NeedsReauthError` when the credentials are refused, or the provider's
        :class:`ProviderError`.
        """
        integration_id = target.integration.integration_id
        provider = target.integration.provider
        labels = (integration_id, provider, method.name)
        try:
            if target.rate is not None:
                await self.limits.take_rate(integration_id, target.rate)
            admission = await self.breaker.admit(
                integration_id,
                threshold=target.threshold,
                probe_ttl=max(1.0, deadline - time.monotonic()),
            )
        except BreakerOpen:
            self.metrics.count(*labels, "circuit_open")
            self.metrics.breaker(integration_id, BreakerState.OPEN)
            raise
        except LimitReached:
            self.metrics.count(*labels, "rate_limited")
            raise
        slot = None
        if target.concurrency is not None:
            slot = await self.limits.take_slot(
                integration_id, target.concurrency, lease=max(1.0, deadline - time.monotonic()) + 5
            )
        started = time.perf_counter()
        try:
            result = await self._call_refreshing(target, method, args, message_id, deadline)
        except ProviderError as error:
            self.metrics.observe(provider, method.name, time.perf_counter() - started)
            self.metrics.count(*labels, error.outcome)
            await self._failed(target, admission, error)
            if error.outcome == "reauth":
                raise NeedsReauthError(error) from None
            raise
        finally:
            if slot is not None:
                await self.limits.release(slot)
        self.metrics.observe(provider, method.name, time.perf_counter() - started)
        self.metrics.count(*labels, "success")
        if await self.breaker.succeeded(integration_id, admission) is not None:
            self.metrics.breaker(integration_id, BreakerState.CLOSED)
        return result

    async def _call_refreshing(
        self, target: Target, method: Method, args: dict[str, Any], message_id: str, deadline: float
    ) -> Any:
        async def run(ctx: Context) -> Any:
            return await target.connector.call(ctx, method.name, args)

        return await self.refreshing(target, run, message_id, deadline)

    async def refreshing(
        self,
        target: Target,
        run: Callable[[Context], Awaitable[Any]],
        message_id: str,
        deadline: float,
    ) -> Any:
        """``run(ctx)``; when the provider refuses the access token, refresh it and run once
        more. A connector that fails with anything but a :class:`ProviderError` (a bug) is
        reported as a terminal ``connector_error``; request errors (422) pass through."""
        ctx = self.context(target, message_id, deadline)
        try:
            return await _guarded(target, run, ctx)
        except ProviderError as error:
            if error.outcome != "refresh" or ctx.used_token is None:
                if error.outcome == "refresh":
                    error.outcome = "terminal"
                raise
            await self.tokens.invalidate(
                target.integration.integration_id, ctx.used_token, target.key
            )
        try:
            return await _guarded(target, run, self.context(target, message_id, deadline))
        except ProviderError as again:
            if again.outcome == "refresh":
                again.outcome = "terminal"
            raise

    async def _failed(self, target: Target, admission: Any, error: ProviderError) -> None:
        integration_id = target.integration.integration_id
        if error.outcome == "retryable":
            opened = await self.breaker.failed(
                integration_id,
                admission,
                threshold=target.threshold,
                reset_seconds=target.reset_seconds,
            )
            if opened is not None:
                self.metrics.breaker(integration_id, opened)
            return
        if error.outcome == "throttled" and error.retry_after:
            await self.limits.pause(integration_id, min(error.retry_after, 86400.0))
        if await self.breaker.succeeded(integration_id, admission) is not None:
            self.metrics.breaker(integration_id, BreakerState.CLOSED)


async def _guarded(target: Target, run: Callable[[Context], Awaitable[Any]], ctx: Context) -> Any:
    try:
        return await run(ctx)
    except (ProviderError, AppError):
        raise
    except Exception as exc:
        logger.exception(
            "connector failed unexpectedly",
            extra={"metadata": {"provider": target.integration.provider}},
        )
        raise ProviderError(
            f"the {target.integration.provider} connector failed ({type(exc).__name__})",
            code="connector_error",
            outcome="terminal",
        ) from None
