"""Registering, reading, changing and removing integrations, and checking their health."""

from __future__ import annotations

import time
from typing import Any

from aicc.core.errors import Conflict, ValidationFailed
from aicc.core.outgoing import BlockReason, UrlNotAllowed, check_user_url
from aicc.core.tokens import Principal
from aicc.integration import messages, store
from aicc.integration.base import IntegrationBase, validated
from aicc.integration.connectors.base import Connector, ProviderError
from aicc.integration.schemas import IntegrationConfig, IntegrationOptions, IntegrationUpdate
from aicc.integration.store import IntegrationRow
from aicc.integration.vault import masked_config

METRICS_REFRESH_SECONDS = 5.0


class RegistrationMixin(IntegrationBase):
    _metrics_refreshed = float("-inf")

    async def register_integration(
        self, config: IntegrationConfig | dict[str, Any], *, caller: Principal | None = None
    ) -> dict[str, Any]:
        """Register an integration. Registering the same settings again returns the existing
        one; different settings under an existing id are a 409 (change them with PATCH)."""
        await self.ensure_started()
        body = validated(IntegrationConfig, config)
        provider = (
            self.registry.canonical(body.provider)
            if body.provider
            else self.registry.infer(body.endpoint_url, body.integration_id, body.type.value)
        )
        connector = self.registry.get(provider)
        auth_type = self._auth_type(connector, body.auth_type)
        await self._check_settings(connector, auth_type, body.endpoint_url, body.auth_config)
        database = self.resources.database
        async with database.transaction() as conn:
            if await store.exists(conn, body.integration_id):
                existing = await store.fetch(conn, body.integration_id)
                if await self._same(existing, body, provider, auth_type):
                    return await self._view(existing)
                raise Conflict(
                    f"integration {body.integration_id!r} exists with other settings; "
                    "change it with PATCH",
                    code="integration_exists",
                )
            key = await self.vault.create(conn, body.integration_id)
            await store.insert(
                conn,
                {
                    "id": body.integration_id,
                    "name": body.name,
                    "type": body.type.value,
                    "provider": provider,
                    "endpoint_url": body.endpoint_url,
                    "auth_type": auth_type,
                    "auth_sealed": self.vault.seal(
                        key, body.auth_config, f"auth:{body.integration_id}"
                    ),
                    "auth_keys": sorted(body.auth_config),
                    "options": body.options.model_dump(),
                    "created_by": caller.user_id if caller else None,
                },
            )
            row = await store.fetch(conn, body.integration_id)
        self.logger.info(
            "integration registered",
            extra={"metadata": {"integration_id": row.id, "provider": provider}},
        )
        return await self._view(row)

    async def get_integration(self, integration_id: str) -> dict[str, Any]:
        async with self.resources.database.connect() as conn:
            row = await store.fetch(conn, integration_id)
        return await self._view(row)

    async def list_integrations(self) -> list[dict[str, Any]]:
        async with self.resources.database.connect() as conn:
            rows = await store.listing(conn)
        return [await self._view(row) for row in rows]

    async def update_integration(
        self, integration_id: str, changes: IntegrationUpdate | dict[str, Any]
    ) -> dict[str, Any]:
        body = validated(IntegrationUpdate, changes)
        async with self.resources.database.transaction() as conn:
            row = await store.fetch(conn, integration_id)
            connector = self.registry.get(row.provider)
            key = await self.vault.key(integration_id)
            auth_config = self.vault.open(key, row.auth_sealed, f"auth:{integration_id}")
            if body.auth_config is not None:
                auth_config = _merged(auth_config, body.auth_config)
            options = row.options.model_dump()
            if body.options is not None:
                options = _merged(options, body.options)
            checked = validated(IntegrationOptions, options)
            auth_type = self._auth_type(connector, body.auth_type or row.auth_type)
            endpoint_url = body.endpoint_url or row.endpoint_url
            await self._check_settings(connector, auth_type, endpoint_url, auth_config)
            values: dict[str, Any] = {
                "name": body.name or row.name,
                "endpoint_url": endpoint_url,
                "auth_type": auth_type,
                "auth_sealed": self.vault.seal(key, auth_config, f"auth:{integration_id}"),
                "auth_keys": sorted(auth_config),
                "options": checked.model_dump(),
            }
            credentials = bool(body.auth_config is not None or body.auth_type or body.endpoint_url)
            status = row.status
            if credentials:
                values["token_sealed"] = None
                if status == "needs_reauth":
                    status = "active"
            if body.status is not None:
                status = body.status
            if status != row.status:
                values.update(status=status, status_reason=None)
            await store.change(conn, integration_id, **values)
            row = await store.fetch(conn, integration_id)
        if credentials:
            await self.tokens.forget(integration_id)
            await self.caller.breaker.reset(integration_id)
        self.forget_target(integration_id)
        self._reauth_gauge(row)
        return await self._view(row)

    async def delete_integration(self, integration_id: str) -> None:
        """Remove the integration, its message log and events, and destroy its data key
        (everything sealed under it becomes unreadable)."""
        async with self.resources.database.transaction() as conn:
            await store.fetch(conn, integration_id)
            await store.remove(conn, integration_id)
            await self.vault.destroy(conn, integration_id)
        await self.tokens.forget(integration_id)
        await self.caller.breaker.reset(integration_id)
        self.forget_target(integration_id)
        self.integration_metrics.forget(integration_id)

    async def integration_health(self, integration_id: str) -> dict[str, Any]:
        """A cheap authenticated call to the provider."""
        target, row = await self.target(integration_id)
        ctx = self.caller.context(
            target,
            f"health-{time.time_ns()}",
            time.monotonic() + self.settings.integration.sync_timeout,
        )
        started = time.perf_counter()
        out: dict[str, Any] = {"integration_id": integration_id, "provider": row.provider}
        try:
            details = await self.caller.refreshing(
                target, target.connector.health, ctx.message_id, ctx.deadline
            )
        except ProviderError as error:
            if error.outcome == "reauth":
                await self.mark_needs_reauth(integration_id, error.message)
            out.update(
                status="needs_reauth" if error.outcome == "reauth" else "unhealthy",
                error={"code": error.code, "message": error.message, "status": error.status},
            )
        else:
            out.update(status="healthy", details=details)
            if row.status == "needs_reauth":
                await self._set_status(integration_id, "active", None)
        out["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        out["breaker"] = await self._breaker_state(row)
        return out

    async def mark_needs_reauth(self, integration_id: str, reason: str) -> None:
        self.logger.warning(
            "integration credentials refused; it needs re-authorisation",
            extra={"metadata": {"integration_id": integration_id}},
        )
        await self._set_status(integration_id, "needs_reauth", reason[:500])

    async def _set_status(self, integration_id: str, status: str, reason: str | None) -> None:
        async with self.resources.database.transaction() as conn:
            await store.change(conn, integration_id, status=status, status_reason=reason)
        self.forget_target(integration_id)
        self.integration_metrics.needs_reauth.labels(integration_id).set(
            1 if status == "needs_reauth" else 0
        )

    def _reauth_gauge(self, row: IntegrationRow) -> None:
        self.integration_metrics.needs_reauth.labels(row.id).set(
            1 if row.status == "needs_reauth" else 0
        )

    async def _breaker_state(self, row: IntegrationRow) -> str:
        state = await self.caller.breaker.state(row.id, threshold=row.options.breaker_threshold)
        return state.name.lower()

    async def refresh_metrics(self) -> None:
        """Dead letters, re-authorisation and breaker state per integration, from the
        database and the cache, at most every few seconds."""
        clock = time.monotonic()
        if clock - self._metrics_refreshed < METRICS_REFRESH_SECONDS or not self.started:
            return
        self._metrics_refreshed = clock
        async with self.resources.database.connect() as conn:
            rows = await store.listing(conn)
            dead = await messages.dead_counts(conn)
        gauges = self.integration_metrics
        breaker = self.caller.breaker
        for row in rows:
            gauges.dead_letters.labels(row.id).set(dead.get(row.id, 0))
            self._reauth_gauge(row)
            state = await breaker.state(row.id, threshold=row.options.breaker_threshold)
            gauges.breaker(row.id, state)

    def providers(self) -> list[dict[str, Any]]:
        return [cls.describe() for cls in self.registry.classes]

    @staticmethod
    def _auth_type(connector: Connector, requested: str | None) -> str:
        auth_type = requested or connector.auth_types[0]
        if auth_type not in connector.auth_types:
            raise ValidationFailed(
                f"{connector.provider} does not support auth_type {auth_type!r}",
                code="unsupported_auth_type",
                details={"choices": list(connector.auth_types)},
            )
        return auth_type

    async def _check_settings(
        self, connector: Connector, auth_type: str, endpoint_url: str, auth_config: dict[str, Any]
    ) -> None:
        problems = connector.check_config(auth_type, auth_config)
        if problems:
            raise ValidationFailed(
                "; ".join(problems),
                code="invalid_auth_config",
                details=[{"loc": ["auth_config"], "msg": p} for p in problems],
            )
        urls = {"endpoint_url": endpoint_url}
        for key, value in auth_config.items():
            if key.endswith("_url") and isinstance(value, str):
                urls[f"auth_config.{key}"] = value
        for field, url in urls.items():
            try:
                await check_user_url(url, self.settings, field=field)
            except UrlNotAllowed as refused:
                if refused.reason is not BlockReason.UNRESOLVABLE_HOST:
                    raise

    async def _same(
        self, row: IntegrationRow, body: IntegrationConfig, provider: str, auth_type: str
    ) -> bool:
        key = await self.vault.key(row.id)
        stored = self.vault.open(key, row.auth_sealed, f"auth:{row.id}")
        return (row.name, row.type, row.provider, row.endpoint_url, row.auth_type, row.options) == (
            body.name,
            body.type,
            provider,
            body.endpoint_url,
            auth_type,
            body.options,
        ) and stored == body.auth_config

    async def _view(self, row: IntegrationRow) -> dict[str, Any]:
        connector = self.registry.get(row.provider)
        key = await self.vault.key(row.id)
        auth_config = self.vault.open(key, row.auth_sealed, f"auth:{row.id}")
        return {
            "integration_id": row.id,
            "name": row.name,
            "type": row.type.value,
            "provider": row.provider,
            "endpoint_url": row.endpoint_url,
            "auth_type": row.auth_type,
            "auth_config": masked_config(auth_config, connector.secret_keys),
            "options": row.options.model_dump(),
            "status": row.status,
            "status_reason": row.status_reason,
            "breaker": await self._breaker_state(row),
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }


def _merged(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
