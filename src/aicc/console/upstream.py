"""The four services as the console reaches them: one HTTP client each, built at start.

Every call carries the browser's address (``X-Forwarded-For``, believed by a service that
lists the console in ``AICC_TRUSTED_PROXIES``), its user agent (the auth service's session
list and audit log show it) and the request id, so one action can be followed through the
logs of the console and the service.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import httpx2

from aicc.console.errors import ServiceDown
from aicc.core.config import SERVICE_NAMES, ServiceName, Settings
from aicc.core.logging import request_id_var
from aicc.core.outgoing import build_internal_client


@dataclass(frozen=True)
class Caller:
    """Where the browser's request came from, forwarded to the services."""

    address: str | None = None
    user_agent: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.address:
            headers["X-Forwarded-For"] = self.address
        if self.user_agent:
            headers["User-Agent"] = self.user_agent[:512]
        request_id = request_id_var.get()
        if request_id:
            headers["X-Request-ID"] = request_id
        return headers


class Upstreams:
    def __init__(self, clients: dict[ServiceName, httpx2.AsyncClient]) -> None:
        self._clients = clients

    @classmethod
    def open(cls, settings: Settings) -> Upstreams:
        return cls(
            {
                name: build_internal_client(settings, base_url=settings.service_url(name))
                for name in SERVICE_NAMES
            }
        )

    def client(self, service: ServiceName) -> httpx2.AsyncClient:
        return self._clients[service]

    def base_url(self, service: ServiceName) -> str:
        return str(self._clients[service].base_url).rstrip("/")

    async def send(
        self,
        service: ServiceName,
        method: str,
        path: str,
        *,
        caller: Caller,
        token: str | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        passthrough: Collection[int] = (),
    ) -> httpx2.Response:
        """The service's answer (any status but 5xx); a 5xx or no answer is
        :class:`ServiceDown`, except the 5xx statuses in ``passthrough`` (a provider's failure
        the integration service reports as 502/503/504 is an answer to show)."""
        headers = caller.headers()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = timeout
        try:
            response = await self._clients[service].request(
                method,
                path,
                headers=headers,
                json=json,
                params={k: v for k, v in (params or {}).items() if v not in (None, "")},
                **extra,
            )
        except httpx2.HTTPError as exc:
            raise ServiceDown(service, type(exc).__name__) from None
        if response.status_code >= 500 and response.status_code not in passthrough:
            raise ServiceDown(service, f"HTTP {response.status_code}")
        return response

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


def error_of(response: httpx2.Response) -> tuple[str, str, Any]:
    """The common error shape's code, message and details (or what can be made of a body
    that is not in it)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return f"http_{response.status_code}", response.reason_phrase, None
    return (
        str(error.get("code") or f"http_{response.status_code}"),
        str(error.get("message") or ""),
        error.get("details"),
    )
