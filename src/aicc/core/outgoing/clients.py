"""The two kinds of outgoing HTTP client every service builds from ``settings.http``."""

from __future__ import annotations

import ssl
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpcore2
import httpx2

from aicc.core.config import Settings
from aicc.core.outgoing.addresses import DestinationPolicy
from aicc.core.outgoing.backend import GuardedNetworkBackend, HostResolver
from aicc.core.outgoing.transport import PoolTransport

USER_URL_MAX_REDIRECTS = 5


def outgoing_timeout(settings: Settings) -> httpx2.Timeout:
    """Connect timeout as configured; read, write and pool waits bounded by the read timeout."""
    http = settings.http
    return httpx2.Timeout(http.read_timeout, connect=http.connect_timeout)


def outgoing_limits(settings: Settings) -> httpx2.Limits:
    return httpx2.Limits(
        max_connections=settings.http.max_connections,
        max_keepalive_connections=settings.http.max_keepalive_connections,
    )


def build_internal_client(
    settings: Settings,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    verify: ssl.SSLContext | None = None,
    base_url: str = "",
    headers: dict[str, str] | None = None,
) -> httpx2.AsyncClient:
    """A client for our own services and operator-configured endpoints; not guarded.

    For the auth service's JWKS (``AICC_AUTH_URL``), service-to-service calls and endpoints
    an operator configures (SSO issuers). Never give it a URL a user supplied. It honours
    ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` and ``SSL_CERT_FILE``/
    ``SSL_CERT_DIR`` like any HTTP client; ``transport`` (tests: ``httpx2.ASGITransport``,
    ``httpx2.MockTransport``) replaces the network and with it the proxies.
    """
    return httpx2.AsyncClient(
        timeout=outgoing_timeout(settings),
        limits=outgoing_limits(settings),
        http2=settings.http.http2,
        verify=verify if verify is not None else True,
        transport=transport,
        base_url=base_url,
        headers=headers,
        trust_env=True,
    )


def build_user_url_client(
    settings: Settings,
    *,
    network_backend: httpcore2.AsyncNetworkBackend | None = None,
    resolver: HostResolver | None = None,
    verify: ssl.SSLContext | None = None,
    follow_redirects: bool = False,
    headers: dict[str, str] | None = None,
) -> httpx2.AsyncClient:
    """A client for URLs users supply (integration endpoints, token URLs, webhooks, callbacks).

    Every connection, including each redirect hop, resolves the host, refuses it with
    :class:`~aicc.core.outgoing.BlockedDestination` when any address it resolves to is not
    allowed by :meth:`DestinationPolicy.from_settings`, and connects to a vetted address.
    Only ``http``/``https``; no proxy (environment proxies are ignored: a proxy would
    connect on our behalf where the guard cannot see); CA bundles from ``SSL_CERT_FILE``/
    ``SSL_CERT_DIR`` are still honoured. Cookies are never kept: the client is shared by
    every integration, so one's session cookie must not ride along with another's requests
    (a connector that needs a session sends its cookies itself). ``network_backend`` and
    ``resolver`` replace the socket layer and DNS for tests; the guard stays in front of them.
    """
    backend = GuardedNetworkBackend(
        DestinationPolicy.from_settings(settings), inner=network_backend, resolver=resolver
    )
    transport = PoolTransport(
        backend,
        ssl_context=verify if verify is not None else httpx2.create_ssl_context(),
        limits=outgoing_limits(settings),
        http2=settings.http.http2,
    )
    client = httpx2.AsyncClient(
        timeout=outgoing_timeout(settings),
        transport=transport,
        follow_redirects=follow_redirects,
        max_redirects=USER_URL_MAX_REDIRECTS,
        headers=headers,
        trust_env=False,
    )
    client.cookies = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
    return client
