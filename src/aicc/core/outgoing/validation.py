"""Checking a URL when a user submits it, so a bad one is refused with a clear 422."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import anyio
import httpx2

from aicc.core.config import Settings
from aicc.core.outgoing.addresses import (
    AmbiguousNumericHost,
    BlockReason,
    DestinationPolicy,
    parse_ip_literal,
)
from aicc.core.outgoing.backend import HostResolver, SystemResolver, resolve_and_vet
from aicc.core.outgoing.refusals import BlockedDestination, UrlNotAllowed
from aicc.core.outgoing.transport import ALLOWED_SCHEMES

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(
    r"(?=.{1,253}\.?$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
    r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.?"
)


async def check_user_url(
    url: str,
    settings: Settings,
    *,
    resolver: HostResolver | None = None,
    field: str | None = None,
) -> None:
    """Raise :class:`UrlNotAllowed` unless ``url`` may be stored as a destination.

    Checks the scheme, the host's syntax (every numeric IPv4 spelling included) and every
    address the host resolves to now. Requests are checked again at connection time, so a
    name that later resolves elsewhere is still refused then. ``field`` names the request
    field in the error details.
    """
    try:
        await _check(url, settings, resolver or SystemResolver())
    except BlockedDestination as exc:
        raise UrlNotAllowed(exc.reason, field=field) from None


async def _check(url: str, settings: Settings, resolver: HostResolver) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:
        raise BlockedDestination(BlockReason.INVALID_HOST) from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise BlockedDestination(BlockReason.SCHEME_NOT_ALLOWED)
    policy = DestinationPolicy.from_settings(settings)
    try:
        parsed = httpx2.URL(url)
    except httpx2.InvalidURL:
        _refuse_numeric_spelling(parts.hostname or "", policy)
        raise BlockedDestination(BlockReason.INVALID_HOST) from None
    host = parsed.raw_host.decode("ascii")
    try:
        literal = parse_ip_literal(host)
    except AmbiguousNumericHost:
        raise BlockedDestination(BlockReason.INVALID_HOST) from None
    if literal is None and not _HOST_NAME.fullmatch(host):
        raise BlockedDestination(BlockReason.INVALID_HOST)
    port = parsed.port or _DEFAULT_PORTS[scheme]
    try:
        with anyio.fail_after(settings.http.connect_timeout):
            await resolve_and_vet(host, port, policy, resolver)
    except (OSError, TimeoutError):
        raise BlockedDestination(BlockReason.UNRESOLVABLE_HOST) from None


def _refuse_numeric_spelling(host: str, policy: DestinationPolicy) -> None:
    """Name the real reason for a numeric host httpx2 will not parse (``0251.0376.0251.0376``)."""
    try:
        address = parse_ip_literal(host)
    except AmbiguousNumericHost:
        return
    reason = policy.refusal(address) if address is not None else None
    if reason is not None:
        raise BlockedDestination(reason)
