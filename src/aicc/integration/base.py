"""State and helpers every part of the integration facade shares.

The facade ``IntegrationService`` is assembled from mixins (registration, delivery,
webhooks), all built on this base.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from aicc.core.errors import Conflict, ValidationFailed
from aicc.core.group_commit import GroupCommit
from aicc.core.service import Backend, ServiceBase
from aicc.integration import messages
from aicc.integration.breaker import Breaker
from aicc.integration.calls import Caller, Target
from aicc.integration.connectors.base import Integration
from aicc.integration.connectors.registry import Registry
from aicc.integration.errors import NeedsReauth
from aicc.integration.limits import Limits
from aicc.integration.metrics import IntegrationMetrics
from aicc.integration.store import IntegrationRow, fetch
from aicc.integration.tokens import TokenStore
from aicc.integration.vault import Vault

M = TypeVar("M", bound=BaseModel)
LOG_GATHER_SECONDS = 0.05
"""SYNC log entries wait this long to share a transaction (nothing waits on them)."""
TARGET_TTL = 2.0
"""How long a replica reuses an integration's decrypted settings before reading them again
(a change made through another replica applies within this time)."""


def validated(model: type[M], values: Any) -> M:
    """Check Python-API arguments with the model the HTTP API uses (422 naming fields)."""
    if isinstance(values, model):
        return values
    if isinstance(values, BaseModel):
        values = values.model_dump()
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        raise ValidationFailed("Invalid integration parameters", details=details) from None


class IntegrationBase(ServiceBase):
    """CRM, ERP, payment, notification and social connectors with OAuth2, retries, circuit
    breakers and durable delivery."""

    name = "integration"
    title = "AICC Integration"
    backends: ClassVar[tuple[Backend, ...]] = ("database", "cache")

    _caller: Caller | None = None
    _vault: Vault | None = None
    _tokens: TokenStore | None = None
    _registry: Registry | None = None
    _integration_metrics: IntegrationMetrics | None = None
    _message_log: GroupCommit[dict[str, Any]] | None = None
    _outbox: GroupCommit[Any] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._targets: dict[str, tuple[float, int, Target, IntegrationRow]] = {}

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry()
        return self._registry

    @property
    def vault(self) -> Vault:
        return self.require_started(self._vault)

    @property
    def tokens(self) -> TokenStore:
        return self.require_started(self._tokens)

    @property
    def message_log(self) -> GroupCommit[dict[str, Any]]:
        """Log entries of SYNC calls made without a message id, written in batches after the
        answer (nothing waits on them; they land within milliseconds)."""
        return self.require_started(self._message_log)

    @property
    def outbox(self) -> GroupCommit[Any]:
        """ASYNC messages and their jobs, committed together in batches (each sender waits
        for its commit; under load many share one transaction)."""
        return self.require_started(self._outbox)

    @property
    def caller(self) -> Caller:
        return self.require_started(self._caller)

    @property
    def integration_metrics(self) -> IntegrationMetrics:
        if self._integration_metrics is None:
            self._integration_metrics = IntegrationMetrics(self.metrics.registry)
        return self._integration_metrics

    async def on_start(self) -> None:
        resources = self.resources
        self._vault = Vault(resources.data_keys)
        self._tokens = TokenStore(
            resources.cache, resources.database, self._vault, self.settings.integration.token_margin
        )
        self._caller = Caller(
            http=self.user_http,
            aws=resources.aws,
            tokens=self._tokens,
            breaker=Breaker(resources.cache),
            limits=Limits(resources.cache),
            metrics=self.integration_metrics,
        )
        self._message_log = GroupCommit(
            resources.database,
            messages.claim_many,
            name="integration-message-log",
            gather=LOG_GATHER_SECONDS,
        )
        self._message_log.start()

    async def on_stop(self) -> None:
        for writer in (self._outbox, self._message_log):
            if writer is not None:
                await writer.stop()
        self._outbox = self._message_log = None
        self._targets.clear()
        self._caller = self._tokens = self._vault = None

    def forget_target(self, integration_id: str) -> None:
        self._targets.pop(integration_id, None)

    async def target(self, integration_id: str) -> tuple[Target, IntegrationRow]:
        """An integration ready to call (decrypted settings reused for a moment)."""
        cached = self._targets.get(integration_id)
        clock = time.monotonic()
        if cached is not None and clock - cached[0] < TARGET_TTL:
            return cached[2], cached[3]
        async with self.resources.database.connect() as conn:
            row = await fetch(conn, integration_id)
        if cached is not None and cached[1] == row.version:
            self._targets[integration_id] = (clock, row.version, cached[2], row)
            return cached[2], row
        target = await self._build_target(row)
        if len(self._targets) > 10000:
            self._targets.clear()
        self._targets[integration_id] = (clock, row.version, target, row)
        return target, row

    async def _build_target(self, row: IntegrationRow) -> Target:
        key = await self.vault.key(row.id)
        auth_config = self.vault.open(key, row.auth_sealed, f"auth:{row.id}")
        options = row.options
        integration = Integration(
            integration_id=row.id,
            name=row.name,
            type=row.type,
            provider=row.provider,
            endpoint_url=row.endpoint_url,
            auth_type=row.auth_type,
            auth_config=auth_config,
            options=options.model_dump(),
        )
        return Target(
            integration=integration,
            connector=self.registry.get(row.provider),
            key=key,
            threshold=options.breaker_threshold,
            reset_seconds=options.breaker_reset_seconds,
            rate=options.rate_limit_per_second,
            concurrency=options.max_concurrency,
        )

    @staticmethod
    def check_usable(row: IntegrationRow) -> None:
        if row.status == "needs_reauth":
            raise NeedsReauth(
                f"integration {row.id!r} needs new credentials: {row.status_reason or ''}".strip(),
                details={"integration_id": row.id, "reason": row.status_reason},
            )
        if row.status == "disabled":
            raise Conflict(f"integration {row.id!r} is disabled", code="integration_disabled")
